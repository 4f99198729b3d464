import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import type { Exam } from '../../api/types';
import { useLang, useT } from '../../i18n';
import { dateTime, examLabel } from '../../i18n/format';
import { Link } from '../../ui/link';
import { Button, Empty, ErrorNotice, Loading, Notice, Page, useAsync } from '../../ui/kit';
import { ExamStatusBadge } from '../../ui/status';
import { useFlash } from '../../flash';

/** Every exam of the caller (all pages). */
export async function allExams(query: { status?: string } = {}): Promise<Exam[]> {
  const items: Exam[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page += 1) {
    const answer = await ok(
      api.GET('/v1/exams', { params: { query: { limit: '200', ...(cursor ? { cursor } : {}), ...query } } }),
    );
    items.push(...answer.items);
    if (!answer.nextCursor) break;
    cursor = answer.nextCursor;
  }
  return items;
}

function ExamItem({ exam, onCancelled }: { exam: Exam; onCancelled: () => void }) {
  const t = useT();
  const lang = useLang();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const cancellable = exam.status === 'SCHEDULED' && exam.origin === 'BOOKING' && new Date(exam.scheduledAt) > new Date();

  const cancel = async () => {
    setBusy(true);
    setError(null);
    try {
      await ok(api.DELETE('/v1/appointments/{examId}', { params: { path: { examId: exam.id } } }));
      onCancelled();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <li>
      <div>
        <div class="title">{examLabel(exam.examType)}</div>
        <div class="meta">
          {exam.hospitalName} · <time dateTime={exam.scheduledAt}>{dateTime(lang, exam.scheduledAt)}</time>
        </div>
      </div>
      <div class="actions">
        <ExamStatusBadge status={exam.status} />
        <Link class="btn btn-secondary" href={`/exams/${exam.id}`} aria-label={t.exams.detailsOf(examLabel(exam.examType), dateTime(lang, exam.scheduledAt))}>
          {t.exams.details}
        </Link>
        {cancellable && !confirming ? (
          <Button variant="ghost" onClick={() => setConfirming(true)}>
            {t.exams.cancel}
          </Button>
        ) : null}
      </div>
      {confirming ? (
        <div class="card inline-confirm">
          <p role="alert">{t.exams.cancelQuestion(examLabel(exam.examType), dateTime(lang, exam.scheduledAt))}</p>
          {error ? <ErrorNotice error={error} /> : null}
          <div class="actions">
            <Button variant="danger" busy={busy} onClick={cancel}>
              {t.exams.cancelYes}
            </Button>
            <Button variant="secondary" onClick={() => setConfirming(false)}>
              {t.exams.cancelNo}
            </Button>
          </div>
        </div>
      ) : null}
    </li>
  );
}

export function PatientExams() {
  const t = useT();
  const flashed = useFlash();
  const [cancelled, setCancelled] = useState(false);
  const message = cancelled ? { kind: 'success' as const, text: t.exams.cancelled } : flashed;
  const exams = useAsync(() => allExams(), []);
  const now = Date.now();
  const list = exams.data ?? [];
  const upcoming = list
    .filter((e) => e.status !== 'CANCELLED' && new Date(e.scheduledAt).getTime() >= now)
    .sort((a, b) => a.scheduledAt.localeCompare(b.scheduledAt));
  const past = list
    .filter((e) => !upcoming.includes(e))
    .sort((a, b) => b.scheduledAt.localeCompare(a.scheduledAt));

  return (
    <Page
      title={t.exams.title}
      actions={
        <>
          <Link class="btn btn-primary" href="/book">
            {t.exams.book}
          </Link>
          <Link class="btn btn-secondary" href="/claim">
            {t.exams.claim}
          </Link>
        </>
      }
    >
      {message ? <Notice kind={message.kind}>{message.text}</Notice> : null}
      {exams.error ? <ErrorNotice error={exams.error} onRetry={exams.reload} /> : null}
      {exams.loading && !exams.data ? <Loading /> : null}
      {exams.data ? (
        <>
          <h2 id="upcoming">{t.exams.upcoming}</h2>
          {upcoming.length ? (
            <ul class="list" aria-labelledby="upcoming">
              {upcoming.map((exam) => (
                <ExamItem exam={exam} key={exam.id} onCancelled={() => {
                    setCancelled(true);
                    exams.reload();
                  }} />
              ))}
            </ul>
          ) : (
            <Empty icon="calendar">
              {t.exams.noUpcoming} <Link href="/book">{t.exams.bookNow}</Link>
            </Empty>
          )}
          <h2 id="past">{t.exams.past}</h2>
          {past.length ? (
            <ul class="list" aria-labelledby="past">
              {past.map((exam) => (
                <ExamItem exam={exam} key={exam.id} onCancelled={() => {
                    setCancelled(true);
                    exams.reload();
                  }} />
              ))}
            </ul>
          ) : (
            <Empty icon="file">{t.exams.noPast}</Empty>
          )}
        </>
      ) : null}
    </Page>
  );
}
