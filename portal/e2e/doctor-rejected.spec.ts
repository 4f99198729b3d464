import { expect } from '@playwright/test';
import { activeDoctor, assignedExam, expectAccessible, patientAccount, pdfBomb, screenshots, signIn, test } from './support';

test('doctor: an upload that is not a PDF, and a PDF bomb, are rejected, with the reason in words', async ({ page }) => {
  const doctor = await activeDoctor();
  const patient = await patientAccount();
  const examId = await assignedExam(patient.token, doctor.id);

  await signIn(page, doctor.email, doctor.password, doctor.secret);
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

  // A "PDF bomb" (a few kilobytes that inflate to 40 MB) is refused as too complex to check.
  const bomb = pdfBomb();
  expect(bomb.length).toBeLessThan(200_000);
  await page.getByLabel('PDF do resultado', { exact: true }).setInputFiles({ name: 'bomba.pdf', mimeType: 'application/pdf', buffer: bomb });
  await page.getByRole('button', { name: 'Enviar' }).click();
  await expect(page.getByText('O PDF é complexo demais para ser verificado com segurança; exporte-o de novo como um PDF simples e envie.').first()).toBeVisible({
    timeout: 60_000,
  });
  await expect(page.getByRole('list').getByText('Recusado')).toHaveCount(2);
});
