import { useRef, useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import { useLang, useT } from '../../i18n';
import { navigate } from '../../router';
import { Link } from '../../ui/link';
import { Button, Checkbox, ErrorNotice, Field, Notice, Page, SelectField } from '../../ui/kit';
import { fieldError, focusFirstInvalid, isFieldError } from '../../ui/forms';
import { pendingSignUp } from './confirm';

export function SignUp() {
  const t = useT();
  const lang = useLang();
  const form = useRef<HTMLFormElement>(null);
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
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
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
    } catch (err) {
      setError(err);
      setBusy(false);
      if (isFieldError(err)) focusFirstInvalid(form.current);
    }
  };

  const fe = (field: string) => fieldError(t, lang, error, field);

  return (
    <Page title={t.signUp.title}>
      <div class="narrow">
        <p>{t.signUp.intro}</p>
        {error && isFieldError(error) ? <Notice kind="error">{t.common.checkFields}</Notice> : null}
        {error && !isFieldError(error) ? <ErrorNotice error={error} /> : null}
        <form class="card" ref={form} onSubmit={submit} noValidate>
          <Field label={t.fields.name} name="name" autocomplete="name" value={v.name} onValue={(name) => set({ name })} error={fe('name')} required />
          <Field
            label={t.fields.email}
            type="email"
            name="email"
            autocomplete="email"
            value={v.email}
            onValue={(email) => set({ email })}
            error={fe('email')}
            required
          />
          <Field
            label={t.fields.password}
            type="password"
            name="password"
            autocomplete="new-password"
            hint={t.fields.passwordHint}
            value={v.password}
            onValue={(password) => set({ password })}
            error={fe('password')}
            required
          />
          <Field
            label={t.fields.cpf}
            name="cpf"
            inputMode="numeric"
            hint={t.fields.cpfHint}
            value={v.cpf}
            onValue={(cpf) => set({ cpf })}
            error={fe('cpf')}
            required
          />
          <Field
            label={t.fields.birthDate}
            type="date"
            name="birthDate"
            autocomplete="bday"
            value={v.birthDate}
            onValue={(birthDate) => set({ birthDate })}
            error={fe('birthDate')}
            required
          />
          <Field
            label={t.fields.phone}
            type="tel"
            name="phone"
            autocomplete="tel"
            hint={t.fields.phoneHint}
            value={v.phone}
            onValue={(phone) => set({ phone })}
            error={fe('phone')}
            required
          />
          <fieldset>
            <legend>{t.fields.contact}</legend>
            <Checkbox label={t.fields.emailOptIn} checked={v.emailOptIn} onChecked={(emailOptIn) => set({ emailOptIn })} />
            <Checkbox label={t.fields.smsOptIn} checked={v.smsOptIn} onChecked={(smsOptIn) => set({ smsOptIn })} />
            <SelectField
              label={t.fields.language}
              value={v.language}
              onValue={(language) => set({ language })}
              options={[
                { value: 'pt-BR', label: 'Português (Brasil)' },
                { value: 'en', label: 'English' },
              ]}
              error={fe('preferences.language')}
            />
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
