import { mkdirSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import AxeBuilder from '@axe-core/playwright';
import { test as base, expect, type Page } from '@playwright/test';
import { totp } from './totp';

export { totp };

export const BASE = process.env.CLINIC_BASE_URL ?? 'http://127.0.0.1:3000';
export const STAFF = {
  email: process.env.CLINIC_STAFF_EMAIL ?? 'staff@clinic.local',
  password: process.env.CLINIC_STAFF_PASSWORD ?? 'Clinic0Staff',
  /**
   * The staff account's authenticator secret: the runner sets the authenticator up at start and
   * prints it (`staff authenticator secret: …`); scripts/portal-test passes it on.
   */
  get secret(): string {
    const secret = process.env.CLINIC_STAFF_TOTP_SECRET;
    if (!secret) {
      throw new Error(
        'CLINIC_STAFF_TOTP_SECRET is not set: run the tests with scripts/portal-test, or set it to the ' +
          '"staff authenticator secret" that the runner (scripts/run) printed',
      );
    }
    return secret;
  },
};
export const SCREENSHOTS = join(import.meta.dirname, '..', 'test-results', 'screenshots');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/**
 * The tests' `test`: fails a test whose page broke the Content-Security-Policy (the portal must
 * work with no inline script or style, as CloudFront and the runner serve it).
 */
export const test = base.extend<{ cspGuard: void }>({
  cspGuard: [
    async ({ page }, use) => {
      const violations: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) violations.push(message.text());
      });
      await use();
      expect(violations, 'Content-Security-Policy violations').toEqual([]);
    },
    { auto: true },
  ],
});

const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

/** A CPF with valid check digits. */
export function cpf(): string {
  const digits = Array.from({ length: 9 }, () => Math.floor(Math.random() * 10));
  if (digits.every((d) => d === digits[0])) digits[0] = (digits[0]! + 1) % 10;
  for (const len of [9, 10]) {
    const sum = digits.slice(0, len).reduce((acc, d, i) => acc + d * (len + 1 - i), 0);
    const check = (sum * 10) % 11;
    digits.push(check === 10 ? 0 : check);
  }
  return digits.join('');
}

export interface Person {
  name: string;
  email: string;
  password: string;
  cpf: string;
  phone: string;
  birthDate: string;
}

export function newPatient(): Person {
  const id = unique();
  return {
    name: `Ana Teste ${id}`,
    email: `ana.${id}@example.com`,
    password: 'Passw0rdOk',
    cpf: cpf(),
    phone: `+55119${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`,
    birthDate: '1990-04-12',
  };
}

// ---- the API, for the steps a test does not exercise through the browser ----

async function call(method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
  return json;
}

export const api = {
  post: (path: string, body: unknown, token?: string, headers?: Record<string, string>) => call('POST', path, body, token, headers),
  get: (path: string, token?: string) => call('GET', path, undefined, token),
  put: (path: string, body: unknown, token?: string) => call('PUT', path, body, token),
};

/**
 * An access token through the API, answering the second factor with a code computed from the
 * authenticator `secret` (staff and doctors).
 */
export async function token(email: string, password: string, secret?: string): Promise<string> {
  const answer = await api.post('/v1/auth/token', { username: email, password });
  if (!answer.challenge) return answer.accessToken as string;
  if (answer.challenge === 'NEW_PASSWORD_REQUIRED') throw new Error(`${email} must choose a password first`);
  const key = answer.challenge === 'MFA_SETUP' ? (answer.secretCode as string) : secret;
  if (!key) throw new Error(`${email} must answer ${answer.challenge} and no authenticator secret was given`);
  const tokens = await api.post('/v1/auth/mfa', { username: email, session: answer.session, code: totp(key) });
  return tokens.accessToken as string;
}

let staffCache: { token: string; until: number } | null = null;

/** The staff account's access token (one sign-in per test worker while it is fresh). */
export async function staffToken(): Promise<string> {
  if (staffCache && staffCache.until > Date.now()) return staffCache.token;
  const value = await token(STAFF.email, STAFF.password, STAFF.secret);
  staffCache = { token: value, until: Date.now() + 20 * 60_000 };
  return value;
}

