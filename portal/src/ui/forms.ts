import { ApiError } from '../api/errors';
import type { Lang, Messages } from '../i18n';
import { describeError } from './kit';

/**
 * The message for one field of a refused form: the API's own sentence in English, the portal's
 * translation of that field's rule in Portuguese (the API writes its field messages in English).
 * A conflict naming the field (`EMAIL_ALREADY_USED`, field `email`) lands on it too.
 */
export function fieldError(t: Messages, lang: Lang, error: unknown, field: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const message = error.field(field);
  if (message === undefined) {
    return error.extra.field === field ? describeError(t, error) : undefined;
  }
  if (lang === 'en') return message;
  const key = field.replace(/^\[\d+\]\./, '') as keyof Messages['fieldRules'];
  return t.fieldRules[key] ?? message;
}

/** Whether the error is about fields of the form (shown beside them rather than on top). */
export function isFieldError(error: unknown): boolean {
  return error instanceof ApiError && (error.isValidation || typeof error.extra.field === 'string');
}

/** Moves the focus to the first field marked invalid in the form, after it re-rendered. */
export function focusFirstInvalid(form: HTMLElement | null): void {
  setTimeout(() => {
    const first = form?.querySelector<HTMLElement>('[aria-invalid="true"]');
    first?.focus();
  }, 0);
}
