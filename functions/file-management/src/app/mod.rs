//! Use cases of the file-management service, one module per function family. Each receives parsed
//! values, talks to the ports only and says in its errors whether a retry can help.

pub mod files;
pub mod projection;
pub mod reports;
pub mod uploads;

#[cfg(test)]
mod tests;

use clinic_shared::envelope::{Envelope, EventData};

/// Event source name of this service.
pub const SOURCE: &str = "clinic.file-management";

/// Key of an upload in the uploads bucket: reveals nothing but the opaque file id.
pub fn upload_key(file_id: &str) -> String {
    format!("incoming/{file_id}")
}

/// Key of an available file in the results bucket.
pub fn result_key(file_id: &str) -> String {
    format!("files/{file_id}")
}

/// Key of a report in the results bucket.
pub fn report_key(report_id: &str, extension: &str) -> String {
    format!("reports/{report_id}.{extension}")
}

pub(crate) fn event<T: EventData>(subject: &str, data: T, trace: &str) -> Envelope {
    Envelope::new(SOURCE, subject, data, trace).into_raw()
}
