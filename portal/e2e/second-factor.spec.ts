import qrcode from 'qrcode-generator';
import { expect, type Page } from '@playwright/test';
import {
  STAFF,
  answerCode,
  checkPage,
  doctorAccount,
  expectAccessible,
  patientAccount,
  shownSecret,
  signIn,
  test,
  totp,
} from './support';

/** Fills the sign-in form and sends it. */
async function credentials(page: Page, email: string, password: string): Promise<void> {
  if (!new URL(page.url()).pathname.startsWith('/sign-in')) await page.goto('/sign-in');
  await page.getByLabel('E-mail', { exact: true }).fill(email);
  await page.getByLabel('Senha', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Entrar', exact: true }).click();
}

/** The dark modules of the page's QR code, read back from its SVG path. */
async function drawnModules(page: Page): Promise<{ side: number; dark: Set<string> }> {
  const svg = page.locator('svg.qr');
  const viewBox = (await svg.getAttribute('viewBox')) ?? '';
  const d = (await svg.locator('path').getAttribute('d')) ?? '';
  const dark = new Set<string>();
  for (const [, x, y, w] of d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)) {
    for (let i = 0; i < Number(w); i += 1) dark.add(`${Number(x) + i},${y}`);
  }
  return { side: Number(viewBox.split(' ')[2]), dark };
}

test('second factor: staff answer the authenticator code; a wrong code is asked again on the same sign-in', async ({ page }) => {
  const sent: { session: string; code: string }[] = [];
  page.on('request', (request) => {
    if (request.url().endsWith('/v1/auth/mfa')) sent.push(request.postDataJSON());
  });
  await credentials(page, STAFF.email, STAFF.password);
  const heading = page.getByRole('heading', { level: 1, name: 'Digite o código do autenticador' });
  await expect(heading).toBeVisible();
  await expect(heading).toBeFocused();
  await expect(page).toHaveTitle('Digite o código do autenticador · Clinic');
  await checkPage(page, '06-mfa-code');

  await test.step('a malformed code is caught before sending', async () => {
    await page.getByLabel('Código do autenticador', { exact: true }).fill('12a4');
    await page.getByRole('button', { name: 'Verificar e entrar' }).click();
    await expect(page.getByText('Digite os 6 dígitos que o aplicativo mostra (só números).')).toBeVisible();
    await expect(page.getByLabel('Código do autenticador', { exact: true })).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByLabel('Código do autenticador', { exact: true })).toBeFocused();
    expect(sent).toHaveLength(0);
  });

  await test.step('a wrong code (INVALID_MFA_CODE) is said in words and can be typed again', async () => {
    // The emulator accepts any 6-digit code; the refusal is the API's answer to a wrong one.
    await page.route('**/v1/auth/mfa', (route) =>
      route.fulfill({
        status: 400,
        contentType: 'application/problem+json',
        body: JSON.stringify({ status: 400, code: 'INVALID_MFA_CODE', detail: 'The authenticator code is wrong or has expired; enter the current one.' }),
      }),
    );
    await page.getByLabel('Código do autenticador', { exact: true }).fill('000000');
    await page.getByRole('button', { name: 'Verificar e entrar' }).click();
    await expect(page.getByText('Este código está errado ou já mudou. Digite o código que o aplicativo mostra agora.')).toBeVisible();
    await expect(page.getByLabel('Código do autenticador', { exact: true })).toHaveValue('');
    await expect(page.getByLabel('Código do autenticador', { exact: true })).toBeFocused();
    await expectAccessible(page, 'authenticator code refused');
    await page.unroute('**/v1/auth/mfa');
  });

  await test.step('the current code (typed as the app groups it) signs in', async () => {
    const code = totp(STAFF.secret);
    await page.getByLabel('Código do autenticador', { exact: true }).fill(`${code.slice(0, 3)} ${code.slice(3)}`);
    await page.getByRole('button', { name: 'Verificar e entrar' }).click();
    await expect(page).toHaveURL(/\/staff$/);
    await expect(page.getByRole('button', { name: 'Sair' })).toBeVisible();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.session).toBe(sent[0]!.session);
    expect(sent[1]!.code).toMatch(/^\d{6}$/);
  });
});

test('second factor: an expired sign-in session (INVALID_SESSION) starts the sign-in again', async ({ page }) => {
  await credentials(page, STAFF.email, STAFF.password);
  await expect(page.getByRole('heading', { level: 1, name: 'Digite o código do autenticador' })).toBeVisible();
  await page.route('**/v1/auth/mfa', (route) =>
    route.fulfill({
      status: 401,
      contentType: 'application/problem+json',
      body: JSON.stringify({ status: 401, code: 'INVALID_SESSION', detail: 'The sign-in session is invalid or has expired; sign in again.' }),
    }),
  );
  await answerCode(page, STAFF.secret);
  await expect(page.getByRole('heading', { level: 1, name: 'Entrar' })).toBeVisible();
  await expect(page.getByText('A entrada demorou demais ou foi interrompida. Entre de novo desde o início.')).toBeVisible();
  await expect(page.getByLabel('E-mail', { exact: true })).toHaveValue(STAFF.email);
  await expect(page.getByLabel('Senha', { exact: true })).toHaveValue('');
  await page.unroute('**/v1/auth/mfa');
  await signIn(page, STAFF.email, STAFF.password, STAFF.secret);
  await expect(page).toHaveURL(/\/staff$/);
});

