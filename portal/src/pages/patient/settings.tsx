import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { useDraft } from '../../drafts';
import { setLanguage, useLang, useT } from '../../i18n';
import { date } from '../../i18n/format';
import { session, updateMe } from '../../session';
import { useStore } from '../../store';
import { Link } from '../../ui/link';
import { Button, Checkbox, Field, Notice, Page } from '../../ui/kit';
import { fieldBinder, FormErrorNotice, useFormSubmit } from '../../ui/forms';
import { LanguageField, PhoneField } from '../../ui/fields';

export function Settings() {
  const t = useT();
  const lang = useLang();
  const current = useStore(session);
  const me = current?.me;
  const [draft, update] = useDraft('settings', {
    name: me?.name ?? '',
    phone: me?.phone ?? '',
    email: me?.preferences.email ?? true,
    sms: me?.preferences.sms ?? true,
    language: (me?.preferences.language ?? lang) as string,
  });
  const [saved, setSaved] = useState(false);
  const { form, busy, error, submit, errorOf } = useFormSubmit(async () => {
    setSaved(false);
    const profile = await ok(
      api.PATCH('/v1/me', {
        body: {
          name: draft.name.trim() || null,
          phone: draft.phone.replace(/[\s()-]/g, '') || null,
          preferences: { email: draft.email, sms: draft.sms, language: draft.language },
        },
      }),
    );
    updateMe(profile);
    setLanguage(profile.preferences.language);
    setSaved(true);
  });
  const bind = fieldBinder(draft, update, errorOf);
  if (!me) return null;

  return (
    <Page title={t.settings.title}>
      {saved ? <Notice kind="success">{t.settings.saved}</Notice> : null}
      <FormErrorNotice error={error} />
      <section class="card" aria-labelledby="account-title">
        <h2 id="account-title">{t.settings.account}</h2>
        <dl class="facts">
          <dt>{t.fields.email}</dt>
          <dd>{me.email ?? '—'}</dd>
          {me.cpf ? (
            <>
              <dt>{t.fields.cpf}</dt>
              <dd>{me.cpf}</dd>
            </>
          ) : null}
          {me.birthDate ? (
            <>
              <dt>{t.fields.birthDate}</dt>
              <dd>{date(lang, `${me.birthDate}T12:00:00Z`)}</dd>
            </>
          ) : null}
          <dt>{t.settings.role}</dt>
          <dd>{t.roles[me.role]}</dd>
        </dl>
      </section>
      {current && !current.profile ? <Notice kind="info">{t.settings.noProfile}</Notice> : null}
      {current?.profile ? (
      <form class="card" ref={form} onSubmit={submit} noValidate aria-labelledby="prefs-title">
        <h2 id="prefs-title">{t.settings.contact}</h2>
        <Field label={t.fields.name} autocomplete="name" {...bind('name')} />
        <PhoneField {...bind('phone')} />
        <fieldset>
          <legend>{t.settings.channels}</legend>
          <Checkbox label={t.fields.emailOptIn} checked={draft.email} onChecked={(email) => update({ email })} />
          <Checkbox label={t.fields.smsOptIn} checked={draft.sms} onChecked={(sms) => update({ sms })} />
        </fieldset>
        <LanguageField hint={t.settings.languageHint} value={draft.language} onValue={(language) => update({ language })} error={errorOf('preferences.language')} />
        <Button type="submit" busy={busy} icon="check">
          {t.settings.save}
        </Button>
      </form>
      ) : null}
      {me.role === 'patient' ? (
        <section class="card danger-zone" aria-labelledby="delete-title">
          <h2 id="delete-title">{t.settings.deleteTitle}</h2>
          <p>{t.settings.deleteIntro}</p>
          <Link class="btn btn-danger" href="/settings/delete">
            {t.settings.deleteLink}
          </Link>
        </section>
      ) : null}
    </Page>
  );
}
