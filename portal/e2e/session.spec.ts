import { expect } from '@playwright/test';
import { patientAccount, signIn, test } from './support';

test('session: signed out after the idle time, back where they were with what they typed', async ({ page }) => {
  const patient = await patientAccount();
  // The idle limit can only be lowered; 4 s for the test instead of 15 min.
  await page.goto('/sign-in?idle=4');
  await expect(page).toHaveURL(/\/sign-in$/);
  await signIn(page, patient.email, patient.password);
  await page.getByRole('link', { name: 'Perfil' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Perfil e preferências' })).toBeVisible();
  await page.getByLabel('Nome completo', { exact: true }).fill('Ana Maria Rascunho');

  // No long-lived token anywhere the page could leave it behind.
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  expect(stored).not.toMatch(/eyJ[\w-]+\.[\w-]+/);

  await expect(page).toHaveURL(/\/sign-in\?next=%2Fsettings$/, { timeout: 15_000 });
  await expect(page.getByText(/Você saiu automaticamente após 15 minutos sem atividade/)).toBeVisible();
  await expect(page.getByText('Ana Maria Rascunho')).toHaveCount(0);
  await expect(page.getByLabel('E-mail', { exact: true })).toHaveValue(patient.email);

  await page.getByLabel('Senha', { exact: true }).fill(patient.password);
  await page.getByRole('button', { name: 'Entrar', exact: true }).click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect(page.getByLabel('Nome completo', { exact: true })).toHaveValue('Ana Maria Rascunho');
});

test('session: a refused access token is renewed silently with the refresh token', async ({ page }) => {
  const patient = await patientAccount();
  await signIn(page, patient.email, patient.password);
  let refused = 0;
  let refreshed = 0;
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/auth/refresh')) refreshed += 1;
  });
  await page.route('**/v1/me/notifications*', async (route) => {
    if (refused === 0) {
      refused += 1;
      return route.fulfill({
        status: 401,
        contentType: 'application/problem+json',
        body: JSON.stringify({ type: 'about:blank', title: 'Unauthorized', status: 401, code: 'UNAUTHORIZED', detail: 'expired' }),
      });
    }
    return route.continue();
  });
  await page.getByRole('link', { name: 'Notificações' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Notificações' })).toBeVisible();
  await expect(page.getByText('Ainda não enviamos nada para você.').or(page.getByRole('table'))).toBeVisible();
  expect(refused).toBe(1);
  expect(refreshed).toBe(1);
  await expect(page.getByRole('button', { name: 'Sair' })).toBeVisible();
});

test('session: an expired session sends the person to sign in and back to the same page', async ({ page }) => {
  const patient = await patientAccount();
  await signIn(page, patient.email, patient.password);
  await page.getByRole('link', { name: 'Vincular exame', exact: true }).click();
  await page.getByLabel('Código de acesso', { exact: true }).fill('ABCD-EFGH');
  // The refresh token no longer works (revoked, or 30 days passed).
  await page.route('**/v1/auth/refresh', (route) =>
    route.fulfill({ status: 401, contentType: 'application/problem+json', body: JSON.stringify({ status: 401, code: 'INVALID_REFRESH_TOKEN', detail: 'x' }) }),
  );
  await page.route('**/v1/me/notifications*', (route) =>
    route.fulfill({ status: 401, contentType: 'application/problem+json', body: JSON.stringify({ status: 401, code: 'UNAUTHORIZED', detail: 'x' }) }),
  );
  await page.getByRole('link', { name: 'Notificações' }).click();
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fnotifications$/);
  await expect(page.getByText('Sua sessão expirou. Entre de novo para continuar de onde parou.')).toBeVisible();
  await page.unroute('**/v1/me/notifications*');
  await page.getByLabel('Senha', { exact: true }).fill(patient.password);
  await page.getByRole('button', { name: 'Entrar', exact: true }).click();
  await expect(page).toHaveURL(/\/notifications$/);
  await page.getByRole('link', { name: 'Vincular exame', exact: true }).click();
  await expect(page.getByLabel('Código de acesso', { exact: true })).toHaveValue('ABCD-EFGH');
});
