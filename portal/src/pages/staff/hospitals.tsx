import { useRef, useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { useDraft } from '../../drafts';
import { useLang, useT } from '../../i18n';
import { examLabel } from '../../i18n/format';
import { Button, CopyButton, Empty, ErrorNotice, Field, Loading, Notice, Page, useAsync, useInterval } from '../../ui/kit';
import { fieldError, focusFirstInvalid, isFieldError } from '../../ui/forms';
import { allHospitals } from '../patient/book';

interface Credentials {
  name: string;
  clientId: string;
  clientSecret: string;
}

/** The secret is in this component's memory only, until the person says they stored it. */
function ShownOnce({ credentials, onDone }: { credentials: Credentials; onDone: () => void }) {
  const t = useT();
  return (
    <section class="card danger-zone" aria-labelledby="secret-title" id="secret-panel" tabIndex={-1}>
      <h2 id="secret-title">{t.hospitals.credentialsOf(credentials.name)}</h2>
      <Notice kind="warning">{t.hospitals.warning}</Notice>
      <p>
        <strong>{t.hospitals.clientId}</strong>
        <code class="secret" id="client-id">
          {credentials.clientId}
        </code>
        <CopyButton text={credentials.clientId} label={t.hospitals.copyId} />
      </p>
      <p>
        <strong>{t.hospitals.clientSecret}</strong>
        <code class="secret" id="client-secret">
          {credentials.clientSecret}
        </code>
        <CopyButton text={credentials.clientSecret} label={t.hospitals.copySecret} />
      </p>
      <Button onClick={onDone} icon="check">
        {t.hospitals.stored}
      </Button>
    </section>
  );
}

export function StaffHospitals() {
  const t = useT();
  const lang = useLang();
  const form = useRef<HTMLFormElement>(null);
  const [draft, update, reset] = useDraft('staff-hospital', { name: '', cnes: '' });
  const hospitals = useAsync(allHospitals, []);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [credentials, setCredentials] = useState<Credentials | null>(null);
  // The catalogue learns of a new hospital through an event: look again until it is there.
  const [awaiting, setAwaiting] = useState<string | null>(null);
  const arrived = !awaiting || (hospitals.data ?? []).some((h) => h.id === awaiting);
  useInterval(hospitals.reload, 2000, !arrived);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await ok(api.POST('/v1/hospitals', { body: { name: draft.name.trim(), cnes: draft.cnes.trim() } }));
      setCredentials({ name: draft.name.trim(), clientId: created.clientId, clientSecret: created.clientSecret });
      reset();
      setTimeout(() => document.getElementById('secret-panel')?.focus(), 0);
      setAwaiting(created.id);
    } catch (err) {
      setError(err);
      if (isFieldError(err)) focusFirstInvalid(form.current);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title={t.hospitals.title}>
      {credentials ? <ShownOnce credentials={credentials} onDone={() => setCredentials(null)} /> : null}
      {error && !isFieldError(error) ? <ErrorNotice error={error} /> : null}
      <form class="card" ref={form} onSubmit={submit} noValidate aria-labelledby="new-hospital">
        <h2 id="new-hospital">{t.hospitals.register}</h2>
        <div class="row">
          <Field label={t.fields.hospitalName} name="name" value={draft.name} onValue={(name) => update({ name })} error={fieldError(t, lang, error, 'name')} required />
          <Field
            label={t.fields.cnes}
            name="cnes"
            inputMode="numeric"
            hint={t.fields.cnesHint}
            value={draft.cnes}
            onValue={(cnes) => update({ cnes })}
            error={fieldError(t, lang, error, 'cnes')}
            required
          />
        </div>
        <Button type="submit" busy={busy} icon="plus">
          {t.hospitals.submit}
        </Button>
      </form>
      <h2 id="hospital-list">{t.hospitals.list}</h2>
      {!arrived ? <Loading label={t.hospitals.arriving} /> : null}
      {hospitals.error ? <ErrorNotice error={hospitals.error} onRetry={hospitals.reload} /> : null}
      {hospitals.loading && !hospitals.data ? <Loading /> : null}
      {hospitals.data && hospitals.data.length === 0 ? <Empty icon="hospital">{t.hospitals.empty}</Empty> : null}
      {hospitals.data && hospitals.data.length > 0 ? (
        <div class="table-wrap" tabIndex={0} role="region" aria-labelledby="hospital-list">
          <table aria-labelledby="hospital-list">
            <thead>
              <tr>
                <th scope="col">{t.fields.hospitalName}</th>
                <th scope="col">CNES</th>
                <th scope="col">{t.hospitals.examTypes}</th>
              </tr>
            </thead>
            <tbody>
              {hospitals.data.map((h) => (
                <tr key={h.id}>
                  <td>{h.name}</td>
                  <td>{h.cnes}</td>
                  <td>{h.examTypes.length ? h.examTypes.map(examLabel).join(', ') : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}
