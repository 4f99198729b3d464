import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { useDraft } from '../../drafts';
import { useT } from '../../i18n';
import { Button, Empty, Field, LoadStatus, Notice, Page, TableRegion, useAsync } from '../../ui/kit';
import { fieldBinder, FormErrorNotice, useFormSubmit } from '../../ui/forms';
import { allDoctors } from '../../api/reads';

const EMPTY = { name: '', email: '', crm: '', uf: '', specialty: '', temporaryPassword: '' };

export function StaffDoctors() {
  const t = useT();
  const [draft, update, reset] = useDraft('staff-doctor', EMPTY);
  const doctors = useAsync(allDoctors, []);
  const [created, setCreated] = useState<string | null>(null);
  const { form, busy, error, submit, errorOf } = useFormSubmit(async () => {
    setCreated(null);
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
  });
  const bind = fieldBinder(draft, update, errorOf);

  return (
    <Page title={t.doctors.title}>
      {created ? <Notice kind="success">{created}</Notice> : null}
      <FormErrorNotice error={error} />
      <form class="card" ref={form} onSubmit={submit} noValidate aria-labelledby="new-doctor">
        <h2 id="new-doctor">{t.doctors.register}</h2>
        <div class="row">
          <Field label={t.fields.name} {...bind('name')} required />
          <Field label={t.fields.email} type="email" {...bind('email')} required />
        </div>
        <div class="row">
          <Field label={t.fields.crm} inputMode="numeric" {...bind('crm')} required />
          <Field label={t.fields.uf} maxLength={2} hint={t.fields.ufHint} {...bind('uf')} required />
          <Field label={t.fields.specialty} {...bind('specialty')} required />
        </div>
        <Field label={t.fields.temporaryPassword} type="password" autocomplete="new-password" hint={t.doctors.passwordHint} {...bind('temporaryPassword')} />
        <Button type="submit" busy={busy} icon="plus">
          {t.doctors.submit}
        </Button>
      </form>
      <h2 id="doctor-list">{t.doctors.list}</h2>
      <LoadStatus load={doctors} />
      {doctors.data && doctors.data.length === 0 ? <Empty icon="user">{t.doctors.empty}</Empty> : null}
      {doctors.data && doctors.data.length > 0 ? (
        <TableRegion labelledBy="doctor-list" columns={[t.fields.name, 'CRM', t.fields.specialty]}>
          {doctors.data.map((d) => (
            <tr key={d.id}>
              <td>{d.name}</td>
              <td>
                {d.crm}/{d.uf}
              </td>
              <td>{d.specialty}</td>
            </tr>
          ))}
        </TableRegion>
      ) : null}
    </Page>
  );
}
