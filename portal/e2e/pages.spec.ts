import { expect } from '@playwright/test';
import { STAFF, activeDoctor, assignedExam, checkPage, openMenu, patientAccount, signIn, test } from './support';

// Every page of the portal, for each role: axe-core (no serious or critical violation) at desktop
// and phone size, and screenshots at 1280×800 and 390×844 (test-results/screenshots/).

test('pages: public', async ({ page }) => {
  await page.goto('/sign-in');
  await checkPage(page, '01-sign-in');
  await page.getByRole('link', { name: 'Criar uma conta' }).click();
  await checkPage(page, '02-sign-up');
  await page.goto('/confirm');
  await checkPage(page, '03-confirm');
  await page.goto('/no-such-page');
  await expect(page.getByRole('heading', { level: 1, name: 'Página não encontrada' })).toBeVisible();
  await checkPage(page, '04-not-found');
});

test('pages: patient', async ({ page }) => {
  test.setTimeout(120_000);
  const doctor = await activeDoctor();
  const patient = await patientAccount();
  const examId = await assignedExam(patient.token, doctor.id);
  await signIn(page, patient.email, patient.password);
  await expect(page.getByRole('list', { name: 'Próximos' })).toBeVisible();
  await checkPage(page, '10-patient-exams');
  await page.locator(`a[href="/exams/${examId}"]`).click();
  await expect(page.getByRole('heading', { level: 2, name: 'Quem acessou seus resultados' })).toBeVisible();
  await checkPage(page, '11-patient-exam');
  await openMenu(page, 'Agendar');
  await page.getByLabel('Hospital', { exact: true }).selectOption({ label: 'Hospital Santa Luzia' });
  await page.getByLabel('Exame', { exact: true }).selectOption({ label: 'Hemograma' });
  await page.getByRole('radio').first().check();
  await checkPage(page, '12-patient-book');
  await openMenu(page, 'Vincular exame');
  await checkPage(page, '13-patient-claim');
  await openMenu(page, 'Notificações');
  await checkPage(page, '14-patient-notifications');
  await openMenu(page, 'Perfil');
  await checkPage(page, '15-patient-profile');
  await page.getByRole('link', { name: 'Excluir minha conta…' }).click();
  await checkPage(page, '16-patient-delete');
  await page.getByRole('button', { name: 'Quero excluir minha conta' }).click();
  await checkPage(page, '17-patient-delete-confirm');
  // The phone menu: closed, then opened with the keyboard.
  await page.setViewportSize({ width: 390, height: 844 });
  const toggle = page.getByRole('button', { name: 'Menu' });
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await toggle.focus();
  await page.keyboard.press('Enter');
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  await expect(page.getByRole('navigation').getByRole('link', { name: 'Meus exames' })).toBeVisible();
  await checkPage(page, '18-patient-phone-menu');
});

test('pages: doctor', async ({ page }) => {
  const doctor = await activeDoctor();
  const patient = await patientAccount();
  const examId = await assignedExam(patient.token, doctor.id);
  await signIn(page, doctor.email, doctor.password, doctor.secret);
  await expect(page.locator(`a[href="/doctor/exams/${examId}"]`)).toBeVisible();
  await checkPage(page, '20-doctor-exams');
  await page.locator(`a[href="/doctor/exams/${examId}"]`).click();
  await checkPage(page, '21-doctor-exam');
});

test('pages: staff', async ({ page }) => {
  await signIn(page, STAFF.email, STAFF.password, STAFF.secret);
  await expect(page.getByText(/A API está respondendo/)).toBeVisible();
  await checkPage(page, '30-staff-overview');
  for (const [menu, name] of [
    ['Exames', '31-staff-exams'],
    ['Médicos', '32-staff-doctors'],
    ['Hospitais', '33-staff-hospitals'],
    ['Horários', '34-staff-slots'],
    ['Relatórios', '35-staff-reports'],
  ] as const) {
    await openMenu(page, menu);
    await checkPage(page, name);
  }
});
