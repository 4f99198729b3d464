import type { ComponentProps } from 'preact';
import { useT } from '../i18n';
import { Field, SelectField } from './kit';

/**
 * Fields that mean the same thing wherever they are asked for, so that their input type, the
 * browser's autofill hint and their help text cannot drift apart between forms.
 */

type FieldProps = ComponentProps<typeof Field>;

/** A phone number with its country code; the browser offers the person's own number. */
export function PhoneField(props: Omit<FieldProps, 'label' | 'type' | 'autocomplete' | 'hint'>) {
  const t = useT();
  return <Field label={t.fields.phone} type="tel" autocomplete="tel" hint={t.fields.phoneHint} {...props} />;
}

/** A code sent to the person (by e-mail or by an authenticator app); the browser may fill it in. */
export function CodeField(props: Omit<FieldProps, 'inputMode' | 'autocomplete'>) {
  return <Field name="code" inputMode="numeric" autocomplete="one-time-code" {...props} />;
}

/** The languages the portal and the messages it sends are written in, each named in itself. */
const LANGUAGES = [
  { value: 'pt-BR', label: 'Português (Brasil)' },
  { value: 'en', label: 'English' },
];

/** The language the person is written to in. */
export function LanguageField(props: Omit<ComponentProps<typeof SelectField>, 'label' | 'options'>) {
  const t = useT();
  return <SelectField label={t.fields.language} options={LANGUAGES} {...props} />;
}
