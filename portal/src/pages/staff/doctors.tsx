import { useRef, useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { useDraft } from '../../drafts';
import { useLang, useT } from '../../i18n';
import { Button, Empty, ErrorNotice, Field, Loading, Notice, Page, useAsync } from '../../ui/kit';
import { fieldError, focusFirstInvalid, isFieldError } from '../../ui/forms';
import { allDoctors } from './exams';

const EMPTY = { name: '', email: '', crm: '', uf: '', specialty: '', temporaryPassword: '' };

export function StaffDoctors() {
  const t = useT();
  const lang = useLang();
  const form = useRef<HTMLFormElement>(null);
  const [draft, update, reset] = useDraft('staff-doctor', EMPTY);
  const doctors = useAsync(allDoctors, []);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      await ok(
        api.POST('/v1/doctors', {
          body: {
            name: draft.name.trim(),
            email: draft.email.trim(),
            crm: draft.crm.trim(),
            uf: draft.uf.trim().toUpperCase(),
            specialty: draft.specialty.trim(),
            temporaryPassword: draft.temporaryPassword || null,
          },
        }),
      );
      setCreated(draft.temporaryPassword ? t.doctors.createdWithPassword(draft.name) : t.doctors.createdByEmail(draft.name));
      reset();
      doctors.reload();
    } catch (err) {
      setError(err);
      if (isFieldError(err)) focusFirstInvalid(form.current);
    } finally {
      setBusy(false);
    }
  };
  const fe = (field: string) => fieldError(t, lang, error, field);

  return (
    <Page title={t.doctors.title}>
      {created ? <Notice kind="success">{created}</Notice> : null}
      {error && !isFieldError(error) ? <ErrorNotice error={error} /> : null}
      <form class="card" ref={form} onSubmit={submit} noValidate aria-labelledby="new-doctor">
        <h2 id="new-doctor">{t.doctors.register}</h2>
        <div class="row">
          <Field label={t.fields.name} name="name" value={draft.name} onValue={(name) => update({ name })} error={fe('name')} required />
          <Field label={t.fields.email} type="email" name="email" value={draft.email} onValue={(email) => update({ email })} error={fe('email')} required />
        </div>
        <div class="row">
          <Field label={t.fields.crm} name="crm" inputMode="numeric" value={draft.crm} onValue={(crm) => update({ crm })} error={fe('crm')} required />
          <Field label={t.fields.uf} name="uf" maxLength={2} hint={t.fields.ufHint} value={draft.uf} onValue={(uf) => update({ uf })} error={fe('uf')} required />
          <Field label={t.fields.specialty} name="specialty" value={draft.specialty} onValue={(specialty) => update({ specialty })} error={fe('specialty')} required />
        </div>
        <Field
          label={t.fields.temporaryPassword}
          type="password"
          name="temporaryPassword"
          autocomplete="new-password"
          hint={t.doctors.passwordHint}
          value={draft.temporaryPassword}
          onValue={(temporaryPassword) => update({ temporaryPassword })}
          error={fe('temporaryPassword')}
        />
        <Button type="submit" busy={busy} icon="plus">
          {t.doctors.submit}
        </Button>
      </form>
      <h2 id="doctor-list">{t.doctors.list}</h2>
      {doctors.error ? <ErrorNotice error={doctors.error} onRetry={doctors.reload} /> : null}
      {doctors.loading && !doctors.data ? <Loading /> : null}
      {doctors.data && doctors.data.length === 0 ? <Empty icon="user">{t.doctors.empty}</Empty> : null}
      {doctors.data && doctors.data.length > 0 ? (
        <div class="table-wrap" tabIndex={0} role="region" aria-labelledby="doctor-list">
          <table aria-labelledby="doctor-list">
            <thead>
              <tr>
                <th scope="col">{t.fields.name}</th>
                <th scope="col">CRM</th>
                <th scope="col">{t.fields.specialty}</th>
              </tr>
            </thead>
            <tbody>
              {doctors.data.map((d) => (
                <tr key={d.id}>
                  <td>{d.name}</td>
                  <td>
                    {d.crm}/{d.uf}
                  </td>
                  <td>{d.specialty}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}
