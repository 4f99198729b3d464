import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../api/errors';
import { homeOf } from '../../app';
import { useT } from '../../i18n';
import { navigate, safeNext, usePlace } from '../../router';
import { choosePassword, ending, session, signIn, lastEmail, type SignedIn } from '../../session';
import { useStore } from '../../store';
import { Link } from '../../ui/link';
import { Button, ErrorNotice, Field, Notice, Page } from '../../ui/kit';

export function SignIn() {
  const t = useT();
  const place = usePlace();
  const ended = useStore(ending);
  const signedIn = useStore(session);
  const next = safeNext(place.query.get('next'));
  const [email, setEmail] = useState(lastEmail() ?? '');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [challenge, setChallenge] = useState<string | null>(null);
  const [newPassword, setNewPassword] = useState('');

  const go = (s: SignedIn) => navigate(next ?? homeOf(s.me.role), { replace: true });

  useEffect(() => {
    if (signedIn && !busy) go(signedIn);
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const outcome = await signIn(email.trim(), password);
      if (outcome.kind === 'new-password') {
        setChallenge(outcome.session);
        setBusy(false);
        return;
      }
      go(outcome.session);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const submitNewPassword = async (e: Event) => {
    e.preventDefault();
    if (!challenge) return;
    setBusy(true);
    setError(null);
    try {
      go(await choosePassword(email.trim(), challenge, newPassword));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const notConfirmed = error instanceof ApiError && error.code === 'ACCOUNT_NOT_CONFIRMED';
  const passwordProblem = error instanceof ApiError ? error.field('newPassword') : undefined;

  return (
    <Page title={challenge ? t.signIn.newPasswordTitle : t.signIn.title}>
      <div class="narrow">
        {ended === 'idle' ? <Notice kind="warning">{t.signIn.endedIdle}</Notice> : null}
        {ended === 'expired' ? <Notice kind="warning">{t.signIn.endedExpired}</Notice> : null}
        {ended === 'signed-out' ? <Notice kind="success">{t.signIn.endedSignedOut}</Notice> : null}
        {ended === 'deleted' ? <Notice kind="success">{t.signIn.endedDeleted}</Notice> : null}
        {error && !passwordProblem ? <ErrorNotice error={error} /> : null}
        {notConfirmed ? (
          <p>
            <Link href="/confirm">{t.signIn.goConfirm}</Link>
          </p>
        ) : null}
        {challenge ? (
          <form class="card" onSubmit={submitNewPassword} noValidate>
            <p>{t.signIn.newPasswordIntro}</p>
            <Field
              label={t.fields.newPassword}
              type="password"
              autocomplete="new-password"
              value={newPassword}
              onValue={setNewPassword}
              hint={t.fields.passwordHint}
              error={passwordProblem}
              required
            />
            <Button type="submit" busy={busy}>
              {t.signIn.savePassword}
            </Button>
          </form>
        ) : (
          <form class="card" onSubmit={submit} noValidate aria-describedby="sign-in-intro">
            <p id="sign-in-intro" class="muted">
              {t.signIn.intro}
            </p>
            <Field label={t.fields.email} type="email" name="email" autocomplete="username" value={email} onValue={setEmail} required />
            <Field
              label={t.fields.password}
              type="password"
              name="password"
              autocomplete="current-password"
              value={password}
              onValue={setPassword}
              required
            />
            <Button type="submit" busy={busy} icon="user">
              {t.signIn.submit}
            </Button>
          </form>
        )}
        <p>
          {t.signIn.noAccount} <Link href="/sign-up">{t.signIn.signUp}</Link>
        </p>
        <p>
          <Link href="/confirm">{t.signIn.haveCode}</Link>
        </p>
      </div>
    </Page>
  );
}
