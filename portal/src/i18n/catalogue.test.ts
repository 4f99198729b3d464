import { describe, expect, it } from 'vitest';
import { en } from './en';
import { ptBR } from './pt-BR';

function shape(value: unknown, path = ''): string[] {
  if (typeof value === 'function') return [`${path}()`];
  if (Array.isArray(value)) return [`${path}[${value.length}]`];
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => shape(v, path ? `${path}.${k}` : k));
  }
  return [path];
}

describe('catalogues', () => {
  it('have the same messages in Portuguese and English', () => {
    expect(shape(ptBR).sort()).toEqual(shape(en).sort());
  });

  it('have no empty message', () => {
    for (const catalogue of [en, ptBR]) {
      const empty = shape(catalogue).filter((path) => {
        const value = path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k.replace(/\(\)$|\[\d+\]$/, '')], catalogue);
        return value === '';
      });
      expect(empty).toEqual([]);
    }
  });

  it('name the API problem codes of the contract', () => {
    for (const code of [
      'VALIDATION_FAILED',
      'SLOT_FULL',
      'ACCESS_CODE_INVALID',
      'TOO_MANY_ATTEMPTS',
      'IDEMPOTENCY_KEY_REUSED',
      'UNAVAILABLE',
      'INVALID_MFA_CODE',
      'INVALID_SESSION',
      'ACCOUNT_ERASED',
      'EXPIRED_CODE',
      'REPORT_EXPIRED',
    ]) {
      expect(ptBR.errors[code as keyof typeof ptBR.errors]).toBeTruthy();
    }
  });
});
