import { useRef, useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { ApiError } from '../../api/errors';
import { homeOf } from '../../app';
import { useLang, useT } from '../../i18n';
import { navigate } from '../../router';
import { signIn } from '../../session';
import { createStore } from '../../store';
import { Link } from '../../ui/link';
import { Button, ErrorNotice, Field, Notice, Page } from '../../ui/kit';
import { fieldError, focusFirstInvalid, isFieldError } from '../../ui/forms';

/**
 * What was just signed up with, in memory only until the address is confirmed: the API asks for
 * the password again at confirmation (whoever confirms must be whoever signed up), and the
 * portal then signs the person in without asking a third time.
 */
export const pendingSignUp = createStore<{ email: string; password: string } | null>(null);

export function Confirm() {
  const t = useT();
  const lang = useLang();
  const form = useRef<HTMLFormElement>(null);
  const fromSignUp = pendingSignUp.get();
  const [email, setEmail] = useState(fromSignUp?.email ?? '');
  const [password, setPassword] = useState(fromSignUp?.password ?? '');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await ok(api.POST('/v1/accounts/confirm', { body: { email: email.trim(), code: code.trim(), password } }));
      pendingSignUp.set(null);
      const outcome = await signIn(email.trim(), password);
      if (outcome.kind === 'signed-in') navigate(homeOf(outcome.session.me.role), { replace: true });
      else navigate('/sign-in', { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
      if (isFieldError(err)) focusFirstInvalid(form.current);
    }
  };

  // A wrong password at confirmation is refused like a wrong code: the form shows both again.
  const askPassword = !fromSignUp || (error instanceof ApiError && (error.field('password') !== undefined || error.code === 'INVALID_CREDENTIALS'));

  // A sign-up waits 24 hours for its confirmation; after that the only way is to sign up again.
  const expired = error instanceof ApiError && error.code === 'EXPIRED_CODE';

  return (
    <Page title={t.confirm.title}>
      <div class="narrow">
        {fromSignUp ? <Notice kind="success">{t.confirm.sent}</Notice> : <p>{t.confirm.intro}</p>}
        {error && !isFieldError(error) ? <ErrorNotice error={error} /> : null}
        {expired ? (
          <p>
            <Link href="/sign-up">{t.confirm.signUpAgain}</Link>
          </p>
        ) : null}
        <form class="card" ref={form} onSubmit={submit} noValidate>
          {fromSignUp ? null : (
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
          )}
          {askPassword ? (
            <Field
              label={t.fields.password}
              type="password"
              name="password"
              autocomplete="current-password"
              hint={t.confirm.passwordHint}
              value={password}
              onValue={setPassword}
              error={fieldError(t, lang, error, 'password')}
              required
            />
          ) : null}
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
