import type { ExamStatus, FileStatus, ReportStatus } from '../api/types';
import { useT } from '../i18n';
import { Badge, type Tone } from './kit';

const examTone: Record<ExamStatus, Tone> = {
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

const fileTone: Record<FileStatus, Tone> = {
  PENDING: 'warning',
  AVAILABLE: 'success',
  REJECTED: 'danger',
  ERASED: 'neutral',
};

export function FileStatusBadge({ status }: { status: FileStatus }) {
  const t = useT();
  return <Badge tone={fileTone[status]}>{t.fileStatus[status]}</Badge>;
}

const reportTone: Record<ReportStatus, Tone> = {
  queued: 'neutral',
  processing: 'info',
  done: 'success',
  error: 'danger',
};

export function ReportStatusBadge({ status }: { status: ReportStatus }) {
  const t = useT();
  return <Badge tone={reportTone[status]}>{t.reportStatus[status]}</Badge>;
}
