import { readFileSync } from 'node:fs';
import { expect } from '@playwright/test';
import { STAFF, expectAccessible, screenshots, signIn, test } from './support';

test('staff: register a hospital (secret shown once), a doctor, publish slots, then a report from queued to done, downloaded', async ({
  page,
  context,
}) => {
  test.setTimeout(150_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await signIn(page, STAFF.email, STAFF.password, STAFF.secret);
  await expect(page).toHaveURL(/\/staff$/);
  await expect(page.getByText(/A API está respondendo/)).toBeVisible();

  const id = Date.now().toString().slice(-7);
  await test.step('hospital: the client secret is shown once, with a copy button and a warning', async () => {
    await page.getByRole('link', { name: 'Hospitais' }).click();
    await page.getByLabel('Nome do hospital', { exact: true }).fill(`Hospital Teste ${id}`);
    await page.getByLabel('CNES', { exact: true }).fill(id);
    await page.getByRole('button', { name: 'Cadastrar hospital' }).click();
    await expect(page.getByRole('heading', { name: `Credenciais de Hospital Teste ${id}` })).toBeVisible();
    await expect(page.getByText(/Ele aparece só desta vez/)).toBeVisible();
    const secret = (await page.locator('#client-secret').textContent())?.trim() ?? '';
    expect(secret.length).toBeGreaterThan(8);
    await page.getByRole('button', { name: 'Copiar o segredo do cliente' }).click();
    await expect(page.getByText('Copiado.')).toBeVisible();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await expectAccessible(page, 'hospital credentials');
    await screenshots(page, '44-staff-hospital-secret-once');
    await page.getByRole('button', { name: 'Guardei em lugar seguro' }).click();
    await expect(page.locator('#client-secret')).toHaveCount(0);
    await expect(page.getByText(secret)).toHaveCount(0);
    await expect(page.getByRole('cell', { name: `Hospital Teste ${id}` })).toBeVisible({ timeout: 15_000 });
  });

  await test.step('doctor registration with field errors, then accepted', async () => {
    await page.getByRole('link', { name: 'Médicos' }).click();
    await page.getByLabel('Nome completo', { exact: true }).fill(`Dra. Teste ${id}`);
    await page.getByLabel('E-mail', { exact: true }).fill(`dra.${id}@example.com`);
    await page.getByLabel('CRM', { exact: true }).fill(id.slice(-6));
    await page.getByLabel('Estado (UF)', { exact: true }).fill('ZZ');
    await page.getByLabel('Especialidade', { exact: true }).fill('Pediatria');
    await page.getByRole('button', { name: 'Cadastrar médico' }).click();
    await expect(page.getByText('Informe um estado brasileiro, por exemplo SP.')).toBeVisible();
    await page.getByLabel('Estado (UF)', { exact: true }).fill('RJ');
    await page.getByRole('button', { name: 'Cadastrar médico' }).click();
    await expect(page.getByText(/foi cadastrado\(a\) e vai receber uma senha temporária por e-mail/)).toBeVisible();
    await expect(page.getByRole('cell', { name: `Dra. Teste ${id}` })).toBeVisible();
  });

  await test.step('publish slots for a hospital', async () => {
    await page.getByRole('link', { name: 'Horários' }).click();
    await page.getByLabel('Hospital', { exact: true }).selectOption({ label: 'Hospital Santa Luzia' });
    await page.getByLabel('Exame', { exact: true }).fill('eletrocardiograma');
    await page.getByLabel('Número de horários', { exact: true }).fill('3');
    await expect(page.getByText(/^3 horários em/)).toBeVisible();
    await page.getByRole('button', { name: 'Publicar' }).click();
    await expect(page.getByText('3 horários publicados para Hospital Santa Luzia.')).toBeVisible();
  });

  await test.step('report: queued → processing → done, then downloaded', async () => {
    await page.getByRole('link', { name: 'Relatórios' }).click();
    await page.getByLabel('Formato', { exact: true }).selectOption('xlsx');
    await page.getByRole('button', { name: 'Pedir relatório' }).click();
    const item = page.locator('[data-report-id]').first();
    await expect(item.getByRole('list', { name: 'Andamento' })).toBeVisible();
    await expect(item.locator('.badge')).toHaveText(/Na fila|Em processamento|Pronto/);
    await expect(item.locator('.badge')).toHaveText('Pronto', { timeout: 90_000 });
    await expect(item.locator('[data-state="done"]')).toHaveCount(3);
    await expectAccessible(page, 'reports');
    await screenshots(page, '45-staff-report-done');
    const downloadPromise = page.waitForEvent('download');
    await item.getByRole('button', { name: 'Baixar' }).click();
    const download = await downloadPromise;
    expect(download.suggestedFilename()).toMatch(/\.xlsx$/);
    const bytes = readFileSync(await download.path());
    expect(bytes.subarray(0, 2).toString('latin1')).toBe('PK');
  });
});
