import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiFetch, connectAuth } from './client';

const BASE = 'http://portal.test';
const answer = (status: number, body: unknown = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

afterEach(() => vi.unstubAllGlobals());

function stubFetch(...responses: Response[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      const next = responses.shift();
      if (!next) throw new TypeError('no more answers');
      return next;
    }),
  );
  return calls;
}

describe('apiFetch', () => {
  it('retries a 5xx of a POST with an Idempotency-Key, with the same key and body', async () => {
    connectAuth({ token: () => 't', refresh: async () => false, expired: () => {}, erased: () => {} });
    const calls = stubFetch(answer(503), answer(202, { reportId: 'r' }));
    const response = await apiFetch(
      new Request(`${BASE}/v1/reports`, { method: 'POST', headers: { 'Idempotency-Key': 'k-1' }, body: '{"a":1}' }),
    );
    expect(response.status).toBe(202);
    expect(calls).toHaveLength(2);
    for (const call of calls) {
      expect(new Headers(call.init.headers).get('idempotency-key')).toBe('k-1');
      expect(new TextDecoder().decode(call.init.body as ArrayBuffer)).toBe('{"a":1}');
    }
  });

  it('does not repeat a POST without a key', async () => {
    connectAuth({ token: () => 't', refresh: async () => false, expired: () => {}, erased: () => {} });
    const calls = stubFetch(answer(500));
    const response = await apiFetch(new Request(`${BASE}/v1/hospitals`, { method: 'POST', body: '{}' }));
    expect(response.status).toBe(500);
    expect(calls).toHaveLength(1);
  });

  it('renews the token once on a 401 and sends the request again with the new one', async () => {
    let token = 'old';
    const expired = vi.fn();
    connectAuth({
      token: () => token,
      refresh: async () => {
        token = 'new';
        return true;
      },
      expired,
      erased: () => {},
    });
    const calls = stubFetch(answer(401), answer(200, { ok: true }));
    const response = await apiFetch(new Request(`${BASE}/v1/me`));
    expect(response.status).toBe(200);
    expect(calls.map((c) => new Headers(c.init.headers).get('authorization'))).toEqual(['Bearer old', 'Bearer new']);
    expect(expired).not.toHaveBeenCalled();
  });

  it('never sends the bearer token to the public sign-in routes', async () => {
    connectAuth({ token: () => 'secret', refresh: async () => false, expired: () => {}, erased: () => {} });
    const calls = stubFetch(answer(200, {}));
    await apiFetch(new Request(`${BASE}/v1/auth/token`, { method: 'POST', body: '{}' }));
    expect(new Headers(calls[0]!.init.headers).get('authorization')).toBeNull();
  });

  it('signs an erased account out without trying to renew its token', async () => {
    const refresh = vi.fn(async () => true);
    const expired = vi.fn();
    const erased = vi.fn();
    connectAuth({ token: () => 't', refresh, expired, erased });
    const calls = stubFetch(answer(401, { status: 401, code: 'ACCOUNT_ERASED', detail: 'This account was deleted.' }));
    const response = await apiFetch(new Request(`${BASE}/v1/exams`));
    expect(response.status).toBe(401);
    expect((await response.json()).code).toBe('ACCOUNT_ERASED');
    expect(calls).toHaveLength(1);
    expect(refresh).not.toHaveBeenCalled();
    expect(expired).not.toHaveBeenCalled();
    expect(erased).toHaveBeenCalledTimes(1);
  });
});
