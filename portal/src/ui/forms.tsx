import { useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/errors';
import { useLang, useT, type Lang, type Messages } from '../i18n';
import { describeError, ErrorNotice } from './kit';

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

/** A failure that is not about a field, on top of the form (field errors show beside their fields). */
export function FormErrorNotice({ error }: { error: unknown }) {
  return error && !isFieldError(error) ? <ErrorNotice error={error} /> : null;
}

/**
 * A form's submission: busy while `action` runs, its failure kept for the fields and the notice,
 * and the focus on the first refused field. With `leavesOnSuccess` the page navigates away when
 * the action succeeds, so the button stays busy until then and cannot be pressed twice.
 */
export function useFormSubmit(action: () => Promise<void>, { leavesOnSuccess = false }: { leavesOnSuccess?: boolean } = {}) {
  const t = useT();
  const lang = useLang();
  const form = useRef<HTMLFormElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
      if (!leavesOnSuccess) setBusy(false);
    } catch (err) {
      setError(err);
      setBusy(false);
      if (isFieldError(err)) focusFirstInvalid(form.current);
    }
  };
  const errorOf = (field: string) => fieldError(t, lang, error, field);
  return { form, busy, error, submit, errorOf };
}

type TextKeys<T> = { [K in keyof T]: T[K] extends string ? K : never }[keyof T] & string;

/**
 * The props that tie a text field to one key of the form's values: its name, value, setter and
 * error, written once here rather than four times at every field.
 */
export function fieldBinder<T extends object>(values: T, update: (patch: Partial<T>) => void, errorOf: (field: string) => string | undefined) {
  return <K extends TextKeys<T>>(key: K) => ({
    name: key,
    value: values[key] as string,
    onValue: (value: string) => update({ [key]: value } as Partial<T>),
    error: errorOf(key),
  });
}
