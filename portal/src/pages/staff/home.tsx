import { api, ok } from '../../api/client';
import type { ExamStatus } from '../../api/types';
import { useT } from '../../i18n';
import { Link } from '../../ui/link';
import { Button, Loading, LoadStatus, Page, useAsync } from '../../ui/kit';
import { allExams } from '../../api/reads';

const STATUSES: ExamStatus[] = ['SCHEDULED', 'COLLECTED', 'COMPLETED', 'RESULT_READY', 'CANCELLED'];

/**
 * At a glance: whether the API answers and how fast, and the exams by status. The API has no
 * health or dead-letter-queue route for the portal; those alarms live in CloudWatch.
 */
export function StaffHome() {
  const t = useT();
  const health = useAsync(async () => {
    const started = performance.now();
    await ok(api.GET('/v1/hospitals', { params: { query: { limit: '1' } } }));
    return Math.round(performance.now() - started);
  }, []);
  const exams = useAsync(() => allExams(), []);

  return (
    <Page
      title={t.staff.title}
      actions={
        <Button
          variant="secondary"
          icon="refresh"
          onClick={() => {
            health.reload();
            exams.reload();
          }}
        >
          {t.common.refresh}
        </Button>
      }
    >
      <div class="grid">
        <section class="card" aria-labelledby="health-title">
          <h2 id="health-title">{t.staff.health}</h2>
          {health.loading ? <Loading /> : null}
          {!health.loading && health.error ? (
            <p class="health">
              <span class="dot dot-bad" aria-hidden="true" /> {t.staff.apiDown}
            </p>
          ) : null}
          {!health.loading && health.data !== undefined && !health.error ? (
            <p class="health">
              <span class="dot dot-ok" aria-hidden="true" /> {t.staff.apiUp(health.data)}
            </p>
          ) : null}
          <p class="muted small">{t.staff.healthNote}</p>
        </section>
        <section class="card" aria-labelledby="counts-title">
          <h2 id="counts-title">{t.staff.examsByStatus}</h2>
          <LoadStatus load={exams} />
          {exams.data ? (
            <dl class="facts">
              {STATUSES.map((s) => (
                <>
                  <dt key={`${s}-t`}>{t.examStatus[s]}</dt>
                  <dd key={`${s}-d`}>{exams.data!.filter((e) => e.status === s).length}</dd>
                </>
              ))}
            </dl>
          ) : null}
        </section>
        <section class="card" aria-labelledby="tasks-title">
          <h2 id="tasks-title">{t.staff.tasks}</h2>
          <ul>
            <li>
              <Link href="/staff/exams">{t.nav.staffExams}</Link>
            </li>
            <li>
              <Link href="/staff/doctors">{t.staff.registerDoctor}</Link>
            </li>
            <li>
              <Link href="/staff/hospitals">{t.staff.registerHospital}</Link>
            </li>
            <li>
              <Link href="/staff/slots">{t.staff.publishSlots}</Link>
            </li>
            <li>
              <Link href="/staff/reports">{t.staff.requestReport}</Link>
            </li>
          </ul>
        </section>
      </div>
    </Page>
  );
}
