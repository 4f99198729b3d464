import { createStore, useStore } from './store';

/** Where the portal is: path and query of the address bar. */
export interface Place {
  path: string;
  query: URLSearchParams;
}

function read(): Place {
  return { path: window.location.pathname || '/', query: new URLSearchParams(window.location.search) };
}

export const place = createStore<Place>(read());

window.addEventListener('popstate', () => place.set(read()));

/** Goes to a portal path (`/exams/1?x=y`), adding a history entry unless `replace`. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = new URL(to, window.location.origin);
  if (url.origin !== window.location.origin) return;
  const target = url.pathname + url.search;
  if (target === window.location.pathname + window.location.search) {
    place.set(read());
    return;
  }
  if (options.replace) window.history.replaceState(null, '', target);
  else window.history.pushState(null, '', target);
  place.set(read());
  window.scrollTo(0, 0);
}

export function usePlace(): Place {
  return useStore(place);
}

/** The current path and query, to come back to after signing in again. */
export function here(): string {
  return window.location.pathname + window.location.search;
}

/**
 * A `next` target that stays inside the portal: a path starting with one `/`, never a full URL
 * or `//host` (no open redirect through the sign-in page).
 */
export function safeNext(raw: string | null | undefined): string | null {
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return null;
  return raw;
}

/** Matches `/exams/:id` against a path; the named parts, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/').filter(Boolean);
  const got = path.split('/').filter(Boolean);
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i += 1) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith(':')) params[w.slice(1)] = decodeURIComponent(g);
    else if (w !== g) return null;
  }
  return params;
}
