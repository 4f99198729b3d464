import { useRef, useState } from 'preact/hooks';
import { ApiError } from '../../api/errors';
import { useT } from '../../i18n';
import { answerMfa, type SignedIn } from '../../session';
import { Button, CopyButton, ErrorNotice, Notice } from '../../ui/kit';
import { CodeField } from '../../ui/fields';
import { focusFirstInvalid } from '../../ui/forms';
import { QrCode } from '../../ui/qr';
import { groupSecret, isCode, normalizeCode } from '../../mfa';

/** The second-factor step of a sign-in the API asked for. */
export type SecondFactorStep = { kind: 'mfa'; session: string } | { kind: 'mfa-setup'; session: string; secretCode: string; otpauthUri: string };

/**
 * The authenticator code form, for both steps. A wrong code (`INVALID_MFA_CODE`) keeps the same
 * sign-in session and asks again; an expired session (`INVALID_SESSION`) sends the person back to
 * the start of the sign-in with the reason.
 */
function CodeForm({
  email,
  step,
  submitLabel,
  onSignedIn,
  onRestart,
}: {
  email: string;
  step: SecondFactorStep;
  submitLabel: string;
  onSignedIn: (s: SignedIn) => void;
  onRestart: (reason: unknown) => void;
}) {
  const t = useT();
  const form = useRef<HTMLFormElement>(null);
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [codeError, setCodeError] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const clean = normalizeCode(code);
    if (!isCode(clean)) {
      setCodeError(t.mfa.format);
      focusFirstInvalid(form.current);
      return;
    }
    setCodeError(undefined);
    setBusy(true);
    try {
      onSignedIn(await answerMfa(email, step.session, clean));
    } catch (err) {
      setBusy(false);
      if (err instanceof ApiError && err.code === 'INVALID_SESSION') {
        onRestart(err);
        return;
      }
      if (err instanceof ApiError && (err.code === 'INVALID_MFA_CODE' || err.field('code') !== undefined)) {
        setCodeError(err.code === 'INVALID_MFA_CODE' ? t.errors.INVALID_MFA_CODE : t.mfa.format);
        setCode('');
        focusFirstInvalid(form.current);
        return;
      }
      setError(err);
    }
  };

  return (
    <form ref={form} onSubmit={submit} noValidate>
      {error ? <ErrorNotice error={error} /> : null}
      <CodeField label={t.mfa.code} hint={t.mfa.codeHint} value={code} onValue={setCode} error={codeError} class="code-input" required />
      <div class="actions">
        <Button type="submit" busy={busy} icon="shield">
          {submitLabel}
        </Button>
        <Button variant="ghost" onClick={() => onRestart(null)} disabled={busy}>
          {t.mfa.restart}
        </Button>
      </div>
    </form>
  );
}

/** `SOFTWARE_TOKEN_MFA`: the person has an authenticator app; ask for its current code. */
export function MfaChallenge(props: { email: string; step: SecondFactorStep; onSignedIn: (s: SignedIn) => void; onRestart: (reason: unknown) => void }) {
  const t = useT();
  return (
    <div class="card">
      <p class="muted">{t.mfa.intro}</p>
      <p>{t.mfa.open}</p>
      <CodeForm {...props} submitLabel={t.mfa.submit} />
      <p class="muted small mfa-help">{t.mfa.lostDevice}</p>
    </div>
  );
}

/**
 * `MFA_SETUP`: staff or a doctor without an authenticator app. The secret is shown as a QR code
 * drawn in the page and as text to type or copy; the app's first code finishes the setup and the
 * sign-in.
 */
export function MfaSetup(props: {
  email: string;
  step: Extract<SecondFactorStep, { kind: 'mfa-setup' }>;
  onSignedIn: (s: SignedIn) => void;
  onRestart: (reason: unknown) => void;
}) {
  const t = useT();
  const { step, email } = props;
  return (
    <div class="card">
      <p>{t.mfa.setupIntro}</p>
      <ol class="setup-steps" aria-label={t.mfa.stepsLabel}>
        <li>{t.mfa.step1}</li>
        <li>
          <p>{t.mfa.step2}</p>
          <div class="qr-row">
            <div class="qr-box">
              <QrCode text={step.otpauthUri} label={t.mfa.qrLabel(email)} />
            </div>
            <div class="qr-manual">
              <p>{t.mfa.manual}</p>
              <code class="secret" id="mfa-secret">
                {groupSecret(step.secretCode)}
              </code>
              <CopyButton text={step.secretCode} label={t.mfa.copySecret} />
            </div>
          </div>
          <Notice kind="warning" icon="key">
            <p>{t.mfa.secretWarning}</p>
          </Notice>
        </li>
        <li>
          <p>{t.mfa.step3}</p>
          <CodeForm {...props} submitLabel={t.mfa.setupSubmit} />
        </li>
      </ol>
    </div>
  );
}
