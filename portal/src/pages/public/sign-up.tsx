import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { useLang, useT } from '../../i18n';
import { navigate } from '../../router';
import { Link } from '../../ui/link';
import { Button, Checkbox, Field, Notice, Page } from '../../ui/kit';
import { fieldBinder, FormErrorNotice, isFieldError, useFormSubmit } from '../../ui/forms';
import { LanguageField, PhoneField } from '../../ui/fields';
import { pendingSignUp } from './confirm';

export function SignUp() {
  const t = useT();
  const lang = useLang();
  const [v, setV] = useState({
    name: '',
    email: '',
    password: '',
    cpf: '',
    birthDate: '',
    phone: '+55',
    language: lang as string,
    emailOptIn: true,
    smsOptIn: true,
  });
  const set = (patch: Partial<typeof v>) => setV((prev) => ({ ...prev, ...patch }));
  const { form, busy, error, submit, errorOf } = useFormSubmit(
    async () => {
      await ok(
        api.POST('/v1/accounts/patients', {
          body: {
            name: v.name.trim(),
            email: v.email.trim(),
            password: v.password,
            cpf: v.cpf.replace(/\D/g, ''),
            birthDate: v.birthDate,
            phone: v.phone.replace(/[\s()-]/g, ''),
            preferences: { email: v.emailOptIn, sms: v.smsOptIn, language: v.language },
          },
        }),
      );
      pendingSignUp.set({ email: v.email.trim(), password: v.password });
      navigate('/confirm');
    },
    { leavesOnSuccess: true },
  );
  const bind = fieldBinder(v, set, errorOf);

  return (
    <Page title={t.signUp.title}>
      <div class="narrow">
        <p>{t.signUp.intro}</p>
        {error && isFieldError(error) ? <Notice kind="error">{t.common.checkFields}</Notice> : null}
        <FormErrorNotice error={error} />
        <form class="card" ref={form} onSubmit={submit} noValidate>
          <Field label={t.fields.name} autocomplete="name" {...bind('name')} required />
          <Field label={t.fields.email} type="email" autocomplete="email" {...bind('email')} required />
          <Field label={t.fields.password} type="password" autocomplete="new-password" hint={t.fields.passwordHint} {...bind('password')} required />
          <Field label={t.fields.cpf} inputMode="numeric" hint={t.fields.cpfHint} {...bind('cpf')} required />
          <Field label={t.fields.birthDate} type="date" autocomplete="bday" {...bind('birthDate')} required />
          <PhoneField {...bind('phone')} required />
          <fieldset>
            <legend>{t.fields.contact}</legend>
            <Checkbox label={t.fields.emailOptIn} checked={v.emailOptIn} onChecked={(emailOptIn) => set({ emailOptIn })} />
            <Checkbox label={t.fields.smsOptIn} checked={v.smsOptIn} onChecked={(smsOptIn) => set({ smsOptIn })} />
            <LanguageField value={v.language} onValue={(language) => set({ language })} error={errorOf('preferences.language')} />
          </fieldset>
          <p class="small muted">{t.signUp.privacy}</p>
          <Button type="submit" busy={busy}>
            {t.signUp.submit}
          </Button>
        </form>
        <p>
          {t.signUp.haveAccount} <Link href="/sign-in">{t.signUp.signIn}</Link>
        </p>
      </div>
    </Page>
  );
}
