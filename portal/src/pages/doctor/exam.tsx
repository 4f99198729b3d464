import { useRef, useState } from 'preact/hooks';
import { api, idempotencyKey, ok } from '../../api/client';
import { examById, filesOfExam } from '../../api/reads';
import type { FileView } from '../../api/types';
import { useLang, useT } from '../../i18n';
import { bytes, dateTime, examLabel } from '../../i18n/format';
import { putToS3 } from '../../upload';
import { Link } from '../../ui/link';
import { Button, Empty, ErrorNotice, Loading, LoadStatus, Notice, Page, useAsync, useInterval } from '../../ui/kit';
import { FileStatusBadge } from '../../ui/status';
import { ExamFacts } from '../../ui/exam';
import { useExamStep } from './exams';

const MAX_BYTES = 20 * 1024 * 1024;

type Phase =
  | { kind: 'idle' }
  | { kind: 'uploading'; fraction: number }
  | { kind: 'checking'; fileId: string }
  | { kind: 'finished'; file: FileView };

function RejectionText({ file }: { file: FileView }) {
  const t = useT();
  return <>{file.reason ? t.rejection[file.reason] : (file.reasonText ?? t.rejection.unknown)}</>;
}

export function DoctorExam({ params }: { params: Record<string, string> }) {
  const t = useT();
  const lang = useLang();
  const id = params.id ?? '';
  const exam = useAsync(() => examById(id), [id]);
  const files = useAsync(() => filesOfExam(id), [id]);
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const [error, setError] = useState<unknown>(null);
  const [localError, setLocalError] = useState<string | null>(null);
  const step = useExamStep((updated) => exam.set(updated));

  // While the uploaded file is being checked, watch it (and the exam, which becomes RESULT_READY).
  useInterval(
    async () => {
      if (phase.kind !== 'checking') return;
      try {
        const list = await filesOfExam(id);
        files.set(list);
        const mine = list.items.find((f) => f.fileId === phase.fileId);
        if (mine && mine.status !== 'PENDING') {
          setPhase({ kind: 'finished', file: mine });
          exam.set(await examById(id));
          setTimeout(() => document.getElementById('upload-outcome')?.focus(), 0);
        }
      } catch {
        // keep watching; a failed poll is retried on the next tick
      }
    },
    1000,
    phase.kind === 'checking',
  );

  const upload = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setLocalError(null);
    if (!file) {
      setLocalError(t.upload.chooseFirst);
      input.current?.focus();
      return;
    }
    if (file.size > MAX_BYTES) {
      setLocalError(t.upload.tooLarge);
      input.current?.focus();
      return;
    }
    setPhase({ kind: 'uploading', fraction: 0 });
    try {
      const ticket = await ok(
        api.POST('/v1/exams/{id}/files', {
          params: { path: { id } },
          // Accepted (optional) by the route: a retry of a lost answer replays the same ticket.
          headers: { 'Idempotency-Key': idempotencyKey() },
          body: { fileName: file.name, contentType: 'application/pdf', size: file.size, kind: 'result' },
        }),
      );
      await putToS3(ticket.uploadUrl, ticket.uploadHeaders, file, (fraction) => setPhase({ kind: 'uploading', fraction }));
      setPhase({ kind: 'checking', fileId: ticket.fileId });
      setFile(null);
      if (input.current) input.current.value = '';
    } catch (err) {
      setError(err);
      setPhase({ kind: 'idle' });
    }
  };

  const canStep = exam.data && (exam.data.status === 'SCHEDULED' || exam.data.status === 'COLLECTED');
  const uploading = phase.kind === 'uploading' || phase.kind === 'checking';

  return (
    <Page title={exam.data ? examLabel(exam.data.examType) : t.exam.title} actions={<Link href="/doctor">{t.doctor.back}</Link>}>
      <LoadStatus load={exam} />
      {exam.data ? (
        <ExamFacts exam={exam.data}>
          {step.error ? <ErrorNotice error={step.error} /> : null}
          {canStep ? (
            <p class="actions">
              <Button variant="secondary" busy={step.busy === exam.data.id} onClick={() => exam.data && step.run(exam.data)}>
                {exam.data.status === 'SCHEDULED' ? t.doctor.collect : t.doctor.complete}
              </Button>
            </p>
          ) : null}
        </ExamFacts>
      ) : null}

      <form class="card" onSubmit={upload} noValidate aria-labelledby="upload-title">
        <h2 id="upload-title">{t.upload.title}</h2>
        <p class="muted">{t.upload.intro}</p>
        <div class={`field${localError ? ' has-error' : ''}`}>
          <label for="result-file">{t.upload.file}</label>
          <p class="hint" id="result-file-hint">
            {t.upload.hint}
          </p>
          <input
            id="result-file"
            ref={input}
            type="file"
            accept="application/pdf,.pdf"
            aria-describedby={`result-file-hint${localError ? ' result-file-error' : ''}`}
            aria-invalid={localError ? 'true' : undefined}
            disabled={uploading}
            onChange={(e) => {
              setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null);
              setPhase({ kind: 'idle' });
              setLocalError(null);
            }}
          />
          {localError ? (
            <p class="field-error" id="result-file-error">
              {localError}
            </p>
          ) : null}
        </div>
        {file ? <p class="small">{t.upload.chosen(file.name, bytes(lang, file.size))}</p> : null}
        {phase.kind === 'uploading' ? (
          <div>
            <label for="upload-progress">{t.upload.sending(Math.round(phase.fraction * 100))}</label>
            <progress id="upload-progress" max={100} value={Math.round(phase.fraction * 100)} />
          </div>
        ) : null}
        {phase.kind === 'checking' ? <Loading label={t.upload.checking} /> : null}
        {phase.kind === 'finished' ? (
          <div id="upload-outcome" tabIndex={-1}>
            {phase.file.status === 'AVAILABLE' ? (
              <Notice kind="success">{t.upload.available}</Notice>
            ) : (
              <Notice kind="error">
                <p>{t.upload.rejected}</p>
                <p>
                  <strong>
                    <RejectionText file={phase.file} />
                  </strong>
                </p>
              </Notice>
            )}
          </div>
        ) : null}
        {error ? <ErrorNotice error={error} /> : null}
        <Button type="submit" icon="upload" busy={uploading}>
          {t.upload.submit}
        </Button>
      </form>

      <section class="card" aria-labelledby="files-title">
        <h2 id="files-title">{t.upload.files}</h2>
        <LoadStatus load={files} />
        {files.data && files.data.items.length === 0 ? <Empty icon="file">{t.upload.noFiles}</Empty> : null}
        {files.data && files.data.items.length > 0 ? (
          <ul class="list">
            {files.data.items.map((f) => (
              <li key={f.fileId}>
                <div>
                  <div class="title">{f.fileName ?? f.fileId}</div>
                  <div class="meta">
                    {t.files.kind[f.kind]} · {dateTime(lang, f.createdAt)} · {bytes(lang, f.size ?? f.declaredSize)}
                  </div>
                  {f.status === 'REJECTED' ? (
                    <div class="field-error">
                      <RejectionText file={f} />
                    </div>
                  ) : null}
                </div>
                <FileStatusBadge status={f.status} />
              </li>
            ))}
          </ul>
        ) : null}
      </section>
    </Page>
  );
}
