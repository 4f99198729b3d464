import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import type { Exam, ExamStatus } from '../../api/types';
import { useLang, useT } from '../../i18n';
import { dateTime, examLabel } from '../../i18n/format';
import { Link } from '../../ui/link';
import { Button, Empty, ErrorNotice, LoadStatus, Notice, Page, useAsync } from '../../ui/kit';
import { ExamStatusBadge } from '../../ui/status';
import { ExamSummary } from '../../ui/exam';
import { allExams } from '../../api/reads';

const TABS: ExamStatus[] = ['SCHEDULED', 'COLLECTED', 'COMPLETED', 'RESULT_READY', 'CANCELLED'];

/** Collect or complete, for the doctor's list and page. */
export function useExamStep(onDone: (exam: Exam) => void) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = async (exam: Exam) => {
    setBusy(exam.id);
    setError(null);
    try {
      const path = exam.status === 'SCHEDULED' ? '/v1/exams/{id}/collect' : '/v1/exams/{id}/complete';
      onDone(await ok(api.POST(path, { params: { path: { id: exam.id } } })));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  return { busy, error, run };
}

export function DoctorExams() {
  const t = useT();
  const lang = useLang();
  const [tab, setTab] = useState<ExamStatus>('SCHEDULED');
  const exams = useAsync(() => allExams(), []);
  const [done, setDone] = useState<string | null>(null);
  const step = useExamStep((exam) => {
    setDone(t.doctor.stepDone(examLabel(exam.examType), t.examStatus[exam.status]));
    exams.reload();
  });
  const list = (exams.data ?? []).filter((e) => e.status === tab).sort((a, b) => a.scheduledAt.localeCompare(b.scheduledAt));
  const count = (s: ExamStatus) => (exams.data ?? []).filter((e) => e.status === s).length;

  return (
    <Page title={t.doctor.title} actions={<Button variant="secondary" icon="refresh" onClick={exams.reload}>{t.common.refresh}</Button>}>
      <div class="tabs" role="group" aria-label={t.doctor.byStatus}>
        {TABS.map((s) => (
          <button type="button" key={s} aria-pressed={tab === s ? 'true' : 'false'} onClick={() => setTab(s)}>
            {t.examStatus[s]} ({exams.data ? count(s) : '…'})
          </button>
        ))}
      </div>
      {done ? <Notice kind="success">{done}</Notice> : null}
      {step.error ? <ErrorNotice error={step.error} /> : null}
      <LoadStatus load={exams} />
      {exams.data && list.length === 0 ? <Empty icon="calendar">{t.doctor.none(t.examStatus[tab])}</Empty> : null}
      {list.length > 0 ? (
        <ul class="list" aria-label={t.examStatus[tab]}>
          {list.map((exam) => (
            <li key={exam.id}>
              <ExamSummary exam={exam} />
              <div class="actions">
                <ExamStatusBadge status={exam.status} />
                {exam.status === 'SCHEDULED' || exam.status === 'COLLECTED' ? (
                  <Button variant="secondary" busy={step.busy === exam.id} onClick={() => step.run(exam)}>
                    {exam.status === 'SCHEDULED' ? t.doctor.collect : t.doctor.complete}
                  </Button>
                ) : null}
                <Link class="btn btn-primary" href={`/doctor/exams/${exam.id}`} aria-label={t.doctor.openNamed(examLabel(exam.examType), dateTime(lang, exam.scheduledAt))}>
                  {t.doctor.open}
                </Link>
              </div>
            </li>
          ))}
        </ul>
      ) : null}
    </Page>
  );
}
