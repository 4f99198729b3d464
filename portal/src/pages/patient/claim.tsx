import { useRef, useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { ApiError } from '../../api/errors';
import type { Exam } from '../../api/types';
import { useDraft } from '../../drafts';
import { useLang, useT } from '../../i18n';
import { dateTime, examLabel } from '../../i18n/format';
import { Link } from '../../ui/link';
import { Button, ErrorNotice, Field, Notice, Page } from '../../ui/kit';
import { ExamStatusBadge } from '../../ui/status';

/** Crockford base32 without the letters it never uses (I, L, O, U). */
const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{16}$/;

/** The code as people type it → 16 upper-case characters (dashes and spaces dropped). */
export function normaliseAccessCode(raw: string): string {
  return raw.toUpperCase().replace(/[\s-]/g, '');
}

/** `ABCDEFGHJKMNPQRS` → `ABCD-EFGH-JKMN-PQRS`. */
export function groupAccessCode(code: string): string {
  return code.match(/.{1,4}/g)?.join('-') ?? code;
}

export function Claim() {
  const t = useT();
  const lang = useLang();
  const form = useRef<HTMLFormElement>(null);
  const [draft, update, reset] = useDraft('claim', { code: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [localError, setLocalError] = useState<string | undefined>();
  const [claimed, setClaimed] = useState<Exam | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    const code = normaliseAccessCode(draft.code);
    setError(null);
    setClaimed(null);
    if (!CROCKFORD.test(code)) {
      setLocalError(t.claim.format);
      setTimeout(() => form.current?.querySelector<HTMLInputElement>('input')?.focus(), 0);
      return;
    }
    setLocalError(undefined);
    setBusy(true);
    try {
      const exam = await ok(api.POST('/v1/exams:claim', { body: { accessCode: groupAccessCode(code) } }));
      setClaimed(exam);
      reset();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const invalid = error instanceof ApiError && error.code === 'ACCESS_CODE_INVALID';

  return (
    <Page title={t.claim.title}>
      <p>{t.claim.intro}</p>
      <p class="muted small">{t.claim.why}</p>
      {claimed ? (
        <Notice kind="success">
          <p>{t.claim.done(examLabel(claimed.examType), dateTime(lang, claimed.scheduledAt))}</p>
          <p>
            <ExamStatusBadge status={claimed.status} /> <Link href={`/exams/${claimed.id}`}>{t.claim.open}</Link>
          </p>
        </Notice>
      ) : null}
      {error && !invalid ? <ErrorNotice error={error} /> : null}
      <form class="card narrow" ref={form} onSubmit={submit} noValidate>
        <Field
          label={t.claim.code}
          name="accessCode"
          autocomplete="off"
          spellcheck={false}
          autoCapitalize="characters"
          hint={t.claim.hint}
          value={draft.code}
          onValue={(code) => update({ code })}
          error={localError ?? (invalid ? t.errors.ACCESS_CODE_INVALID : undefined)}
          required
        />
        <Button type="submit" busy={busy} icon="key">
          {t.claim.submit}
        </Button>
      </form>
    </Page>
  );
}
