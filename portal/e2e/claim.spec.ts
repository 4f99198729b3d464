import { expect } from '@playwright/test';
import { BASE, api, checkPage, patientAccount, signIn, staffToken, test } from './support';

/** A hospital of its own, pushing exams with its client credentials like a hospital system does. */
async function hospital(): Promise<{ id: string; token: string }> {
  const id = String(Date.now()).slice(-7);
  const created = await api.post('/v1/hospitals', { name: `Hospital Integração ${id}`, cnes: id }, await staffToken());
  const response = await fetch(`${BASE}/oauth2/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${created.clientId}:${created.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=clinic/ingest',
  });
  const token = (await response.json()).access_token as string;
  return { id: created.id, token };
}

/** Pushes one exam for the CPF and waits until the batch applied it; the item's access code. */
async function push(h: { token: string }, item: Record<string, unknown>): Promise<string | undefined> {
  let accepted: { batchId: string } | undefined;
  // The hospital reaches the exam catalogue through an event: retry until it is known.
  for (let i = 0; i < 30 && !accepted; i += 1) {
    try {
      accepted = await api.post('/v1/integrations/exams:batch', { items: [item] }, h.token, { 'Idempotency-Key': crypto.randomUUID() });
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (!accepted) throw new Error('the batch was not accepted');
  for (let i = 0; i < 60; i += 1) {
    const batch = await api.get(`/v1/integrations/batches/${accepted.batchId}`, h.token);
    const first = batch.items[0];
    if (first?.state === 'APPLIED') return first.accessCode as string | undefined;
    if (first?.state === 'REJECTED' || first?.state === 'STALE') throw new Error(`item ${first.state}: ${first.reason}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the batch item was not applied');
}

test('hospital exams reach the patient only by proof: the receipt code, or the same CPF and verified e-mail', async ({ page }) => {
  test.setTimeout(150_000);
  const patient = await patientAccount();
  const h = await hospital();
  const when = new Date(Date.now() + 3 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const code = await push(h, { externalId: `RX-${Date.now()}`, version: 1, patientCpf: patient.cpf, examType: 'raio-x', status: 'SCHEDULED', scheduledAt: when });
  expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);

  await signIn(page, patient.email, patient.password);
  // The CPF alone links nothing.
  await expect(page.getByText('Nenhum exame agendado.')).toBeVisible();
  await page.getByRole('navigation').getByRole('link', { name: 'Vincular exame', exact: true }).click();

  await test.step('a malformed code is caught before sending; a wrong one is refused in words', async () => {
    await page.getByLabel('Código de acesso', { exact: true }).fill('ABC');
    await page.getByRole('button', { name: 'Vincular exame' }).click();
    await expect(page.getByText('O código tem 16 letras e números (traços e espaços são ignorados).')).toBeVisible();
    await page.getByLabel('Código de acesso', { exact: true }).fill('ABCD-EFGH-JKMN-PQRS');
    await page.getByRole('button', { name: 'Vincular exame' }).click();
    await expect(page.getByText(/Este código de acesso não é válido/)).toBeVisible();
    await expect(page.getByLabel('Código de acesso', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  });

  await test.step('the receipt code, typed in lower case without dashes, links the exam', async () => {
    await page.getByLabel('Código de acesso', { exact: true }).fill(code!.replace(/-/g, '').toLowerCase());
    await page.getByRole('button', { name: 'Vincular exame' }).click();
    await expect(page.getByText(/^Vinculado: Raio-x/)).toBeVisible();
    await checkPage(page, '19-patient-claimed');
    await page.getByRole('link', { name: 'Abrir o exame' }).click();
    await expect(page.getByText('O hospital', { exact: true })).toBeVisible();
  });

  await test.step('the same CPF with the e-mail the patient verified links at once', async () => {
    await push(h, { externalId: `US-${Date.now()}`, version: 1, patientCpf: patient.cpf, patientEmail: patient.email, examType: 'ultrassom', status: 'SCHEDULED', scheduledAt: when });
    await expect(async () => {
      await page.getByRole('navigation').getByRole('link', { name: 'Notificações' }).click();
      await page.getByRole('navigation').getByRole('link', { name: 'Meus exames' }).click();
      await expect(page.getByRole('list', { name: 'Próximos' }).getByText('Ultrassom')).toBeVisible({ timeout: 2_000 });
    }).toPass({ timeout: 30_000 });
    await expect(page.getByRole('list', { name: 'Próximos' }).getByText('Raio-x')).toBeVisible();
  });
});
