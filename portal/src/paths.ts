// Pure path helpers (no browser globals), used by the router.

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

/**
 * Other addresses of pages, e.g. in the e-mails' links (`/signin` in the "someone tried to sign up
 * with your e-mail" notice, `/reports` in "report ready").
 */
export const ALIASES: Record<string, string> = {
  '/signin': '/sign-in',
  '/login': '/sign-in',
  '/signup': '/sign-up',
  '/reports': '/staff/reports',
};

/** Where an alias address leads (its query kept), or null for a page's own address. */
export function aliasOf(path: string, search: string): string | null {
  const target = ALIASES[path.replace(/\/+$/, '') || '/'];
  if (!target) return null;
  const query = search.replace(/^\?/, '');
  return query ? `${target}?${query}` : target;
}
