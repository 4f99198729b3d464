import { expect } from '@playwright/test';
import { activeDoctor, assignedExam, expectAccessible, patientAccount, screenshots, signIn, test } from './support';

test('doctor: an upload that is not a PDF is rejected, with the reason in words', async ({ page }) => {
  const doctor = await activeDoctor();
  const patient = await patientAccount();
  const examId = await assignedExam(patient.token, doctor.id);

  await signIn(page, doctor.email, doctor.password);
  await expect(page).toHaveURL(/\/doctor$/);
  await expect(page.getByRole('button', { name: /^Agendado \(\d+\)$/ })).toHaveAttribute('aria-pressed', 'true');
  // In-portal navigation: a full page load would end the in-memory session.
  await page.locator(`a[href="/doctor/exams/${examId}"]`).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Hemograma' })).toBeVisible();

  await page.getByRole('button', { name: 'Enviar' }).click();
  await expect(page.getByText('Escolha primeiro um arquivo PDF.')).toBeVisible();

  await page.getByLabel('PDF do resultado', { exact: true }).setInputFiles({
    name: 'resultado.pdf',
    mimeType: 'application/pdf',
    buffer: Buffer.from('this is a plain text file, not a PDF\n'.repeat(20)),
  });
  await page.getByRole('button', { name: 'Enviar' }).click();
  await expect(page.getByText('O arquivo foi recusado:')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByText('O arquivo não é um documento PDF.').first()).toBeVisible();
  await expect(page.getByRole('list').getByText('Recusado')).toBeVisible();
  await expectAccessible(page, 'doctor exam with rejected upload');
  await screenshots(page, '43-doctor-rejected-upload');
  // The exam did not move on.
  await expect(page.getByText('Agendado', { exact: true })).toBeVisible();
});
