//! The access log ([`AuditTrail`]): download grants of an exam's files (`ACCESS#<examId>`) and
//! of reports (`ACCESS#REPORT#<reportId>`), appended as conditional puts, read back with the
//! exam's erased files.

use super::{DynamoStore, s, sortable, to_item};
use crate::domain::{AccessEntry, AuditTrail, Page, ReportGrant, StoreError};

/// Where an access-log page continues: in the grants, or in the erased files.
const CURSOR_GRANTS: &str = "G:";
const CURSOR_ERASED: &str = "E:";

impl AuditTrail for DynamoStore {
    async fn append(&self, entry: &AccessEntry) -> Result<(), StoreError> {
        let mut item = to_item(entry)?;
        item.insert("pk".into(), s(format!("ACCESS#{}", entry.exam_id)));
        item.insert(
            "sk".into(),
            s(format!("{}#{}", sortable(entry.at), entry.entry_id)),
        );
        self.put_audit_entry(item).await
    }

    async fn append_report_grant(&self, grant: &ReportGrant) -> Result<(), StoreError> {
        let mut item = to_item(grant)?;
        item.insert("pk".into(), s(format!("ACCESS#REPORT#{}", grant.report_id)));
        item.insert(
            "sk".into(),
            s(format!("{}#{}", sortable(grant.at), grant.entry_id)),
        );
        self.put_audit_entry(item).await
    }

    async fn entries(
        &self,
        exam_id: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<AccessEntry>, StoreError> {
        // Grants first, then erased files (an exam's files are erased after its last grant).
        let (in_grants, inner) = match cursor {
            None => (true, None),
            Some(raw) => match (
                raw.strip_prefix(CURSOR_GRANTS),
                raw.strip_prefix(CURSOR_ERASED),
            ) {
                (Some(inner), _) => (true, Some(inner)),
                (None, Some(inner)) => (false, (!inner.is_empty()).then_some(inner)),
                (None, None) => return Err(StoreError::InvalidCursor),
            },
        };
        let mut items = Vec::new();
        let mut inner = inner;
        if in_grants {
            let page: Page<AccessEntry> = self
                .query_page(
                    None,
                    "pk = :pk",
                    vec![(":pk", s(format!("ACCESS#{exam_id}")))],
                    &["pk", "sk"],
                    limit,
                    inner,
                )
                .await?;
            if let Some(next) = page.next_cursor {
                return Ok(Page {
                    items: page.items,
                    next_cursor: Some(format!("{CURSOR_GRANTS}{next}")),
                });
            }
            items = page.items;
            inner = None;
        }
        let left = limit.saturating_sub(u16::try_from(items.len()).unwrap_or(u16::MAX));
        if left == 0 {
            return Ok(Page {
                items,
                next_cursor: Some(CURSOR_ERASED.to_string()),
            });
        }
        let page: Page<AccessEntry> = self
            .query_page(
                None,
                "pk = :pk",
                vec![(":pk", s(format!("ERASED#{exam_id}")))],
                &["pk", "sk"],
                left,
                inner,
            )
            .await?;
        items.extend(page.items);
        Ok(Page {
            items,
            next_cursor: page.next_cursor.map(|n| format!("{CURSOR_ERASED}{n}")),
        })
    }
}
