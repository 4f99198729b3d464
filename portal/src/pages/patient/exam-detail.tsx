import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { examById, filesOfExam } from '../../api/reads';
import type { AccessEntry, FileView } from '../../api/types';
import { fileBlob, openPdf, saveBlob } from '../../files';
import { useFlash } from '../../flash';
import { useLang, useT } from '../../i18n';
import { dateTime, examLabel } from '../../i18n/format';
import { session } from '../../session';
import { useStore } from '../../store';
import { Link } from '../../ui/link';
import { Button, Empty, ErrorNotice, LoadStatus, Notice, Page, TableRegion, useAsync } from '../../ui/kit';
import { ExamFacts } from '../../ui/exam';

function ResultFile({ file, onAccessed }: { file: FileView; onAccessed: () => void }) {
  const t = useT();
  const lang = useLang();
  const [busy, setBusy] = useState<'open' | 'download' | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [blocked, setBlocked] = useState(false);
  const name = file.fileName ?? 'resultado.pdf';

  const open = async () => {
    setBusy('open');
    setError(null);
    setBlocked(false);
    try {
      const notShown = await openPdf(() => fileBlob(file.fileId));
      if (notShown) {
        setBlocked(true);
        saveBlob(notShown, name);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
      onAccessed();
    }
  };

  const download = async () => {
    setBusy('download');
    setError(null);
    try {
      saveBlob(await fileBlob(file.fileId), name);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
      onAccessed();
    }
  };

  return (
    <li>
      <div>
        <div class="title">{name}</div>
        <div class="meta">
          {t.files.kind[file.kind]} · {dateTime(lang, file.processedAt ?? file.createdAt)}
        </div>
      </div>
      <div class="actions">
        <Button icon="open" busy={busy === 'open'} onClick={open} aria-label={t.files.openNamed(name)}>
          {t.files.open}
        </Button>
        <Button variant="secondary" icon="download" busy={busy === 'download'} onClick={download} aria-label={t.files.downloadNamed(name)}>
          {t.files.download}
        </Button>
      </div>
      {blocked ? <Notice kind="info">{t.files.popupBlocked}</Notice> : null}
      {error ? <ErrorNotice error={error} /> : null}
    </li>
  );
}

function AccessLog({ examId, version, files }: { examId: string; version: number; files: FileView[] }) {
  const t = useT();
  const lang = useLang();
  const me = useStore(session)?.me;
  const log = useAsync(
    () => ok(api.GET('/v1/exams/{id}/access-log', { params: { path: { id: examId }, query: { limit: '200' } } })),
    [examId, version],
  );
  // Erasures are written by the system itself (LGPD), not by a person.
  const who = (entry: AccessEntry) =>
    entry.actorId === me?.id ? t.access.you : entry.action === 'ERASED' && entry.actorId === 'system' ? t.access.system : t.roles[entry.actorRole];
  const fileName = (id: string) => files.find((f) => f.fileId === id)?.fileName ?? t.access.aFile;
  return (
    <section class="card" aria-labelledby="access-title">
      <h2 id="access-title">{t.access.title}</h2>
      <p class="muted">{t.access.intro}</p>
      <LoadStatus load={log} />
      {log.data && log.data.items.length === 0 ? <Empty icon="eye">{t.access.empty}</Empty> : null}
      {log.data && log.data.items.length > 0 ? (
        <TableRegion labelledBy="access-title" caption={t.access.title} columns={[t.access.when, t.access.who, t.access.what]}>
          {log.data.items.map((entry) => (
            <tr key={`${entry.requestId}-${entry.at}-${entry.fileId}`}>
              <td>
                <time dateTime={entry.at}>{dateTime(lang, entry.at)}</time>
              </td>
              <td>{who(entry)}</td>
              <td>
                {t.access.action[entry.action]} — {fileName(entry.fileId)}
              </td>
            </tr>
          ))}
        </TableRegion>
      ) : null}
    </section>
  );
}

export function ExamDetail({ params }: { params: Record<string, string> }) {
  const t = useT();
  const message = useFlash();
  const id = params.id ?? '';
  const [accessVersion, setAccessVersion] = useState(0);
  const exam = useAsync(() => examById(id), [id]);
  const files = useAsync(() => filesOfExam(id), [id]);
  const available = (files.data?.items ?? []).filter((f) => f.status === 'AVAILABLE');

  return (
    <Page title={exam.data ? examLabel(exam.data.examType) : t.exam.title} actions={<Link href="/exams">{t.exam.back}</Link>}>
      {message ? <Notice kind={message.kind}>{message.text}</Notice> : null}
      <LoadStatus load={exam} />
      {exam.data ? (
        <ExamFacts
          exam={exam.data}
          facts={
            <>
              <dt>{t.exam.origin}</dt>
              <dd>{t.exam.originName[exam.data.origin]}</dd>
            </>
          }
        />
      ) : null}
      <section class="card" aria-labelledby="results-title">
        <h2 id="results-title">{t.exam.results}</h2>
        <LoadStatus load={files} />
        {files.data && available.length === 0 ? <Empty icon="file">{t.exam.noResults}</Empty> : null}
        {available.length > 0 ? (
          <>
            <p class="muted small">{t.exam.resultsPrivacy}</p>
            <ul class="list">
              {available.map((file) => (
                <ResultFile file={file} key={file.fileId} onAccessed={() => setAccessVersion((n) => n + 1)} />
              ))}
            </ul>
          </>
        ) : null}
      </section>
      {exam.data ? <AccessLog examId={id} version={accessVersion} files={files.data?.items ?? []} /> : null}
    </Page>
  );
}
