import createClient from 'openapi-fetch';
import type { paths } from './schema';
import { ApiError, problemFrom } from './errors';

/** What the client needs from the session: the bearer token and a way to renew it. */
export interface AuthHooks {
  /** The current access token, or null when nobody is signed in. */
  token(): string | null;
  /** Renews the tokens with the refresh token; false when that is no longer possible. */
  refresh(): Promise<boolean>;
  /** The API refused the token and it could not be renewed: the session is over. */
  expired(): void;
  /** The API answered `ACCOUNT_ERASED`: the account was deleted, the session is over for good. */
  erased(): void;
}

let auth: AuthHooks | null = null;

export function connectAuth(hooks: AuthHooks): void {
  auth = hooks;
}

/** How long one attempt may take before the portal says the server is too slow. */
export const TIMEOUT_MS = 20_000;
/** Waits before the automatic retries of a 5xx, a time-out or a network failure. */
const RETRY_DELAYS_MS = [500, 1500];
/** Public routes: they never carry (or renew) a bearer token. */
const PUBLIC_PREFIXES = ['/v1/auth/', '/v1/accounts/'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Safe to send again: reads, PUTs, and unsafe POSTs that carry an `Idempotency-Key` (the API
 * replays the first answer to the same key and body, so a retry never books or reports twice).
 */
function retryable(request: Request): boolean {
  return ['GET', 'HEAD', 'PUT'].includes(request.method) || request.headers.has('idempotency-key');
}

function isPublic(request: Request): boolean {
  const path = new URL(request.url).pathname;
  return PUBLIC_PREFIXES.some((prefix) => path.startsWith(prefix));
}

/** The `code` of a problem answer, read from a copy (the caller still reads the body). */
async function problemCode(response: Response): Promise<string | null> {
  try {
    const body = (await response.clone().json()) as { code?: unknown };
    return typeof body?.code === 'string' ? body.code : null;
  } catch {
    return null;
  }
}

function failure(error: unknown): ApiError {
  if (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new ApiError({ status: 0, code: 'TIMEOUT' });
  }
  if (typeof navigator !== 'undefined' && navigator.onLine === false) {
    return new ApiError({ status: 0, code: 'OFFLINE' });
  }
  return new ApiError({ status: 0, code: 'NETWORK' });
}

/**
 * Every API call goes through here: the bearer token, a time-out, one silent token renewal on
 * 401, and up to two retries of a 5xx / time-out / network failure for requests that are safe to
 * repeat — with the very same `Idempotency-Key`, since the request is cloned as it was first built.
 */
export async function apiFetch(request: Request): Promise<Response> {
  const pristine = request.clone();
  let renewed = false;
  for (let attempt = 0; ; attempt += 1) {
    const headers = new Headers(pristine.headers);
    const token = isPublic(pristine) ? null : (auth?.token() ?? null);
    if (token) headers.set('authorization', `Bearer ${token}`);
    const body = ['GET', 'HEAD'].includes(pristine.method) ? undefined : await pristine.clone().arrayBuffer();
    let response: Response;
    try {
      response = await fetch(pristine.url, {
        method: pristine.method,
        headers,
        body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
      });
    } catch (error) {
      const problem = failure(error);
      const delay = RETRY_DELAYS_MS[attempt];
      if (problem.code !== 'OFFLINE' && retryable(pristine) && delay !== undefined) {
        await sleep(delay);
        continue;
      }
      throw problem;
    }
    // An erased account: no renewal can help (and none is tried); the person is signed out.
    if (response.status === 401 && token && (await problemCode(response)) === 'ACCOUNT_ERASED') {
      auth?.erased();
      return response;
    }
    if (response.status === 401 && token && !renewed) {
      renewed = true;
      if (auth && (await auth.refresh())) {
        attempt -= 1;
        continue;
      }
      auth?.expired();
      return response;
    }
    const delay = RETRY_DELAYS_MS[attempt];
    if (response.status >= 500 && response.status !== 501 && retryable(pristine) && delay !== undefined) {
      const after = Number(response.headers.get('retry-after'));
      await sleep(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 5000) : delay);
      continue;
    }
    return response;
  }
}

/** The typed client: paths, parameters and bodies are checked against the API's OpenAPI spec. */
export const api = createClient<paths>({ baseUrl: '', fetch: apiFetch });

/** Unwraps an answer: the body on success, an [`ApiError`] thrown otherwise. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw problemFrom(response, error);
  return data as T;
}

/** A fresh key for one unsafe action; the automatic retries of that action reuse it. */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}
