import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../api/errors';
import { homeOf } from '../../app';
import { useT } from '../../i18n';
import { navigate, safeNext, usePlace } from '../../router';
import { choosePassword, ending, session, signIn, lastEmail, type SignedIn, type SignInOutcome } from '../../session';
import { useStore } from '../../store';
import { Link } from '../../ui/link';
import { Button, ErrorNotice, Field, Notice, Page } from '../../ui/kit';
import { MfaChallenge, MfaSetup } from './second-factor';

/** Where the sign-in is: the credentials, or a step the API asked for before giving tokens. */
type Step = { kind: 'credentials' } | Exclude<SignInOutcome, { kind: 'signed-in' }>;

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
  const [step, setStep] = useState<Step>({ kind: 'credentials' });
  const [newPassword, setNewPassword] = useState('');

  const go = (s: SignedIn) => navigate(next ?? homeOf(s.me.role), { replace: true });

  useEffect(() => {
    if (signedIn && !busy) go(signedIn);
  }, []);

  /** Signed in, or on to the next step the API asked for. */
  const follow = (outcome: SignInOutcome) => {
    if (outcome.kind === 'signed-in') {
      go(outcome.session);
      return;
    }
    setStep(outcome);
    setBusy(false);
  };

  /** Back to the credentials (a sign-in session expired, or the person chose to start again). */
  const restart = (reason: unknown) => {
    setStep({ kind: 'credentials' });
    setPassword('');
    setNewPassword('');
    setError(reason);
    setBusy(false);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      follow(await signIn(email.trim(), password));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const submitNewPassword = async (e: Event) => {
    e.preventDefault();
    if (step.kind !== 'new-password') return;
    setBusy(true);
    setError(null);
    try {
      follow(await choosePassword(email.trim(), step.session, newPassword));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'INVALID_SESSION') {
        restart(err);
        return;
      }
      setError(err);
      setBusy(false);
    }
  };

  const notConfirmed = error instanceof ApiError && error.code === 'ACCOUNT_NOT_CONFIRMED';
  const passwordProblem = error instanceof ApiError ? error.field('newPassword') : undefined;
  const title =
    step.kind === 'new-password'
      ? t.signIn.newPasswordTitle
      : step.kind === 'mfa'
        ? t.mfa.title
        : step.kind === 'mfa-setup'
          ? t.mfa.setupTitle
          : t.signIn.title;

  return (
    // A new step is a new page for keyboard and screen-reader users: its heading takes the focus.
    <Page title={title} key={step.kind}>
      <div class={step.kind === 'mfa-setup' ? 'medium' : 'narrow'}>
        {step.kind === 'credentials' ? (
          <>
            {ended === 'idle' ? <Notice kind="warning">{t.signIn.endedIdle}</Notice> : null}
            {ended === 'expired' ? <Notice kind="warning">{t.signIn.endedExpired}</Notice> : null}
            {ended === 'signed-out' ? <Notice kind="success">{t.signIn.endedSignedOut}</Notice> : null}
            {ended === 'deleted' ? <Notice kind="success">{t.signIn.endedDeleted}</Notice> : null}
            {ended === 'erased' ? <Notice kind="warning">{t.signIn.endedErased}</Notice> : null}
          </>
        ) : null}
        {error && !passwordProblem ? <ErrorNotice error={error} /> : null}
        {notConfirmed ? (
          <p>
            <Link href="/confirm">{t.signIn.goConfirm}</Link>
          </p>
        ) : null}
        {step.kind === 'mfa' ? <MfaChallenge email={email.trim()} step={step} onSignedIn={go} onRestart={restart} /> : null}
        {step.kind === 'mfa-setup' ? <MfaSetup email={email.trim()} step={step} onSignedIn={go} onRestart={restart} /> : null}
        {step.kind === 'new-password' ? (
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
        ) : null}
        {step.kind === 'credentials' ? (
          <>
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
            <p>
              {t.signIn.noAccount} <Link href="/sign-up">{t.signIn.signUp}</Link>
            </p>
            <p>
              <Link href="/confirm">{t.signIn.haveCode}</Link>
            </p>
          </>
        ) : null}
      </div>
    </Page>
  );
}
