import { api, connectAuth, ok } from './api/client';
import type { components } from './api/schema';
import type { Profile, Tokens } from './api/types';
import { ApiError } from './api/errors';
import { clearDrafts, draftsOwnedBy } from './drafts';
import { language, setLanguage } from './i18n';
import { here, navigate } from './router';
import { createStore } from './store';

/**
 * The signed-in person. Tokens live in this module's memory only — never in localStorage,
 * sessionStorage or cookies — so closing or reloading the tab ends the session.
 */
export interface SignedIn {
  accessToken: string;
  refreshToken: string | null;
  /** When the access token stops being accepted (ms since the epoch). */
  expiresAt: number;
  me: Profile;
  /** False when the account has no profile in the API (its `me` comes from the ID token). */
  profile: boolean;
}

let previousEmail: string | null = null;

/** The e-mail of a session that ended by itself, to fill in the sign-in form again. */
export function lastEmail(): string | null {
  return previousEmail;
}

/** Why the last session ended, shown on the sign-in page. */
export type Ending = 'idle' | 'expired' | 'signed-out' | 'deleted' | 'erased';

export const session = createStore<SignedIn | null>(null);
export const ending = createStore<Ending | null>(null);

/** Health-data norm: a session with no activity for 15 minutes ends. */
export const IDLE_LIMIT_MS = 15 * 60 * 1000;
let idleLimitMs = IDLE_LIMIT_MS;

/**
 * Shortens the idle limit for this page load (the browser tests use a few seconds). It can only
 * be lowered, so a crafted link can end someone's session sooner but never keep it open longer.
 */
export function lowerIdleLimit(seconds: number): void {
  if (Number.isFinite(seconds) && seconds > 0) idleLimitMs = Math.min(idleLimitMs, seconds * 1000);
}

export function idleLimitSeconds(): number {
  return Math.round(idleLimitMs / 1000);
}

let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let idleTimer: ReturnType<typeof setInterval> | undefined;
let lastActivity = Date.now();
let renewing: Promise<boolean> | null = null;

const ACTIVITY = ['pointerdown', 'keydown', 'wheel', 'touchstart', 'input'] as const;
const touch = () => {
  lastActivity = Date.now();
};

function startIdleWatch(): void {
  stopIdleWatch();
  lastActivity = Date.now();
  for (const name of ACTIVITY) document.addEventListener(name, touch, { capture: true, passive: true });
  // Wall-clock check: a laptop that slept past the limit signs out as soon as it wakes.
  idleTimer = setInterval(() => {
    if (Date.now() - lastActivity >= idleLimitMs) end('idle');
  }, 1000);
}

function stopIdleWatch(): void {
  for (const name of ACTIVITY) document.removeEventListener(name, touch, { capture: true });
  if (idleTimer !== undefined) clearInterval(idleTimer);
  idleTimer = undefined;
}

function scheduleRefresh(expiresAt: number): void {
  if (refreshTimer !== undefined) clearTimeout(refreshTimer);
  // Renew a minute before the access token expires (at least 5 s from now).
  const wait = Math.max(5_000, expiresAt - Date.now() - 60_000);
  refreshTimer = setTimeout(() => {
    void renew().then((renewed) => {
      if (!renewed && session.get()) end('expired');
    });
  }, wait);
}

/** Silent renewal with the refresh token; concurrent callers share one request. */
export function renew(): Promise<boolean> {
  const current = session.get();
  if (!current?.refreshToken) return Promise.resolve(false);
  if (!renewing) {
    renewing = ok(api.POST('/v1/auth/refresh', { body: { refreshToken: current.refreshToken } }))
      .then((tokens) => {
        const still = session.get();
        if (!still || still.me.id !== current.me.id) return false;
        const expiresAt = Date.now() + tokens.expiresIn * 1000;
        session.set({
          ...still,
          accessToken: tokens.accessToken,
          refreshToken: tokens.refreshToken ?? still.refreshToken,
          expiresAt,
        });
        scheduleRefresh(expiresAt);
        return true;
      })
      .catch(() => false)
      .finally(() => {
        renewing = null;
      });
  }
  return renewing;
}

connectAuth({
  token: () => session.get()?.accessToken ?? null,
  refresh: renew,
  expired: () => end('expired'),
  erased: () => end('erased'),
});

const ROLES: Profile['role'][] = ['patient', 'doctor', 'staff'];

