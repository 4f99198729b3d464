import type { components } from './schema';

type S = components['schemas'];

export type Profile = S['ProfileResponse'];
export type Role = S['Role'];
export type Language = S['Language'];
export type Exam = S['ExamResponse'];
export type ExamStatus = S['ExamStatus'];
export type Hospital = S['HospitalResponse'];
export type Slot = S['SlotResponse'];
export type FileView = S['FileResponse'];
export type FileStatus = S['FileStatus'];
export type RejectReason = S['RejectReason'];
export type AccessEntry = S['AccessEntryResponse'];
export type AccessAction = S['AccessAction'];
export type Notification = S['NotificationView'];
export type Channel = S['Channel'];
export type TemplateId = S['TemplateId'];
export type DeliveryStatus = S['DeliveryStatus'];
export type Report = S['ReportResponse'];
export type ReportStatus = S['ReportStatus'];
export type ReportFormat = S['ReportFormat'];
export type Doctor = S['DoctorSummary'];
export type Tokens = S['TokenResponse'];
