import type { ExamStatus, FileStatus, ReportStatus } from '../api/types';
import { useT } from '../i18n';
import { Badge } from './kit';

const examTone: Record<ExamStatus, 'neutral' | 'info' | 'success' | 'warning' | 'danger'> = {
  SCHEDULED: 'info',
  COLLECTED: 'warning',
  COMPLETED: 'neutral',
  RESULT_READY: 'success',
  CANCELLED: 'danger',
};

export function ExamStatusBadge({ status }: { status: ExamStatus }) {
  const t = useT();
  return <Badge tone={examTone[status]}>{t.examStatus[status]}</Badge>;
}

const fileTone: Record<FileStatus, 'neutral' | 'info' | 'success' | 'warning' | 'danger'> = {
  PENDING: 'warning',
  AVAILABLE: 'success',
  REJECTED: 'danger',
  ERASED: 'neutral',
};

export function FileStatusBadge({ status }: { status: FileStatus }) {
  const t = useT();
  return <Badge tone={fileTone[status]}>{t.fileStatus[status]}</Badge>;
}

const reportTone: Record<ReportStatus, 'neutral' | 'info' | 'success' | 'warning' | 'danger'> = {
  queued: 'neutral',
  processing: 'info',
  done: 'success',
  error: 'danger',
};

export function ReportStatusBadge({ status }: { status: ReportStatus }) {
  const t = useT();
  return <Badge tone={reportTone[status]}>{t.reportStatus[status]}</Badge>;
}
