import { expect } from '@playwright/test';
import { expectAccessible, patientAccount, signIn, test } from './support';

test('language: Portuguese by default, English on demand, kept on this device and after signing in', async ({ page }) => {
  const patient = await patientAccount();
  await page.goto('/sign-in');
  await expect(page.locator('html')).toHaveAttribute('lang', 'pt-BR');
  await expect(page.getByRole('heading', { level: 1, name: 'Entrar' })).toBeVisible();

  await page.getByRole('button', { name: 'Switch to English' }).click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible();
  await expect(page).toHaveTitle('Sign in · Clinic');
  await expectAccessible(page, 'sign-in in English');

  // Errors from problem+json codes are translated too.
  await page.getByLabel('E-mail', { exact: true }).fill(patient.email);
  await page.getByLabel('Password', { exact: true }).fill('Wrong0Password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByText('Wrong e-mail or password.')).toBeVisible();

  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible();

  // The profile's language (pt-BR) wins after signing in; switching again is one click.
  await signIn(page, patient.email, patient.password);
  await expect(page.getByRole('heading', { level: 1, name: 'Meus exames' })).toBeVisible();
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'My exams' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Main menu' }).getByRole('link', { name: 'Notifications' })).toBeVisible();

  // Saving English in the profile switches the messages' language too.
  await page.getByRole('link', { name: 'Profile' }).click();
  await page.getByLabel('Language of messages', { exact: true }).selectOption('en');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Saved.')).toBeVisible();
  await page.getByRole('button', { name: 'Mudar para português' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Perfil e preferências' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'pt-BR');
});
