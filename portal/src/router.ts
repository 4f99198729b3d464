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

export { match, safeNext } from './paths';
