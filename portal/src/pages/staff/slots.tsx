import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { ApiError } from '../../api/errors';
import type { Slot } from '../../api/types';
import { useDraft } from '../../drafts';
import { useLang, useT } from '../../i18n';
import { date, time } from '../../i18n/format';
import { Button, Empty, ErrorNotice, Field, LoadStatus, Notice, Page, SelectField, useAsync } from '../../ui/kit';
import { allHospitals } from '../../api/reads';

interface Plan {
  examType: string;
  start: string;
  end: string;
  capacity: number;
}

function tomorrow(): string {
  const d = new Date(Date.now() + 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** Consecutive slots from the form (times in this browser's time zone). */
export function plan(day: string, firstStart: string, minutes: number, count: number, capacity: number, examType: string): Plan[] {
  const first = new Date(`${day}T${firstStart}`);
  if (Number.isNaN(first.getTime()) || minutes <= 0 || count <= 0) return [];
  return Array.from({ length: Math.min(count, 50) }, (_, i) => {
    const start = new Date(first.getTime() + i * minutes * 60_000);
    const end = new Date(start.getTime() + minutes * 60_000);
    return { examType, start: start.toISOString(), end: end.toISOString(), capacity };
  });
}

export function StaffSlots() {
  const t = useT();
  const lang = useLang();
  const hospitals = useAsync(allHospitals, []);
  const [draft, update] = useDraft('staff-slots', {
    hospitalId: '',
    examType: '',
    day: tomorrow(),
    start: '08:00',
    minutes: '30',
    count: '4',
    capacity: '3',
  });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [published, setPublished] = useState<Slot[] | null>(null);
  const hospital = hospitals.data?.find((h) => h.id === draft.hospitalId);
  const slots = plan(draft.day, draft.start, Number(draft.minutes), Number(draft.count), Number(draft.capacity), draft.examType.trim());

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!draft.hospitalId) return;
    setBusy(true);
    setError(null);
    setPublished(null);
    try {
      const answer = await ok(api.PUT('/v1/hospitals/{id}/slots', { params: { path: { id: draft.hospitalId } }, body: slots }));
      setPublished(answer.items);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title={t.slots.title}>
      <p class="muted">{t.slots.intro}</p>
      <LoadStatus load={hospitals} />
      {hospitals.data && hospitals.data.length === 0 ? <Empty icon="hospital">{t.slots.noHospitals}</Empty> : null}
      {published ? <Notice kind="success">{t.slots.published(published.length, hospital?.name ?? '')}</Notice> : null}
      {error ? (
        error instanceof ApiError && error.isValidation ? (
          <Notice kind="error">
            <p>{t.common.checkFields}</p>
            <ul>
              {error.errors.map((e) => (
                <li key={e.field}>
                  <code>{e.field}</code>: {e.message}
                </li>
              ))}
            </ul>
          </Notice>
        ) : (
          <ErrorNotice error={error} />
        )
      ) : null}
      {hospitals.data && hospitals.data.length > 0 ? (
        <form class="card" onSubmit={submit} noValidate>
          <div class="row">
            <SelectField
              label={t.slots.hospital}
              value={draft.hospitalId}
              onValue={(hospitalId) => update({ hospitalId })}
              options={[{ value: '', label: t.book.chooseHospital }, ...hospitals.data.map((h) => ({ value: h.id, label: h.name }))]}
            />
            <Field
              label={t.slots.examType}
              name="examType"
              list="known-exam-types"
              hint={t.slots.examTypeHint}
              value={draft.examType}
              onValue={(examType) => update({ examType })}
              required
            />
            <datalist id="known-exam-types">
              {[...new Set(hospitals.data.flatMap((h) => h.examTypes))].map((x) => (
                <option value={x} key={x} />
              ))}
            </datalist>
          </div>
          <div class="row">
            <Field label={t.slots.day} type="date" name="day" value={draft.day} onValue={(day) => update({ day })} required />
            <Field label={t.slots.firstStart} type="time" name="start" value={draft.start} onValue={(start) => update({ start })} required />
            <Field label={t.slots.minutes} type="number" name="minutes" min="5" max="480" value={draft.minutes} onValue={(minutes) => update({ minutes })} required />
            <Field label={t.slots.count} type="number" name="count" min="1" max="50" value={draft.count} onValue={(count) => update({ count })} required />
            <Field label={t.slots.capacity} type="number" name="capacity" min="0" max="1000" value={draft.capacity} onValue={(capacity) => update({ capacity })} required />
          </div>
          {slots.length > 0 && draft.examType.trim() ? (
            <p aria-live="polite">
              {t.slots.preview(slots.length, date(lang, slots[0]!.start), time(lang, slots[0]!.start), time(lang, slots[slots.length - 1]!.end))}
            </p>
          ) : null}
          <Button type="submit" busy={busy} disabled={!draft.hospitalId || !draft.examType.trim() || slots.length === 0} icon="clock">
            {t.slots.submit}
          </Button>
        </form>
      ) : null}
    </Page>
  );
}
