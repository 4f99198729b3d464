import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { allDoctors, allExams } from '../../api/reads';
import type { Doctor, Exam, ExamStatus } from '../../api/types';
import { useLang, useT } from '../../i18n';
import { dateTime, examLabel } from '../../i18n/format';
import { Button, Empty, ErrorNotice, Loading, Notice, Page, SelectField, useAsync } from '../../ui/kit';
import { ExamStatusBadge } from '../../ui/status';

function ExamRow({ exam, doctors, onChanged }: { exam: Exam; doctors: Doctor[]; onChanged: (exam: Exam, message: string) => void }) {
  const t = useT();
  const lang = useLang();
  const [doctorId, setDoctorId] = useState(exam.doctorId ?? '');
  const [busy, setBusy] = useState<'assign' | 'collect' | null>(null);
  const [error, setError] = useState<unknown>(null);
  const doctor = doctors.find((d) => d.id === exam.doctorId);
  const open = exam.status !== 'CANCELLED' && exam.status !== 'RESULT_READY';

  const assign = async () => {
    if (!doctorId) return;
    setBusy('assign');
    setError(null);
    try {
      const updated = await ok(api.POST('/v1/exams/{id}/assign', { params: { path: { id: exam.id } }, body: { doctorId } }));
      onChanged(updated, t.staffExams.assigned(doctors.find((d) => d.id === doctorId)?.name ?? ''));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  const collect = async () => {
    setBusy('collect');
    setError(null);
    try {
      const updated = await ok(api.POST('/v1/exams/{id}/collect', { params: { path: { id: exam.id } } }));
      onChanged(updated, t.doctor.stepDone(examLabel(updated.examType), t.examStatus[updated.status]));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  return (
    <li>
      <div>
        <div class="title">
          {examLabel(exam.examType)} <ExamStatusBadge status={exam.status} />
        </div>
        <div class="meta">
          {exam.hospitalName} · {dateTime(lang, exam.scheduledAt)} · {doctor ? doctor.name : t.staffExams.noDoctor}
        </div>
      </div>
      {open ? (
        <div class="row">
          <SelectField
            label={t.staffExams.doctor}
            value={doctorId}
            onValue={setDoctorId}
            options={[{ value: '', label: t.staffExams.chooseDoctor }, ...doctors.map((d) => ({ value: d.id, label: `${d.name} (CRM ${d.crm}/${d.uf})` }))]}
          />
          <div class="actions field">
            <Button variant="secondary" busy={busy === 'assign'} disabled={!doctorId || doctorId === exam.doctorId} onClick={assign}>
              {t.staffExams.assign}
            </Button>
            {exam.status === 'SCHEDULED' ? (
              <Button variant="ghost" busy={busy === 'collect'} onClick={collect}>
                {t.doctor.collect}
              </Button>
            ) : null}
          </div>
        </div>
      ) : null}
      {error ? <ErrorNotice error={error} /> : null}
    </li>
  );
}

export function StaffExams() {
  const t = useT();
  const [status, setStatus] = useState<ExamStatus | ''>('');
  const exams = useAsync(() => allExams(status ? { status } : {}), [status]);
  const doctors = useAsync(allDoctors, []);
  const [message, setMessage] = useState<string | null>(null);
  const list = [...(exams.data ?? [])].sort((a, b) => b.scheduledAt.localeCompare(a.scheduledAt));

  return (
    <Page title={t.staffExams.title} actions={<Button variant="secondary" icon="refresh" onClick={exams.reload}>{t.common.refresh}</Button>}>
      <div class="row">
        <SelectField
          label={t.staffExams.filter}
          value={status}
          onValue={(v) => setStatus(v as ExamStatus | '')}
          options={[
            { value: '', label: t.staffExams.all },
            ...(['SCHEDULED', 'COLLECTED', 'COMPLETED', 'RESULT_READY', 'CANCELLED'] as ExamStatus[]).map((s) => ({ value: s, label: t.examStatus[s] })),
          ]}
        />
      </div>
      {message ? <Notice kind="success">{message}</Notice> : null}
      {exams.error ? <ErrorNotice error={exams.error} onRetry={exams.reload} /> : null}
      {doctors.error ? <ErrorNotice error={doctors.error} onRetry={doctors.reload} /> : null}
      {exams.loading && !exams.data ? <Loading /> : null}
      {exams.data && list.length === 0 ? <Empty icon="calendar">{t.staffExams.empty}</Empty> : null}
      {list.length > 0 ? (
        <ul class="list">
          {list.map((exam) => (
            <ExamRow
              key={`${exam.id}-${exam.updatedAt}`}
              exam={exam}
              doctors={doctors.data ?? []}
              onChanged={(updated, text) => {
                setMessage(text);
                exams.set((exams.data ?? []).map((e) => (e.id === updated.id ? updated : e)));
              }}
            />
          ))}
        </ul>
      ) : null}
    </Page>
  );
}
