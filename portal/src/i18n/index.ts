import { createStore, useStore } from '../store';
import { en, type Messages } from './en';
import { ptBR } from './pt-BR';

export type Lang = 'pt-BR' | 'en';
export const LANGS: Lang[] = ['pt-BR', 'en'];
const catalogues: Record<Lang, Messages> = { 'pt-BR': ptBR, en };
const STORAGE_KEY = 'clinic.language';

function initial(): Lang {
  try {
    const saved = window.localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'pt-BR') return saved;
  } catch {
    // storage may be unavailable (private mode); pt-BR then
  }
  return 'pt-BR';
}

export const language = createStore<Lang>(initial());

function apply(lang: Lang): void {
  document.documentElement.lang = lang;
}
apply(language.get());
language.subscribe(apply);

/** Switches the interface language (only the choice is remembered on this device). */
export function setLanguage(lang: string): void {
  const next: Lang = lang === 'en' ? 'en' : 'pt-BR';
  language.set(next);
  try {
    window.localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // not remembered; fine
  }
}

export function messages(lang: Lang = language.get()): Messages {
  return catalogues[lang];
}

/** The messages of the current language; the component re-renders on a switch. */
export function useT(): Messages {
  return catalogues[useStore(language)];
}

export function useLang(): Lang {
  return useStore(language);
}

export type { Messages };
