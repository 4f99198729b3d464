import type { ComponentChildren } from 'preact';
import type { Exam } from '../api/types';
import { useLang, useT } from '../i18n';
import { dateTime, examLabel } from '../i18n/format';
import { ExamStatusBadge } from './status';

/** What an exam is, where and when: the heading part of an exam in a list. */
export function ExamSummary({ exam }: { exam: Exam }) {
  const lang = useLang();
  return (
    <div>
      <div class="title">{examLabel(exam.examType)}</div>
      <div class="meta">
        {exam.hospitalName} · <time dateTime={exam.scheduledAt}>{dateTime(lang, exam.scheduledAt)}</time>
      </div>
    </div>
  );
}

/**
 * The facts card of an exam's page: status, time and hospital, then the page's own `facts` (more
 * `dt`/`dd` pairs) and, below the list, its own `children` (e.g. actions on the exam).
 */
export function ExamFacts({ exam, facts, children }: { exam: Exam; facts?: ComponentChildren; children?: ComponentChildren }) {
  const t = useT();
  const lang = useLang();
  return (
    <section class="card" aria-labelledby="facts-title">
      <h2 id="facts-title">{t.exam.facts}</h2>
      <dl class="facts">
        <dt>{t.exam.status}</dt>
        <dd>
          <ExamStatusBadge status={exam.status} />
        </dd>
        <dt>{t.exam.when}</dt>
        <dd>
          <time dateTime={exam.scheduledAt}>{dateTime(lang, exam.scheduledAt)}</time>
        </dd>
        <dt>{t.exam.hospital}</dt>
        <dd>{exam.hospitalName}</dd>
        {facts}
      </dl>
      {children}
    </section>
  );
}
