import type { Lang } from './index';

/** Dates and times in the person's language and the browser's time zone. */
export function dateTime(lang: Lang, iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

export function date(lang: Lang, iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(lang, { dateStyle: 'full' }).format(new Date(iso));
}

export function time(lang: Lang, iso: string): string {
  return new Intl.DateTimeFormat(lang, { timeStyle: 'short' }).format(new Date(iso));
}

export function bytes(lang: Lang, size: number): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${new Intl.NumberFormat(lang, { maximumFractionDigits: unit === 0 ? 0 : 1 }).format(value)} ${units[unit]}`;
}

/** Exam types travel as slugs (`hemograma`, `raio-x`): shown with a capital first letter. */
export function examLabel(slug: string): string {
  return slug ? slug.charAt(0).toLocaleUpperCase('pt-BR') + slug.slice(1) : slug;
}
