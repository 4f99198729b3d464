//! Response bodies and query parameters of the notifications API.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Channel, DeliveryStatus, LogEntry, TemplateId};

/// One notification sent to (or held back from) the caller. Never the message itself.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub channel: Channel,
    /// Which message it was, e.g. `result_ready`.
    pub template: TemplateId,
    pub status: DeliveryStatus,
    /// Why it failed or was held back (a provider error code or a rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The event that caused it.
    pub event_id: String,
    #[schema(example = "exam.result.ready")]
    pub event_type: String,
    /// When the outcome was recorded.
    #[schema(value_type = String, format = DateTime)]
    pub time: Timestamp,
    /// When the event happened (the list is ordered by it, newest first).
    #[schema(value_type = String, format = DateTime)]
    pub event_time: Timestamp,
}

impl From<LogEntry> for NotificationView {
    fn from(entry: LogEntry) -> Self {
        Self {
            channel: entry.channel,
            template: entry.template,
            status: entry.status,
            reason: entry.reason,
            event_id: entry.event_id,
            event_type: entry.event_type,
            time: entry.recorded_at,
            event_time: entry.event_time,
        }
    }
}

/// A page of the caller's notifications.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsPage {
    pub items: Vec<NotificationView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

clinic_shared::page_response!(NotificationsPage, NotificationView);

/// `GET /v1/me/notifications` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}
