import { useRef, useState } from 'preact/hooks';
import { api, idempotencyKey, ok } from '../../api/client';
import { ApiError } from '../../api/errors';
import { allHospitals } from '../../api/reads';
import type { Slot } from '../../api/types';
import { useDraft } from '../../drafts';
import { flash } from '../../flash';
import { useLang, useT } from '../../i18n';
import { date, time, examLabel } from '../../i18n/format';
import { navigate } from '../../router';
import { Button, Empty, ErrorNotice, LoadStatus, Notice, Page, SelectField, useAsync } from '../../ui/kit';

const DAYS_AHEAD = 60;

async function openSlots(hospitalId: string, examType: string): Promise<Slot[]> {
  const from = new Date();
  const to = new Date(from.getTime() + DAYS_AHEAD * 86_400_000);
  const answer = await ok(
    api.GET('/v1/slots', {
      params: { query: { hospitalId, examType, from: from.toISOString(), to: to.toISOString(), limit: '200' } },
    }),
  );
  return answer.items.filter((s) => s.remaining > 0).sort((a, b) => a.start.localeCompare(b.start));
}

/** Slots grouped by day, in order. */
function byDay(lang: string, slots: Slot[]): [string, Slot[]][] {
  const groups = new Map<string, Slot[]>();
  for (const slot of slots) {
    const key = new Date(slot.start).toLocaleDateString(lang);
    groups.set(key, [...(groups.get(key) ?? []), slot]);
  }
  return [...groups.entries()];
}

function SlotChoice({ slot, checked, onPick }: { slot: Slot; checked: boolean; onPick: () => void }) {
  const t = useT();
  const lang = useLang();
  return (
    <li>
      <label class="slot" data-checked={checked ? 'true' : 'false'}>
        <input type="radio" name="slot" value={slot.id} checked={checked} onChange={onPick} class="slot-radio" />
        <span class="when">
          {time(lang, slot.start)}–{time(lang, slot.end)}
        </span>
        <span class="meta">{t.book.remaining(slot.remaining)}</span>
      </label>
    </li>
  );
}

export function Book() {
  const t = useT();
  const lang = useLang();
  const [form, update] = useDraft('book', { hospitalId: '', examType: '', slotId: '' });
  const hospitals = useAsync(allHospitals, []);
  const hospital = hospitals.data?.find((h) => h.id === form.hospitalId);
  const slots = useAsync(
    () => (form.hospitalId && form.examType ? openSlots(form.hospitalId, form.examType) : Promise.resolve([] as Slot[])),
    [form.hospitalId, form.examType],
  );
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [full, setFull] = useState<{ taken: Slot; next: Slot[] } | null>(null);
  // One key per slot tried: resubmitting the same slot (after a failure) replays, never books twice.
  const keys = useRef(new Map<string, string>());
  const chosen = slots.data?.find((s) => s.id === form.slotId);

  const book = async (e: Event) => {
    e.preventDefault();
    if (!chosen) return;
    setBusy(true);
    setError(null);
    setFull(null);
    const key = keys.current.get(chosen.id) ?? idempotencyKey();
    keys.current.set(chosen.id, key);
    try {
      const booked = await ok(
        api.POST('/v1/appointments', {
          params: { header: { 'Idempotency-Key': key } },
          body: { slotId: chosen.id },
        }),
      );
      flash.set({ kind: 'success', text: t.book.booked(examLabel(chosen.examType), `${date(lang, chosen.start)} ${time(lang, chosen.start)}`) });
      update({ hospitalId: '', examType: '', slotId: '' });
      navigate(`/exams/${booked.examId}`);
    } catch (err) {
      setBusy(false);
      if (err instanceof ApiError && err.code === 'SLOT_FULL') {
        // Someone took the last place: offer the next open slots of the same exam.
        const fresh = await openSlots(chosen.hospitalId, chosen.examType).catch(() => [] as Slot[]);
        slots.set(fresh);
        setFull({ taken: chosen, next: fresh.filter((s) => s.start >= chosen.start && s.id !== chosen.id).slice(0, 3) });
        update({ slotId: '' });
        setTimeout(() => document.getElementById('slot-full')?.focus(), 0);
      } else {
        setError(err);
      }
    }
  };

  return (
    <Page title={t.book.title}>
      <p class="muted">{t.book.intro}</p>
      <LoadStatus load={hospitals} />
      {hospitals.data && hospitals.data.length === 0 ? <Empty icon="hospital">{t.book.noHospitals}</Empty> : null}
      {hospitals.data && hospitals.data.length > 0 ? (
        <form class="card" onSubmit={book}>
          <div class="row">
            <SelectField
              label={t.book.hospital}
              value={form.hospitalId}
              onValue={(hospitalId) => update({ hospitalId, examType: '', slotId: '' })}
              options={[{ value: '', label: t.book.chooseHospital }, ...hospitals.data.map((h) => ({ value: h.id, label: h.name }))]}
            />
            <SelectField
              label={t.book.examType}
              value={form.examType}
              onValue={(examType) => update({ examType, slotId: '' })}
              options={[
                { value: '', label: hospital ? t.book.chooseExam : t.book.chooseHospitalFirst },
                ...(hospital?.examTypes ?? []).map((x) => ({ value: x, label: examLabel(x) })),
              ]}
            />
          </div>
          {full ? (
            <div id="slot-full" tabIndex={-1}>
              <Notice kind="warning">
                <p>{t.book.slotFull(time(lang, full.taken.start), date(lang, full.taken.start))}</p>
                {full.next.length ? (
                  <>
                    <p>{t.book.nextSlots}</p>
                    <div class="actions">
                      {full.next.map((s) => (
                        <Button variant="secondary" key={s.id} onClick={() => update({ slotId: s.id })}>
                          {`${date(lang, s.start)} ${time(lang, s.start)} · ${t.book.remaining(s.remaining)}`}
                        </Button>
                      ))}
                    </div>
                  </>
                ) : (
                  <p>{t.book.noNextSlots}</p>
                )}
              </Notice>
            </div>
          ) : null}
          {form.hospitalId && form.examType ? (
            <fieldset>
              <legend>{t.book.slot}</legend>
              <LoadStatus load={slots} label={t.book.loadingSlots} />
              {slots.data && slots.data.length === 0 ? <Empty icon="calendar">{t.book.noSlots}</Empty> : null}
              {slots.data && slots.data.length > 0
                ? byDay(lang, slots.data).map(([day, daySlots]) => (
                    <div key={day} class="day">
                      <h3>{date(lang, daySlots[0]!.start)}</h3>
                      <ul class="slots">
                        {daySlots.map((slot) => (
                          <SlotChoice key={slot.id} slot={slot} checked={form.slotId === slot.id} onPick={() => update({ slotId: slot.id })} />
                        ))}
                      </ul>
                    </div>
                  ))
                : null}
            </fieldset>
          ) : null}
          {error ? <ErrorNotice error={error} onRetry={() => setError(null)} /> : null}
          {chosen ? (
            <p>
              {t.book.summary(examLabel(chosen.examType), chosen.hospitalName, `${date(lang, chosen.start)} ${time(lang, chosen.start)}`)}
            </p>
          ) : null}
          <Button type="submit" busy={busy} disabled={!chosen} icon="calendar">
            {t.book.submit}
          </Button>
        </form>
      ) : null}
    </Page>
  );
}