/** A confirmed patient account, made through the API. */
export async function patientAccount(): Promise<Person & { token: string; id: string }> {
  const p = newPatient();
  await api.post('/v1/accounts/patients', {
    email: p.email,
    password: p.password,
    name: p.name,
    cpf: p.cpf,
    birthDate: p.birthDate,
    phone: p.phone,
  });
  await api.post('/v1/accounts/confirm', { email: p.email, code: '123456', password: p.password });
  const t = await token(p.email, p.password);
  const me = await api.get('/v1/me', t);
  return { ...p, token: t, id: me.id };
}

/** A doctor registered by staff with a temporary password (first sign-in asks for a new one). */
export async function doctorAccount(): Promise<{ id: string; email: string; temporaryPassword: string; name: string; crm: string }> {
  const id = unique();
  const doctor = {
    email: `dr.${id}@example.com`,
    name: `Dr. Teste ${id}`,
    crm: String(100000 + Math.floor(Math.random() * 899999)),
    uf: 'SP',
    specialty: 'Clínica geral',
    temporaryPassword: 'Temp0rary1',
  };
  const created = await api.post('/v1/doctors', doctor, await staffToken());
  return { id: created.id, email: doctor.email, temporaryPassword: doctor.temporaryPassword, name: doctor.name, crm: doctor.crm };
}

/** A doctor who already chose a password and set an authenticator up (its `secret`). */
export async function activeDoctor(): Promise<{ id: string; email: string; password: string; name: string; secret: string }> {
  const d = await doctorAccount();
  const challenge = await api.post('/v1/auth/token', { username: d.email, password: d.temporaryPassword });
  const password = 'Doct0rPass';
  const setup = await api.post('/v1/auth/new-password', { username: d.email, session: challenge.session, newPassword: password });
  if (setup.challenge !== 'MFA_SETUP') throw new Error(`a new doctor should set an authenticator up, got ${JSON.stringify(setup)}`);
  await api.post('/v1/auth/mfa', { username: d.email, session: setup.session, code: totp(setup.secretCode) });
  return { id: d.id, email: d.email, password, name: d.name, secret: setup.secretCode as string };
}

export async function demoHospital(t: string): Promise<{ id: string; name: string; examTypes: string[] }> {
  const list = await api.get('/v1/hospitals?limit=200', t);
  const hospital = list.items.find((h: { examTypes: string[] }) => h.examTypes.includes('hemograma'));
  if (!hospital) throw new Error('no demo hospital: start the system with --demo');
  return hospital;
}

/** Publishes one slot a few days ahead (unique minute) and returns it. */
export async function freshSlot(examType = 'hemograma', capacity = 3): Promise<{ id: string; hospitalId: string; start: string }> {
  const t = await staffToken();
  const hospital = await demoHospital(t);
  const start = new Date(Date.now() + (2 + Math.floor(Math.random() * 20)) * 86_400_000);
  start.setUTCHours(11, Math.floor(Math.random() * 59), 0, 0);
  const end = new Date(start.getTime() + 15 * 60_000);
  const published = await api.put(
    `/v1/hospitals/${hospital.id}/slots`,
    [{ examType, start: start.toISOString(), end: end.toISOString(), capacity }],
    t,
  );
  return { id: published.items[0].id, hospitalId: hospital.id, start: published.items[0].start };
}

/** A booked exam of the patient, assigned to the doctor (staff does it through the API). */
export async function assignedExam(patientToken: string, doctorId: string): Promise<string> {
  const slot = await freshSlot();
  const booked = await api.post('/v1/appointments', { slotId: slot.id }, patientToken, { 'Idempotency-Key': crypto.randomUUID() });
  await api.post(`/v1/exams/${booked.examId}/assign`, { doctorId }, await staffToken());
  return booked.examId as string;
}

/**
 * A "PDF bomb": a valid-looking PDF whose object stream inflates from a few kilobytes to
 * `inflated` bytes (the upload checks refuse it as PDF_TOO_COMPLEX).
 */
