import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { allExams } from '../../api/reads';
import type { Exam } from '../../api/types';
import { useLang, useT } from '../../i18n';
import { dateTime, examLabel } from '../../i18n/format';
import { Link } from '../../ui/link';
import { Button, Empty, ErrorNotice, LoadStatus, Notice, Page, useAsync } from '../../ui/kit';
import { ExamStatusBadge } from '../../ui/status';
import { ExamSummary } from '../../ui/exam';
import { useFlash } from '../../flash';

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
      <ExamSummary exam={exam} />
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

/** A headed list of exams; `children` stand in its place when it has none. */
function ExamGroup({ id, title, exams, onCancelled, children }: { id: string; title: string; exams: Exam[]; onCancelled: () => void; children: ComponentChildren }) {
  return (
    <>
      <h2 id={id}>{title}</h2>
      {exams.length ? (
        <ul class="list" aria-labelledby={id}>
          {exams.map((exam) => (
            <ExamItem exam={exam} key={exam.id} onCancelled={onCancelled} />
          ))}
        </ul>
      ) : (
        children
      )}
    </>
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
  const onCancelled = () => {
    setCancelled(true);
    exams.reload();
  };

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
      <LoadStatus load={exams} />
      {exams.data ? (
        <>
          <ExamGroup id="upcoming" title={t.exams.upcoming} exams={upcoming} onCancelled={onCancelled}>
            <Empty icon="calendar">
              {t.exams.noUpcoming} <Link href="/book">{t.exams.bookNow}</Link>
            </Empty>
          </ExamGroup>
          <ExamGroup id="past" title={t.exams.past} exams={past} onCancelled={onCancelled}>
            <Empty icon="file">{t.exams.noPast}</Empty>
          </ExamGroup>
        </>
      ) : null}
    </Page>
  );
}
