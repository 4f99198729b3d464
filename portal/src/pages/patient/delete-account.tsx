import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { useT } from '../../i18n';
import { end } from '../../session';
import { Link } from '../../ui/link';
import { Button, Checkbox, ErrorNotice, Field, Page } from '../../ui/kit';

export function DeleteAccount() {
  const t = useT();
  const [step, setStep] = useState<'explain' | 'confirm'>('explain');
  const [understood, setUnderstood] = useState(false);
  const [word, setWord] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const ready = understood && word.trim().toUpperCase() === t.deletion.word;

  const erase = async (e: Event) => {
    e.preventDefault();
    if (!ready) return;
    setBusy(true);
    setError(null);
    try {
      await ok(api.DELETE('/v1/me'));
      end('deleted');
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Page title={t.deletion.title}>
      <section class="card" aria-labelledby="erased-title">
        <h2 id="erased-title">{t.deletion.erasedTitle}</h2>
        <ul>
          {t.deletion.erased.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      </section>
      <section class="card" aria-labelledby="kept-title">
        <h2 id="kept-title">{t.deletion.keptTitle}</h2>
        <ul>
          {t.deletion.kept.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
        <p class="muted small">{t.deletion.law}</p>
      </section>
      {step === 'explain' ? (
        <div class="actions">
          <Button variant="danger" onClick={() => setStep('confirm')}>
            {t.deletion.continue}
          </Button>
          <Link class="btn btn-secondary" href="/settings">
            {t.deletion.keep}
          </Link>
        </div>
      ) : (
        <form class="card danger-zone" onSubmit={erase} noValidate aria-labelledby="confirm-title">
          <h2 id="confirm-title">{t.deletion.confirmTitle}</h2>
          <Checkbox label={t.deletion.understand} checked={understood} onChecked={setUnderstood} />
          <Field label={t.deletion.typeWord(t.deletion.word)} name="confirmWord" autocomplete="off" value={word} onValue={setWord} required />
          {error ? <ErrorNotice error={error} onRetry={() => setError(null)} /> : null}
          <div class="actions">
            <Button type="submit" variant="danger" busy={busy} disabled={!ready} icon="trash">
              {t.deletion.submit}
            </Button>
            <Link class="btn btn-secondary" href="/settings">
              {t.deletion.keep}
            </Link>
          </div>
        </form>
      )}
    </Page>
  );
}
