import { useState } from 'preact/hooks';
import { api, idempotencyKey, ok } from '../../api/client';
import { ApiError } from '../../api/errors';
import type { ExamStatus, Report, ReportFormat } from '../../api/types';
import { onDraftsCleared, useDraft } from '../../drafts';
import { reportBlob, saveBlob } from '../../files';
import { useLang, useT } from '../../i18n';
import { dateTime } from '../../i18n/format';
import { createStore, useStore } from '../../store';
import { Button, ErrorNotice, Field, Page, SelectField, useAsync, useInterval } from '../../ui/kit';
import { ReportStatusBadge } from '../../ui/status';
import { allHospitals } from '../../api/reads';

/**
 * Reports asked for during this session (there is no list route; the ids are kept in memory).
 * `expired`: the API answered `410 REPORT_EXPIRED` (past the 30-day retention).
 */
interface Entry {
  id: string;
  format: ReportFormat;
  report: Report | null;
  expired?: boolean;
}
const requested = createStore<Entry[]>([]);

const isExpired = (error: unknown) => error instanceof ApiError && error.code === 'REPORT_EXPIRED';
const markExpired = (id: string) => requested.set((all) => all.map((e) => (e.id === id ? { ...e, expired: true } : e)));

onDraftsCleared(() => requested.set([]));

const MIME: Record<ReportFormat, string> = {
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pdf: 'application/pdf',
};

function isoDay(offsetDays: number): string {
  return new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}

function Steps({ status }: { status: Report['status'] | 'queued' }) {
  const t = useT();
  const order = ['queued', 'processing', 'done'] as const;
  const at = status === 'error' ? -1 : order.indexOf(status as (typeof order)[number]);
  return (
    <ol class="steps" aria-label={t.reports.progress}>
      {order.map((s, i) => (
        <li key={s} data-state={status === 'error' ? (i === 0 ? 'failed' : 'todo') : i < at ? 'done' : i === at ? (s === 'done' ? 'done' : 'current') : 'todo'} aria-current={i === at ? 'step' : undefined}>
          {t.reportStatus[s]}
        </li>
      ))}
    </ol>
  );
}

function ReportItem({ entry }: { entry: Entry }) {
  const t = useT();
  const lang = useLang();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const status = entry.report?.status ?? 'queued';

  const download = async () => {
    setBusy(true);
    setError(null);
    try {
      saveBlob(await reportBlob(entry.id, MIME[entry.format]), `relatorio-exames-${entry.id}.${entry.format}`);
    } catch (err) {
      if (isExpired(err)) markExpired(entry.id);
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <li data-report-id={entry.id}>
      <div>
        <div class="title">
          {t.reports.name(entry.format.toUpperCase())} <ReportStatusBadge status={status} />
        </div>
        <div class="meta">
          {entry.report ? dateTime(lang, entry.report.createdAt) : '…'}
          {entry.report?.rows !== undefined && entry.report?.rows !== null ? ` · ${t.reports.rows(entry.report.rows)}` : ''}
        </div>
        <Steps status={status} />
        {status === 'error' ? <p class="field-error">{entry.report?.error ?? t.reports.failed}</p> : null}
        {entry.expired ? <p class="field-error">{t.errors.REPORT_EXPIRED}</p> : null}
        {error ? <ErrorNotice error={error} /> : null}
      </div>
      {status === 'done' && !entry.expired ? (
        <Button icon="download" busy={busy} onClick={download}>
          {t.reports.download}
        </Button>
      ) : null}
    </li>
  );
}

export function StaffReports() {
  const t = useT();
  const hospitals = useAsync(allHospitals, []);
  const list = useStore(requested);
  const [draft, update] = useDraft('staff-report', { format: 'xlsx', from: isoDay(-30), to: isoDay(30), hospitalId: '', status: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const pending = list.filter((e) => !e.expired && (!e.report || e.report.status === 'queued' || e.report.status === 'processing'));

  useInterval(
    async () => {
      for (const entry of pending) {
        try {
          const report = await ok(api.GET('/v1/reports/{id}', { params: { path: { id: entry.id } } }));
          requested.set((all) => all.map((e) => (e.id === entry.id ? { ...e, report } : e)));
        } catch (err) {
          // Past its retention it will never be ready; anything else: try again on the next tick.
          if (isExpired(err)) markExpired(entry.id);
        }
      }
    },
    1000,
    pending.length > 0,
  );

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const accepted = await ok(
        api.POST('/v1/reports', {
          params: { header: { 'Idempotency-Key': idempotencyKey() } },
          body: {
            kind: 'exams',
            format: draft.format,
            filters: {
              from: draft.from,
              to: draft.to,
              hospitalId: draft.hospitalId || null,
              status: (draft.status || null) as ExamStatus | null,
            },
          },
        }),
      );
      requested.set((all) => [{ id: accepted.reportId, format: draft.format as ReportFormat, report: null }, ...all]);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title={t.reports.title}>
      <p class="muted">{t.reports.intro}</p>
      <form class="card" onSubmit={submit} noValidate>
        <div class="row">
          <SelectField
            label={t.reports.format}
            value={draft.format}
            onValue={(format) => update({ format })}
            options={[
              { value: 'xlsx', label: t.reports.xlsx },
              { value: 'pdf', label: t.reports.pdf },
            ]}
          />
          <Field label={t.reports.from} type="date" name="from" value={draft.from} onValue={(from) => update({ from })} required />
          <Field label={t.reports.to} type="date" name="to" value={draft.to} onValue={(to) => update({ to })} required />
        </div>
        <div class="row">
          <SelectField
            label={t.reports.hospital}
            value={draft.hospitalId}
            onValue={(hospitalId) => update({ hospitalId })}
            options={[{ value: '', label: t.reports.allHospitals }, ...(hospitals.data ?? []).map((h) => ({ value: h.id, label: h.name }))]}
          />
          <SelectField
            label={t.reports.status}
            value={draft.status}
            onValue={(status) => update({ status })}
            options={[
              { value: '', label: t.reports.allStatuses },
              ...(['SCHEDULED', 'COLLECTED', 'COMPLETED', 'RESULT_READY', 'CANCELLED'] as ExamStatus[]).map((s) => ({ value: s, label: t.examStatus[s] })),
            ]}
          />
        </div>
        {error ? <ErrorNotice error={error} /> : null}
        <Button type="submit" busy={busy} icon="report">
          {t.reports.submit}
        </Button>
      </form>
      <h2 id="requested">{t.reports.requested}</h2>
      {list.length === 0 ? (
        <p class="muted">{t.reports.none}</p>
      ) : (
        <ul class="list" aria-labelledby="requested" aria-live="polite">
          {list.map((entry) => (
            <ReportItem entry={entry} key={entry.id} />
          ))}
        </ul>
      )}
    </Page>
  );
}
