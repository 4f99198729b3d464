import { readFileSync } from 'node:fs';
import { expect } from '@playwright/test';
import { answerCode, api, doctorAccount, shownSecret, expectAccessible, freshSlot, newPatient, pdf, screenshots as screenshotsOf, settled, staffToken, token, test } from './support';

test('patient journey: sign up → book → doctor uploads → patient opens the PDF, sees the access log → deletes the account', async ({
  browser,
}) => {
  test.setTimeout(180_000);
  const person = newPatient();
  const slot = await freshSlot();
  const doctor = await doctorAccount();
  const patientContext = await browser.newContext();
  const page = await patientContext.newPage();

  await test.step('sign up shows the field errors of the problem answer', async () => {
    await page.goto('/sign-up');
    await expect(page.locator('html')).toHaveAttribute('lang', 'pt-BR');
    await page.getByLabel('Nome completo', { exact: true }).fill(person.name);
    await page.getByLabel('E-mail', { exact: true }).fill(person.email);
    await page.getByLabel('Senha', { exact: true }).fill(person.password);
    await page.getByLabel('CPF', { exact: true }).fill('123.456.789-00');
    await page.getByLabel('Data de nascimento', { exact: true }).fill(person.birthDate);
    await page.getByLabel('Celular', { exact: true }).fill('11987654321');
    await page.getByRole('button', { name: 'Criar conta' }).click();
    await expect(page.getByText('Informe um CPF válido (11 dígitos).')).toBeVisible();
    await expect(page.getByText(/Informe o celular com código do país/)).toBeVisible();
    await expect(page.getByLabel('CPF', { exact: true })).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByLabel('CPF', { exact: true })).toBeFocused();
    await expectAccessible(page, 'sign-up with errors');
    await page.getByLabel('CPF', { exact: true }).fill(person.cpf);
    await page.getByLabel('Celular', { exact: true }).fill(person.phone);
    await page.getByRole('button', { name: 'Criar conta' }).click();
  });

  await test.step('confirm and sign in', async () => {
    await expect(page).toHaveURL(/\/confirm$/);
    await expect(page.getByText(/Se este e-mail puder ser usado, enviamos um código/)).toBeVisible();
    await page.getByLabel('Código de confirmação', { exact: true }).fill('123456');
    await page.getByRole('button', { name: 'Confirmar' }).click();
    // Confirmed with the password given at sign-up (kept in memory only), then signed in.
    await expect(page).toHaveURL(/\/exams$/);
    await expect(page.getByRole('heading', { level: 1, name: 'Meus exames' })).toBeVisible();
    await expect(page.getByText('Nenhum exame agendado.')).toBeVisible();
  });

  await test.step('book: hospital → exam → open slot; a full slot offers the next ones', async () => {
    await page.getByRole('link', { name: 'Agendar exame' }).click();
    const hospitalName = (await api.get('/v1/hospitals?limit=200', await staffToken())).items.find(
      (h: { id: string }) => h.id === slot.hospitalId,
    ).name as string;
    await page.getByLabel('Hospital', { exact: true }).selectOption({ label: hospitalName });
    await page.getByLabel('Exame', { exact: true }).selectOption({ label: 'Hemograma' });
    await expect(page.getByText(/restam \d+ vagas/).first()).toBeVisible();
    // Someone takes the last place of the first slot just before we book it.
    await page.getByRole('radio').first().check();
    let refused = false;
    await page.route('**/v1/appointments', async (route) => {
      if (refused) return route.continue();
      refused = true;
      await route.fulfill({
        status: 409,
        contentType: 'application/problem+json',
        body: JSON.stringify({ type: 'about:blank', title: 'Conflict', status: 409, code: 'SLOT_FULL', detail: 'This slot has no place left.' }),
      });
    });
    await page.getByRole('button', { name: 'Agendar', exact: true }).click();
    await expect(page.getByText(/Alguém acabou de ocupar a última vaga/)).toBeVisible();
    await expect(page.getByText('Estes são os próximos horários livres do mesmo exame:')).toBeVisible();
    await expectAccessible(page, 'book, slot full');
    // Take the slot published for this test.
    await page.locator(`input[type=radio][value="${slot.id}"]`).check();
    await page.getByRole('button', { name: 'Agendar', exact: true }).click();
    await expect(page.getByText(/^Agendado: Hemograma/)).toBeVisible();
    await expect(page.getByRole('heading', { level: 1, name: 'Hemograma' })).toBeVisible();
    await page.getByRole('link', { name: 'Voltar para meus exames' }).click();
    await expect(page.getByRole('list', { name: 'Próximos' }).getByText('Agendado')).toBeVisible();
    await screenshotsOf(page, '40-journey-booked');
  });

  const examId = await test.step('staff assigns the doctor', async () => {
    const me = await api.get('/v1/exams?limit=50', await token(person.email, person.password));
    const exam = me.items[0];
    await api.post(`/v1/exams/${exam.id}/assign`, { doctorId: doctor.id }, await staffToken());
    return exam.id as string;
  });

  await test.step('the doctor signs in (choosing a password, setting the authenticator up), collects, completes and uploads the PDF', async () => {
    const doctorContext = await browser.newContext();
    const dpage = await doctorContext.newPage();
    await dpage.goto('/sign-in');
    await dpage.getByLabel('E-mail', { exact: true }).fill(doctor.email);
    await dpage.getByLabel(/^Senha/).fill(doctor.temporaryPassword);
    await dpage.getByRole('button', { name: 'Entrar', exact: true }).click();
    await expect(dpage.getByRole('heading', { name: 'Escolha sua senha' })).toBeVisible();
    await dpage.getByLabel(/^Nova senha/).fill('Doct0rPass');
    await dpage.getByRole('button', { name: 'Salvar senha e entrar' }).click();
    await expect(dpage.getByRole('heading', { level: 1, name: 'Configure seu aplicativo autenticador' })).toBeVisible();
    await answerCode(dpage, await shownSecret(dpage));
    await expect(dpage).toHaveURL(/\/doctor$/);
    await dpage.getByRole('link', { name: /^Abrir Hemograma/ }).first().click();
    await expect(dpage).toHaveURL(new RegExp(`/doctor/exams/${examId}$`));
    await dpage.getByRole('button', { name: 'Marcar como coletado' }).click();
    await expect(dpage.getByText('Coletado', { exact: true })).toBeVisible();
    await dpage.getByRole('button', { name: 'Marcar como realizado' }).click();
    await expect(dpage.getByText('Realizado', { exact: true })).toBeVisible();
    await dpage.getByLabel('PDF do resultado', { exact: true }).setInputFiles({ name: 'hemograma.pdf', mimeType: 'application/pdf', buffer: pdf('Hemograma: normal') });
    await dpage.getByRole('button', { name: 'Enviar' }).click();
    await expect(dpage.getByText('O resultado está disponível para o paciente.')).toBeVisible({ timeout: 60_000 });
    await expect(dpage.getByText('Resultado disponível', { exact: true })).toBeVisible({ timeout: 30_000 });
    await screenshotsOf(dpage, '42-journey-doctor-uploaded');
    await doctorContext.close();
  });

  await test.step('the patient opens the result in the browser viewer, downloads it and sees the access log', async () => {
    await page.getByRole('link', { name: /^Detalhes de Hemograma/ }).click();
    await settled(page);
    await expect(page.getByText('Ninguém acessou seus resultados ainda.')).toBeVisible();
    const popupPromise = page.waitForEvent('popup');
    await page.getByRole('button', { name: 'Abrir hemograma.pdf em uma nova aba' }).click();
    const popup = await popupPromise;
    await expect.poll(() => popup.url()).toMatch(/^blob:http:\/\/127\.0\.0\.1:\d+\//);
    expect(popup.url()).not.toContain('X-Amz');
    expect(page.url()).not.toContain('X-Amz');
    // The tab is the browser's PDF viewer on a blob: document of the portal's origin.
    await expect.poll(() => popup.evaluate(() => document.contentType).catch(() => '')).toBe('application/pdf');
    await popup.close();
    const downloadPromise = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Baixar hemograma.pdf' }).click();
    const download = await downloadPromise;
    expect(download.suggestedFilename()).toBe('hemograma.pdf');
    const bytes = readFileSync(await download.path());
    expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const log = page.getByRole('table', { name: 'Quem acessou seus resultados' });
    await expect(log.getByRole('row')).toHaveCount(3);
    await expect(log.getByRole('cell', { name: 'Você' }).first()).toBeVisible();
    await expect(log.getByText('Abriu ou baixou — hemograma.pdf').first()).toBeVisible();
    await expectAccessible(page, 'exam with result and access log');
    await screenshotsOf(page, '41-journey-result-and-access-log');
  });

  await test.step('notifications list what was sent', async () => {
    await page.getByRole('link', { name: 'Notificações' }).click();
    await expect(page.getByRole('cell', { name: 'Agendamento confirmado' }).first()).toBeVisible({ timeout: 30_000 });
  });

  await test.step('delete the account: explanation, explicit confirmation, then signed out', async () => {
    await page.getByRole('link', { name: 'Perfil' }).click();
    await page.getByRole('link', { name: 'Excluir minha conta…' }).click();
    await expect(page.getByRole('heading', { name: 'O que é apagado' })).toBeVisible();
    await expect(page.getByRole('heading', { name: 'O que a lei nos obriga a guardar' })).toBeVisible();
    await page.getByRole('button', { name: 'Quero excluir minha conta' }).click();
    const erase = page.getByRole('button', { name: 'Excluir minha conta definitivamente' });
    await expect(erase).toBeDisabled();
    await page.getByLabel('Entendo que isso não pode ser desfeito.', { exact: true }).check();
    await page.getByLabel('Digite EXCLUIR para confirmar', { exact: true }).fill('EXCLUIR');
    await expectAccessible(page, 'delete account, confirmation');
    await erase.click();
    await expect(page).toHaveURL(/\/sign-in$/);
    await expect(page.getByText('Sua conta foi excluída.', { exact: false })).toBeVisible();
    await page.getByLabel('E-mail', { exact: true }).fill(person.email);
    await page.getByLabel(/^Senha/).fill(person.password);
    await page.getByRole('button', { name: 'Entrar', exact: true }).click();
    await expect(page.getByText('E-mail ou senha incorretos.')).toBeVisible();
  });
  await patientContext.close();
});
