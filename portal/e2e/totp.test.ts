import { describe, expect, it } from 'vitest';
import { totp } from './totp';

describe('totp (test helper)', () => {
  it('matches the RFC 6238 SHA-1 test vectors (last 6 digits)', () => {
    // "12345678901234567890" in base32.
    const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
    expect(totp(secret, 59)).toBe('287082');
    expect(totp(secret, 1_111_111_109)).toBe('081804');
    expect(totp(secret, 1_234_567_890)).toBe('005924');
    expect(totp(secret, 2_000_000_000)).toBe('279037');
    expect(totp(secret.toLowerCase().replace(/(.{4})/g, '$1 '), 59)).toBe('287082');
  });
});
