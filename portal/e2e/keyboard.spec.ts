import { expect, type Page } from '@playwright/test';
import { patientAccount, test } from './support';

/** Presses Tab until the focused element matches, at most `limit` times. */
async function tabTo(page: Page, name: RegExp, limit = 25): Promise<void> {
  for (let i = 0; i < limit; i += 1) {
    await page.keyboard.press('Tab');
    const label = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el) return '';
      const labelled = (el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : null) ?? el.closest('label')?.textContent ?? null;
      return (el.getAttribute('aria-label') ?? labelled ?? el.textContent ?? '').trim();
    });
    if (name.test(label)) return;
  }
  throw new Error(`focus never reached ${name}`);
}

async function focusIsVisible(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el) return false;
    const style = getComputedStyle(el);
    return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  });
}

test('keyboard only: skip link, sign in, move through the menu, book with the keyboard', async ({ page }) => {
  const patient = await patientAccount();
  await page.goto('/sign-in');
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Ir para o conteúdo' })).toBeFocused();
  expect(await focusIsVisible(page)).toBe(true);

  await tabTo(page, /^E-mail$/);
  await page.keyboard.type(patient.email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(patient.password);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Meus exames' })).toBeVisible();

  await tabTo(page, /^Agendar$/);
  expect(await focusIsVisible(page)).toBe(true);
  await page.keyboard.press('Enter');
  // The new page's heading takes the focus, so reading starts there.
  await expect(page.getByRole('heading', { level: 1, name: 'Agendar exame' })).toBeFocused();

  // Type-ahead on a focused select picks the option, as it does for people.
  await tabTo(page, /^Hospital$/);
  await page.keyboard.type('Hospital Santa');
  await expect(page.getByLabel('Hospital', { exact: true })).toHaveValue(/.+/);
  await tabTo(page, /^Exame$/);
  await page.keyboard.type('Hemo');
  await expect(page.getByRole('radio').first()).toBeVisible();
  await tabTo(page, /vaga/);
  await page.keyboard.press('Space');
  await expect(page.getByRole('radio').first()).toBeChecked();
  await tabTo(page, /^Agendar$/);
  await page.keyboard.press('Enter');
  await expect(page.getByText(/^Agendado:/)).toBeVisible();
});
