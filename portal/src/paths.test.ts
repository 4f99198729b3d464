import { describe, expect, it } from 'vitest';
import { aliasOf, match, safeNext } from './paths';

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

  it('sends the e-mails\' addresses to their pages, with the query', () => {
    expect(aliasOf('/signin', '')).toBe('/sign-in');
    expect(aliasOf('/signin/', '?x=1')).toBe('/sign-in?x=1');
    expect(aliasOf('/reports', '')).toBe('/staff/reports');
    expect(aliasOf('/exams', '')).toBeNull();
    expect(aliasOf('/', '')).toBeNull();
  });
});
