import { expect } from '@playwright/test';
import { STAFF, expectAccessible, freshSlot, patientAccount, signIn, test } from './support';

test('errors: a 5xx on an unsafe POST is retried with the same Idempotency-Key', async ({ page }) => {
  await signIn(page, STAFF.email, STAFF.password, STAFF.secret);
  await page.getByRole('link', { name: 'Relatórios' }).click();
  const keys: string[] = [];
  await page.route('**/v1/reports', async (route) => {
    keys.push(route.request().headers()['idempotency-key'] ?? '');
    if (keys.length === 1) {
      return route.fulfill({ status: 503, headers: { 'retry-after': '1' }, contentType: 'application/problem+json', body: JSON.stringify({ status: 503, code: 'UNAVAILABLE', detail: 'busy' }) });
    }
    return route.continue();
  });
  await page.getByRole('button', { name: 'Pedir relatório' }).click();
  await expect(page.locator('[data-report-id]').first()).toBeVisible();
  expect(keys).toHaveLength(2);
  expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
  expect(keys[1]).toBe(keys[0]);
});

test('errors: problem codes become sentences; offline and time-outs are said in words', async ({ page, context }) => {
  const patient = await patientAccount();
  const slot = await freshSlot();
  await signIn(page, patient.email, patient.password);

  await test.step('a conflict code in the person’s language', async () => {
    await page.route('**/v1/appointments', (route) =>
      route.fulfill({ status: 409, contentType: 'application/problem+json', headers: { 'x-request-id': 'req-123' }, body: JSON.stringify({ status: 409, code: 'ALREADY_BOOKED', detail: 'You already hold a place in this slot.' }) }),
    );
    await page.getByRole('link', { name: 'Agendar', exact: true }).click();
    await page.getByLabel('Hospital', { exact: true }).selectOption(slot.hospitalId);
    await page.getByLabel('Exame', { exact: true }).selectOption('hemograma');
    await page.locator(`input[type=radio][value="${slot.id}"]`).check();
    await page.getByRole('button', { name: 'Agendar', exact: true }).click();
    await expect(page.getByRole('alert').getByText('Você já tem uma vaga neste horário.')).toBeVisible();
    await expect(page.getByText('Referência para o suporte: req-123')).toBeVisible();
    await page.unroute('**/v1/appointments');
  });

  await test.step('offline', async () => {
    await context.setOffline(true);
    await expect(page.getByText(/Você está sem conexão. O que aparece pode estar desatualizado/)).toBeVisible();
    await page.getByRole('link', { name: 'Notificações' }).click();
    await expect(page.getByText('Você está sem conexão. Verifique sua internet e tente de novo.')).toBeVisible();
    await expectAccessible(page, 'offline');
    await context.setOffline(false);
    await page.getByRole('button', { name: 'Tentar de novo' }).click();
    await expect(page.getByText('Ainda não enviamos nada para você.').or(page.getByRole('table'))).toBeVisible();
  });

  await test.step('a server that keeps failing, after the automatic retries', async () => {
    let calls = 0;
    await page.route('**/v1/me/notifications*', (route) => {
      calls += 1;
      return route.fulfill({ status: 502, contentType: 'text/html', body: '<html>bad gateway</html>' });
    });
    await page.getByRole('button', { name: 'Atualizar' }).click();
    await expect(page.getByText('O serviço está ocupado ou indisponível. Tente de novo em instantes.')).toBeVisible();
    expect(calls).toBe(3);
  });
});

test('errors: a sign-up older than 24 hours (EXPIRED_CODE) is told to sign up again', async ({ page }) => {
  await page.goto('/confirm');
  await page.getByLabel('E-mail', { exact: true }).fill('late@example.com');
  await page.getByLabel('Senha', { exact: true }).fill('Passw0rdOk');
  await page.getByLabel('Código de confirmação', { exact: true }).fill('123456');
  await page.route('**/v1/accounts/confirm', (route) =>
    route.fulfill({ status: 400, contentType: 'application/problem+json', body: JSON.stringify({ status: 400, code: 'EXPIRED_CODE', detail: 'The confirmation code has expired.' }) }),
  );
  await page.getByRole('button', { name: 'Confirmar' }).click();
  await expect(page.getByText('Este cadastro tem mais de 24 horas e não pode mais ser confirmado. Faça o cadastro de novo para receber outro código.')).toBeVisible();
  await expectAccessible(page, 'confirmation expired');
  await page.getByRole('link', { name: 'Fazer o cadastro de novo' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Crie sua conta' })).toBeVisible();
});
