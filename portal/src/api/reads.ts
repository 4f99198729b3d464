import { api, ok } from './client';
import type { Doctor, Exam, Hospital } from './types';

/** The reads of the API that more than one page makes. */

type PageQuery = { limit: string; cursor?: string };

/**
 * Every item of a paged list, following `nextCursor` at 200 items a page; at most `maxPages`
 * pages, so that a list that keeps growing cannot keep the page loading for ever.
 */
async function everyPage<T>(maxPages: number, fetchPage: (query: PageQuery) => Promise<{ items: T[]; nextCursor?: string | null }>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < maxPages; page += 1) {
    const answer = await fetchPage({ limit: '200', ...(cursor ? { cursor } : {}) });
    items.push(...answer.items);
    if (!answer.nextCursor) break;
    cursor = answer.nextCursor;
  }
  return items;
}

/** Every exam of the caller (all pages). */
export function allExams(query: { status?: string } = {}): Promise<Exam[]> {
  return everyPage(20, (page) => ok(api.GET('/v1/exams', { params: { query: { ...page, ...query } } })));
}

/** Every hospital, by name. */
export async function allHospitals(): Promise<Hospital[]> {
  const items = await everyPage(10, (page) => ok(api.GET('/v1/hospitals', { params: { query: page } })));
  return items.sort((a, b) => a.name.localeCompare(b.name));
}

/** Every doctor, by name. */
export async function allDoctors(): Promise<Doctor[]> {
  const items = await everyPage(10, (page) => ok(api.GET('/v1/doctors', { params: { query: page } })));
  return items.sort((a, b) => a.name.localeCompare(b.name));
}

/** One exam, as its patient or its doctor may see it. */
export function examById(id: string) {
  return ok(api.GET('/v1/exams/{id}', { params: { path: { id } } }));
}

/** The files of one exam, in every status. */
export function filesOfExam(id: string) {
  return ok(api.GET('/v1/exams/{id}/files', { params: { path: { id } } }));
}
