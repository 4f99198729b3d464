import { useRef, useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { useLang, useT } from '../../i18n';
import { navigate } from '../../router';
import { createStore } from '../../store';
import { Button, ErrorNotice, Field, Notice, Page } from '../../ui/kit';
import { fieldError, focusFirstInvalid, isFieldError } from '../../ui/forms';

/** The address just signed up with (memory only), so the confirmation form is filled in. */
export const pendingEmail = createStore<string | null>(null);
/** The address just confirmed, so the sign-in form is filled in and says so. */
export const confirmedEmail = createStore<string | null>(null);

export function Confirm() {
  const t = useT();
  const lang = useLang();
  const form = useRef<HTMLFormElement>(null);
  const fromSignUp = pendingEmail.get();
  const [email, setEmail] = useState(fromSignUp ?? '');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await ok(api.POST('/v1/accounts/confirm', { body: { email: email.trim(), code: code.trim() } }));
      pendingEmail.set(null);
      confirmedEmail.set(email.trim());
      navigate('/sign-in', { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
      if (isFieldError(err)) focusFirstInvalid(form.current);
    }
  };

  return (
    <Page title={t.confirm.title}>
      <div class="narrow">
        {fromSignUp ? <Notice kind="success">{t.confirm.sent}</Notice> : <p>{t.confirm.intro}</p>}
        {error && !isFieldError(error) ? <ErrorNotice error={error} /> : null}
        <form class="card" ref={form} onSubmit={submit} noValidate>
          <Field
            label={t.fields.email}
            type="email"
            name="email"
            autocomplete="email"
            value={email}
            onValue={setEmail}
            error={fieldError(t, lang, error, 'email')}
            required
          />
          <Field
            label={t.fields.code}
            name="code"
            inputMode="numeric"
            autocomplete="one-time-code"
            hint={t.fields.codeHint}
            value={code}
            onValue={setCode}
            error={fieldError(t, lang, error, 'code')}
            required
          />
          <Button type="submit" busy={busy} icon="check">
            {t.confirm.submit}
          </Button>
        </form>
      </div>
    </Page>
  );
}