test('second factor: a new doctor sets the authenticator up (QR code and key), later sign-ins ask for its code', async ({ page, context }) => {
  test.setTimeout(150_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const doctor = await doctorAccount();
  let otpauthUri = '';
  page.on('response', async (response) => {
    if (response.url().endsWith('/v1/auth/new-password') && response.ok()) otpauthUri = (await response.json()).otpauthUri ?? '';
  });
  await credentials(page, doctor.email, doctor.temporaryPassword);
  await expect(page.getByRole('heading', { name: 'Escolha sua senha' })).toBeVisible();
  await page.getByLabel(/^Nova senha/).fill('Doct0rPass');
  await page.getByRole('button', { name: 'Salvar senha e entrar' }).click();

  const heading = page.getByRole('heading', { level: 1, name: 'Configure seu aplicativo autenticador' });
  await expect(heading).toBeVisible();
  await expect(heading).toBeFocused();
  const secret = await shownSecret(page);

  await test.step('the QR code carries the otpauth URI of the shown key; the key can be copied', async () => {
    // Base32 (the emulator hands out a short lower-case one; Cognito 32 upper-case characters).
    expect(secret).toMatch(/^[A-Za-z2-7]{8,}=*$/);
    await expect.poll(() => otpauthUri).toContain(`secret=${secret}`);
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/Clinic:.+\?secret=[A-Za-z2-7]+=*&issuer=Clinic&algorithm=SHA1&digits=6&period=30$/);
    await expect(page.getByRole('img', { name: `QR code que adiciona a conta Clinic ${doctor.email} a um aplicativo autenticador` })).toBeVisible();
    const qr = qrcode(0, 'M');
    qr.addData(otpauthUri, 'Byte');
    qr.make();
    const n = qr.getModuleCount();
    const want = new Set<string>();
    for (let y = 0; y < n; y += 1) for (let x = 0; x < n; x += 1) if (qr.isDark(y, x)) want.add(`${x + 4},${y + 4}`);
    const drawn = await drawnModules(page);
    expect(drawn.side).toBe(n + 8);
    expect([...drawn.dark].sort()).toEqual([...want].sort());
    await page.getByRole('button', { name: 'Copiar a chave de configuração' }).click();
    await expect(page.getByText('Copiado.')).toBeVisible();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await expect(page.getByText(/Guarde esta chave só para você/)).toBeVisible();
  });

  await test.step('the setup page is accessible, at desktop and phone size, in both languages', async () => {
    await checkPage(page, '05-mfa-setup');
    await page.getByRole('button', { name: 'Switch to English' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Set up your authenticator app' })).toBeVisible();
    await expect(page.getByText(/clinic staff and doctors sign in with their password and a code from an authenticator app/)).toBeVisible();
    await expect(page.getByRole('img', { name: `QR code that adds the Clinic account ${doctor.email} to an authenticator app` })).toBeVisible();
    await expectAccessible(page, 'authenticator setup in English');
    await page.getByRole('button', { name: 'Mudar para português' }).click();
  });

  await test.step('the first code from the app finishes the setup and the sign-in', async () => {
    await page.getByLabel('Código do autenticador', { exact: true }).fill(totp(secret));
    await page.getByRole('button', { name: 'Confirmar e entrar' }).click();
    await expect(page).toHaveURL(/\/doctor$/);
    await expect(page.locator('#mfa-secret')).toHaveCount(0);
  });

  await test.step('signing in again asks for the authenticator code, not a new setup', async () => {
    await page.getByRole('button', { name: 'Sair' }).click();
    await expect(page).toHaveURL(/\/sign-in$/);
    await credentials(page, doctor.email, 'Doct0rPass');
    await expect(page.getByRole('heading', { level: 1, name: 'Digite o código do autenticador' })).toBeVisible();
    await expect(page.locator('#mfa-secret')).toHaveCount(0);
    await answerCode(page, secret);
    await expect(page).toHaveURL(/\/doctor$/);
  });
});

test('second factor: patients never get it', async ({ page }) => {
  const patient = await patientAccount();
  await credentials(page, patient.email, patient.password);
  await expect(page.getByRole('heading', { level: 1, name: 'Meus exames' })).toBeVisible();
});

test('an account erased elsewhere (ACCOUNT_ERASED) is signed out, and told why', async ({ page }) => {
  const patient = await patientAccount();
  await signIn(page, patient.email, patient.password);
  let renewals = 0;
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/auth/refresh')) renewals += 1;
  });
  await page.route('**/v1/me/notifications*', (route) =>
    route.fulfill({
      status: 401,
      contentType: 'application/problem+json',
      body: JSON.stringify({ status: 401, code: 'ACCOUNT_ERASED', detail: 'This account was deleted; sign in with another account.' }),
    }),
  );
  await page.getByRole('link', { name: 'Notificações' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByText('Esta conta foi excluída, por isso você saiu. Se você não pediu isso, fale com a clínica.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Sair' })).toHaveCount(0);
  expect(renewals).toBe(0);
  await expectAccessible(page, 'signed out: account erased');
});

test('e-mail links land on pages: /, /exams, /reports, /signin', async ({ page }) => {
  await page.goto('/signin');
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Entrar' })).toBeVisible();
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in$/);
  await page.goto('/exams');
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fexams$/);
  await page.goto('/reports');
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fstaff%2Freports$/);
  // The report-ready e-mail goes to staff: after the sign-in (and its second factor), the reports.
  await signIn(page, STAFF.email, STAFF.password, STAFF.secret);
  await expect(page).toHaveURL(/\/staff\/reports$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Relatórios' })).toBeVisible();
});
