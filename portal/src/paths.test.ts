import { describe, expect, it } from 'vitest';
import { match, safeNext } from './paths';

describe('paths', () => {
  it('matches page patterns and decodes their parts', () => {
    expect(match('/exams/:id', '/exams/01H%20X')).toEqual({ id: '01H X' });
    expect(match('/exams/:id', '/exams')).toBeNull();
    expect(match('/staff', '/staff/')).toEqual({});
  });

  it('only follows next targets inside the portal', () => {
    expect(safeNext('/exams/1?x=y')).toBe('/exams/1?x=y');
    expect(safeNext('//evil.example/')).toBeNull();
    expect(safeNext('/\\evil.example')).toBeNull();
    expect(safeNext('https://evil.example/')).toBeNull();
    expect(safeNext(null)).toBeNull();
  });
});