export function pdfBomb(inflated = 40 * 1024 * 1024): Buffer {
  const content = Buffer.alloc(inflated + 6, 'A');
  content.write('5 0 (', 0, 'latin1');
  content.write(')', inflated + 5, 'latin1');
  const stream = deflateSync(content, { level: 9 });
  const bodies: Buffer[] = [
    Buffer.from('<< /Type /Catalog /Pages 2 0 R >>', 'latin1'),
    Buffer.from('<< /Type /Pages /Kids [3 0 R] /Count 1 >>', 'latin1'),
    Buffer.from('<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>', 'latin1'),
    Buffer.concat([
      Buffer.from(`<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length ${stream.length} >>\nstream\n`, 'latin1'),
      stream,
      Buffer.from('\nendstream', 'latin1'),
    ]),
  ];
  const parts: Buffer[] = [Buffer.from('%PDF-1.5\n', 'latin1')];
  let length = parts[0]!.length;
  const offsets: number[] = [];
  bodies.forEach((body, i) => {
    offsets.push(length);
    const chunk = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`, 'latin1'), body, Buffer.from('\nendobj\n', 'latin1')]);
    parts.push(chunk);
    length += chunk.length;
  });
  let tail = `xref\n0 ${bodies.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) tail += `${String(offset).padStart(10, '0')} 00000 n \n`;
  tail += `trailer\n<< /Size ${bodies.length + 1} /Root 1 0 R >>\nstartxref\n${length}\n%%EOF\n`;
  parts.push(Buffer.from(tail, 'latin1'));
  return Buffer.concat(parts);
}

/** A small, valid one-page PDF (the upload checks parse it). */
export function pdf(text: string): Buffer {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    (() => {
      const stream = `BT /F1 18 Tf 72 760 Td (${text.replace(/[()\\]/g, '')}) Tj ET`;
      return `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
    })(),
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out);
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

// ---- the browser ----

/**
 * Signs in through the sign-in page (the page must be on it or be sent to it); staff and doctors
 * answer the authenticator step with a code computed from their `secret`.
 */
export async function signIn(page: Page, email: string, password: string, secret?: string): Promise<void> {
  if (!new URL(page.url()).pathname.startsWith('/sign-in')) await page.goto('/sign-in');
  await page.getByLabel(/^(E-mail)/).fill(email);
  await page.getByLabel(/^(Senha|Password)/).fill(password);
  await page.getByRole('button', { name: /^(Entrar|Sign in)$/ }).click();
  if (secret) await answerCode(page, secret);
  await expect(page.getByRole('button', { name: /^(Sair|Sign out)$/ })).toBeVisible();
}

/** Answers the authenticator step of the sign-in page with the current code of `secret`. */
export async function answerCode(page: Page, secret: string): Promise<void> {
  await page.getByLabel(/^(Código do autenticador|Authenticator code)/).fill(totp(secret));
  await page.getByRole('button', { name: /^(Verificar e entrar|Verify and sign in|Confirmar e entrar|Confirm and sign in)$/ }).click();
}

/** The setup key shown on the authenticator setup page, without the spaces that group it. */
export async function shownSecret(page: Page): Promise<string> {
  return ((await page.locator('#mfa-secret').textContent()) ?? '').replace(/\s/g, '');
}

/** No serious or critical axe-core violation on the page as it is now. */
export async function expectAccessible(page: Page, name: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const summary = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(summary, `axe on ${name}`).toEqual([]);
}

/** Screenshots of the page at desktop and phone size (the viewport is restored after). */
export async function screenshots(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const before = page.viewportSize() ?? DESKTOP;
  for (const [label, size] of [
    ['1280x800', DESKTOP],
    ['390x844', PHONE],
  ] as const) {
    await page.setViewportSize(size);
    await page.evaluate(() => document.fonts.ready);
    const file = join(SCREENSHOTS, `${name}-${label}.png`);
    await page.screenshot({ path: file, fullPage: false });
    appendFileSync(join(SCREENSHOTS, 'index.txt'), `${file}\n`);
  }
  await page.setViewportSize(before);
}

/** The page is done loading: no spinner left. */
export async function settled(page: Page): Promise<void> {
  await expect(page.locator('.loading')).toHaveCount(0);
}

/** A page as people see it: loaded, no serious axe violation at desktop and phone size, screenshots. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await settled(page);
  await expectAccessible(page, `${name} (1280x800)`);
  await page.setViewportSize(PHONE);
  await expectAccessible(page, `${name} (390x844)`);
  await page.setViewportSize(DESKTOP);
  await screenshots(page, name);
}

/** Goes to a page through the menu (a full page load would end the in-memory session). */
export async function openMenu(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation').getByRole('link', { name, exact: true }).click();
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
}