/** The claims of a JWT, unverified: only to name and route the person. */
function claims(jwt: string): Record<string, unknown> {
  try {
    const part = jwt.split('.')[1] ?? '';
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export function profileFromIdToken(idToken: string): Profile | null {
  const c = claims(idToken);
  const raw = c['cognito:groups'];
  const groups = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.replace(/[[\]]/g, '').split(/[\s,]+/) : [];
  const role = ROLES.find((r) => groups.includes(r) || groups.includes(`${r}s`));
  if (!role || typeof c.sub !== 'string') return null;
  const now = new Date().toISOString();
  return {
    id: c.sub,
    role,
    status: 'ACTIVE',
    email: typeof c.email === 'string' ? c.email : null,
    name: typeof c.name === 'string' ? c.name : null,
    phone: null,
    preferences: { email: false, sms: false, language: language.get() },
    createdAt: now,
    updatedAt: now,
  };
}

/** Starts a session from fresh tokens: loads the profile, adopts its language. */
export async function establish(tokens: Tokens): Promise<SignedIn> {
  const expiresAt = Date.now() + tokens.expiresIn * 1000;
  let me: Profile;
  let profile = true;
  try {
    me = await ok(api.GET('/v1/me', { headers: { authorization: `Bearer ${tokens.accessToken}` } }));
  } catch (error) {
    // Accounts created outside the portal (e.g. the first staff account) may have no profile:
    // their identity and role then come from the ID token (display and routing only; the API
    // checks every call itself).
    const fromToken = error instanceof ApiError && error.status === 404 ? profileFromIdToken(tokens.idToken) : null;
    if (!fromToken) throw error;
    me = fromToken;
    profile = false;
  }
  const signedIn: SignedIn = {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken ?? null,
    expiresAt,
    me,
    profile,
  };
  draftsOwnedBy(me.id);
  session.set(signedIn);
  ending.set(null);
  scheduleRefresh(expiresAt);
  startIdleWatch();
  if (me.preferences?.language) setLanguage(me.preferences.language);
  return signedIn;
}

/**
 * The outcome of a sign-in step: a session, or the API asks for one more step first — a new
 * password (first sign-in of an account created by staff), the authenticator's code
 * (`SOFTWARE_TOKEN_MFA`), or setting an authenticator app up (`MFA_SETUP`, staff and doctors
 * without one). The `session` of a step is the API's, kept in the page's memory only.
 */
export type SignInOutcome =
  | { kind: 'signed-in'; session: SignedIn }
  | { kind: 'new-password'; session: string }
  | { kind: 'mfa'; session: string }
  | { kind: 'mfa-setup'; session: string; secretCode: string; otpauthUri: string };

type SignInAnswer = Tokens | components['schemas']['ChallengeResponse'];

async function outcomeOf(answer: SignInAnswer): Promise<SignInOutcome> {
  if (!('challenge' in answer)) return { kind: 'signed-in', session: await establish(answer) };
  switch (answer.challenge) {
    case 'NEW_PASSWORD_REQUIRED':
      return { kind: 'new-password', session: answer.session };
    case 'SOFTWARE_TOKEN_MFA':
      return { kind: 'mfa', session: answer.session };
    case 'MFA_SETUP':
      if (answer.secretCode && answer.otpauthUri) {
        return { kind: 'mfa-setup', session: answer.session, secretCode: answer.secretCode, otpauthUri: answer.otpauthUri };
      }
      break;
    default:
      break;
  }
  throw new ApiError({ status: 200, code: 'UNEXPECTED', detail: `sign-in step ${answer.challenge}` });
}

export async function signIn(username: string, password: string): Promise<SignInOutcome> {
  return outcomeOf(await ok(api.POST('/v1/auth/token', { body: { username, password } })));
}

/** The first password of an account created by staff; staff and doctors then set up their authenticator. */
export async function choosePassword(username: string, challenge: string, newPassword: string): Promise<SignInOutcome> {
  return outcomeOf(await ok(api.POST('/v1/auth/new-password', { body: { username, session: challenge, newPassword } })));
}

/** Answers the second-factor step (`mfa` or `mfa-setup`) with the authenticator's current code. */
export async function answerMfa(username: string, challenge: string, code: string): Promise<SignedIn> {
  return establish(await ok(api.POST('/v1/auth/mfa', { body: { username, session: challenge, code } })));
}

/** Updates the profile kept with the session (after PATCH /v1/me). */
export function updateMe(me: Profile): void {
  const current = session.get();
  if (current) session.set({ ...current, me });
}

/**
 * Ends the session. On its own (`idle`, `expired`) the person is sent to sign in and brought
 * back here afterwards, with what they were typing; on purpose (`signed-out`, `deleted`) or
 * because the account was erased elsewhere (`erased`: the API answered `ACCOUNT_ERASED`) drafts
 * are dropped too.
 */
export function end(reason: Ending): void {
  if (!session.get() && reason !== 'deleted') return;
  const returnTo = here();
  previousEmail = reason === 'idle' || reason === 'expired' ? (session.get()?.me.email ?? null) : null;
  if (refreshTimer !== undefined) clearTimeout(refreshTimer);
  refreshTimer = undefined;
  stopIdleWatch();
  session.set(null);
  ending.set(reason);
  if (reason === 'signed-out' || reason === 'deleted' || reason === 'erased') {
    clearDrafts();
    navigate('/sign-in', { replace: true });
  } else {
    navigate(`/sign-in?next=${encodeURIComponent(returnTo)}`, { replace: true });
  }
}

export function isApiError(error: unknown): error is ApiError {
  return error instanceof ApiError;
}
