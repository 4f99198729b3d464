import { describe, expect, it } from 'vitest';
import { problemFrom } from './errors';

describe('problemFrom', () => {
  it('reads code, field errors, extensions, Retry-After and the request id', () => {
    const response = new Response(null, { status: 429, headers: { 'retry-after': '30', 'x-request-id': 'r-1' } });
    const error = problemFrom(response, {
      type: 'x',
      title: 'Too Many Requests',
      status: 429,
      code: 'TOO_MANY_ATTEMPTS',
      detail: 'Too many wrong codes.',
      errors: [{ field: 'accessCode', message: 'bad' }, { nope: true }],
      currentStatus: 'COLLECTED',
    });
    expect(error.code).toBe('TOO_MANY_ATTEMPTS');
    expect(error.retryAfter).toBe(30);
    expect(error.requestId).toBe('r-1');
    expect(error.field('accessCode')).toBe('bad');
    expect(error.errors).toHaveLength(1);
    expect(error.extra).toEqual({ currentStatus: 'COLLECTED' });
  });

  it('names answers that are not problem documents by their status', () => {
    expect(problemFrom(new Response(null, { status: 502 }), '<html>').code).toBe('UNAVAILABLE');
    expect(problemFrom(new Response(null, { status: 504 }), '').code).toBe('TIMEOUT');
    expect(problemFrom(new Response(null, { status: 404 }), '').code).toBe('NOT_FOUND');
  });
});
