import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { ApiError } from '../../api/errors';
import { homeOf } from '../../app';
import { useT } from '../../i18n';
import { navigate } from '../../router';
import { signIn } from '../../session';
import { createStore } from '../../store';
import { Link } from '../../ui/link';
import { Button, Field, Notice, Page } from '../../ui/kit';
import { fieldBinder, FormErrorNotice, useFormSubmit } from '../../ui/forms';
import { CodeField } from '../../ui/fields';

/**
 * What was just signed up with, in memory only until the address is confirmed: the API asks for
 * the password again at confirmation (whoever confirms must be whoever signed up), and the
 * portal then signs the person in without asking a third time.
 */
export const pendingSignUp = createStore<{ email: string; password: string } | null>(null);

export function Confirm() {
  const t = useT();
  const fromSignUp = pendingSignUp.get();
  const [v, setV] = useState({ email: fromSignUp?.email ?? '', password: fromSignUp?.password ?? '', code: '' });
  const set = (patch: Partial<typeof v>) => setV((prev) => ({ ...prev, ...patch }));
  const { form, busy, error, submit, errorOf } = useFormSubmit(
    async () => {
      const email = v.email.trim();
      await ok(api.POST('/v1/accounts/confirm', { body: { email, code: v.code.trim(), password: v.password } }));
      pendingSignUp.set(null);
      const outcome = await signIn(email, v.password);
      if (outcome.kind === 'signed-in') navigate(homeOf(outcome.session.me.role), { replace: true });
      else navigate('/sign-in', { replace: true });
    },
    { leavesOnSuccess: true },
  );
  const bind = fieldBinder(v, set, errorOf);

  // A wrong password at confirmation is refused like a wrong code: the form shows both again.
  const askPassword = !fromSignUp || (error instanceof ApiError && (error.field('password') !== undefined || error.code === 'INVALID_CREDENTIALS'));

  // A sign-up waits 24 hours for its confirmation; after that the only way is to sign up again.
  const expired = error instanceof ApiError && error.code === 'EXPIRED_CODE';

  return (
    <Page title={t.confirm.title}>
      <div class="narrow">
        {fromSignUp ? <Notice kind="success">{t.confirm.sent}</Notice> : <p>{t.confirm.intro}</p>}
        <FormErrorNotice error={error} />
        {expired ? (
          <p>
            <Link href="/sign-up">{t.confirm.signUpAgain}</Link>
          </p>
        ) : null}
        <form class="card" ref={form} onSubmit={submit} noValidate>
          {fromSignUp ? null : <Field label={t.fields.email} type="email" autocomplete="email" {...bind('email')} required />}
          {askPassword ? (
            <Field label={t.fields.password} type="password" autocomplete="current-password" hint={t.confirm.passwordHint} {...bind('password')} required />
          ) : null}
          <CodeField label={t.fields.code} hint={t.fields.codeHint} {...bind('code')} required />
          <Button type="submit" busy={busy} icon="check">
            {t.confirm.submit}
          </Button>
        </form>
      </div>
    </Page>
  );
}
