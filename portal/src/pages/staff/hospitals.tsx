import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { useDraft } from '../../drafts';
import { useT } from '../../i18n';
import { examLabel } from '../../i18n/format';
import { Button, CopyButton, Empty, Field, Loading, LoadStatus, Notice, Page, TableRegion, useAsync, useInterval } from '../../ui/kit';
import { fieldBinder, FormErrorNotice, useFormSubmit } from '../../ui/forms';
import { allHospitals } from '../../api/reads';

interface Credentials {
  name: string;
  clientId: string;
  clientSecret: string;
}

/** One credential, shown to be copied into the hospital's system. */
function CredentialLine({ id, name, value, copyLabel }: { id: string; name: string; value: string; copyLabel: string }) {
  return (
    <p>
      <strong>{name}</strong>
      <code class="secret" id={id}>
        {value}
      </code>
      <CopyButton text={value} label={copyLabel} />
    </p>
  );
}

/** The secret is in this component's memory only, until the person says they stored it. */
function ShownOnce({ credentials, onDone }: { credentials: Credentials; onDone: () => void }) {
  const t = useT();
  return (
    <section class="card danger-zone" aria-labelledby="secret-title" id="secret-panel" tabIndex={-1}>
      <h2 id="secret-title">{t.hospitals.credentialsOf(credentials.name)}</h2>
      <Notice kind="warning">{t.hospitals.warning}</Notice>
      <CredentialLine id="client-id" name={t.hospitals.clientId} value={credentials.clientId} copyLabel={t.hospitals.copyId} />
      <CredentialLine id="client-secret" name={t.hospitals.clientSecret} value={credentials.clientSecret} copyLabel={t.hospitals.copySecret} />
      <Button onClick={onDone} icon="check">
        {t.hospitals.stored}
      </Button>
    </section>
  );
}

export function StaffHospitals() {
  const t = useT();
  const [draft, update, reset] = useDraft('staff-hospital', { name: '', cnes: '' });
  const hospitals = useAsync(allHospitals, []);
  const [credentials, setCredentials] = useState<Credentials | null>(null);
  // The catalogue learns of a new hospital through an event: look again until it is there.
  const [awaiting, setAwaiting] = useState<string | null>(null);
  const arrived = !awaiting || (hospitals.data ?? []).some((h) => h.id === awaiting);
  useInterval(hospitals.reload, 2000, !arrived);

  const { form, busy, error, submit, errorOf } = useFormSubmit(async () => {
    const created = await ok(api.POST('/v1/hospitals', { body: { name: draft.name.trim(), cnes: draft.cnes.trim() } }));
    setCredentials({ name: draft.name.trim(), clientId: created.clientId, clientSecret: created.clientSecret });
    reset();
    setTimeout(() => document.getElementById('secret-panel')?.focus(), 0);
    setAwaiting(created.id);
  });
  const bind = fieldBinder(draft, update, errorOf);

  return (
    <Page title={t.hospitals.title}>
      {credentials ? <ShownOnce credentials={credentials} onDone={() => setCredentials(null)} /> : null}
      <FormErrorNotice error={error} />
      <form class="card" ref={form} onSubmit={submit} noValidate aria-labelledby="new-hospital">
        <h2 id="new-hospital">{t.hospitals.register}</h2>
        <div class="row">
          <Field label={t.fields.hospitalName} {...bind('name')} required />
          <Field label={t.fields.cnes} inputMode="numeric" hint={t.fields.cnesHint} {...bind('cnes')} required />
        </div>
        <Button type="submit" busy={busy} icon="plus">
          {t.hospitals.submit}
        </Button>
      </form>
      <h2 id="hospital-list">{t.hospitals.list}</h2>
      {!arrived ? <Loading label={t.hospitals.arriving} /> : null}
      <LoadStatus load={hospitals} />
      {hospitals.data && hospitals.data.length === 0 ? <Empty icon="hospital">{t.hospitals.empty}</Empty> : null}
      {hospitals.data && hospitals.data.length > 0 ? (
        <TableRegion labelledBy="hospital-list" columns={[t.fields.hospitalName, 'CNES', t.hospitals.examTypes]}>
          {hospitals.data.map((h) => (
            <tr key={h.id}>
              <td>{h.name}</td>
              <td>{h.cnes}</td>
              <td>{h.examTypes.length ? h.examTypes.map(examLabel).join(', ') : '—'}</td>
            </tr>
          ))}
        </TableRegion>
      ) : null}
    </Page>
  );
}
