//! Contacts (`CONTACT#<accountId>` / `CONTACT`): the projection of each person's contact data
//! and preferences (`state = ACTIVE`), newest version wins, or after `account.deleted` its
//! tombstone (`state = ERASED`, no contact data, kept 21 days).

use crate::domain::ContactStore;
use clinic_shared::dynamo::{self, key, n, s};
use clinic_shared::envelope::{Language, Preferences, Role};
use serde::{Deserialize, Serialize};

use super::{DynamoNotificationStore, PK, contact_pk, to_item, unavailable};
use crate::domain::{Contact, ContactRecord, EmailAddress, EventVersion, PhoneNumber, StoreError};

const CONTACT_SK: &str = "CONTACT";
const ACTIVE: &str = "ACTIVE";
const ERASED: &str = "ERASED";

/// The stored contact (or its tombstone).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactItem {
    pk: String,
    sk: String,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_opt_in: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sms_opt_in: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    language: Option<String>,
    version_ms: i64,
    version_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

fn contact_item(contact: &Contact) -> ContactItem {
    ContactItem {
        pk: contact_pk(&contact.account_id),
        sk: CONTACT_SK.into(),
        state: ACTIVE.into(),
        role: Some(contact.role),
        email: contact.email.as_ref().map(|e| e.as_str().to_string()),
        phone: contact.phone.as_ref().map(|p| p.as_str().to_string()),
        email_opt_in: Some(contact.preferences.email),
        sms_opt_in: Some(contact.preferences.sms),
        language: Some(contact.preferences.language.as_str().to_string()),
        version_ms: contact.version.time_ms,
        version_id: contact.version.event_id.clone(),
        expires_at: None,
    }
}

fn contact_record(item: ContactItem, account_id: &str) -> Result<ContactRecord, StoreError> {
    if item.state == ERASED {
        return Ok(ContactRecord::Erased);
    }
    let role = item
        .role
        .ok_or_else(|| StoreError::Corrupt("contact without a role".into()))?;
    let defaults = Preferences::default();
    Ok(ContactRecord::Active(Contact {
        account_id: account_id.to_string(),
        role,
        email: item
            .email
            .as_deref()
            .and_then(|e| EmailAddress::parse(e).ok()),
        phone: item
            .phone
            .as_deref()
            .and_then(|p| PhoneNumber::parse(p).ok()),
        preferences: Preferences {
            email: item.email_opt_in.unwrap_or(defaults.email),
            sms: item.sms_opt_in.unwrap_or(defaults.sms),
            language: Language::parse_or_default(item.language.as_deref().unwrap_or_default()),
        },
        version: EventVersion {
            time_ms: item.version_ms,
            event_id: item.version_id,
        },
    }))
}

impl ContactStore for DynamoNotificationStore {
    #[tracing::instrument(skip(self))]
    async fn contact(&self, account_id: &str) -> Result<Option<ContactRecord>, StoreError> {
        let stored = dynamo::get_item(
            &self.client,
            &self.table,
            key(contact_pk(account_id), CONTACT_SK),
        )
        .await
        .map_err(|e| unavailable(&e))?;
        match stored {
            None => Ok(None),
            Some(item) => {
                let item: ContactItem = serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Corrupt(format!("contact item: {e}")))?;
                contact_record(item, account_id).map(Some)
            }
        }
    }

    #[tracing::instrument(skip_all, fields(account_id = %contact.account_id))]
    async fn upsert_contact(&self, contact: &Contact) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&contact_item(contact))?))
            .condition_expression(
                "attribute_not_exists(#pk) OR (#state = :active AND (#vms < :vms \
                 OR (#vms = :vms AND #vid < :vid)))",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#vms", "versionMs")
            .expression_attribute_names("#vid", "versionId")
            .expression_attribute_values(":active", s(ACTIVE))
            .expression_attribute_values(":vms", n(contact.version.time_ms))
            .expression_attribute_values(":vid", s(&contact.version.event_id))
            .send()
            .await;
        dynamo::applied(result).map_err(|e| unavailable(&e))
    }

    #[tracing::instrument(skip(self, version))]
    async fn erase_contact(
        &self,
        account_id: &str,
        version: &EventVersion,
        tombstone_expires_s: i64,
    ) -> Result<(), StoreError> {
        let tombstone = ContactItem {
            pk: contact_pk(account_id),
            sk: CONTACT_SK.into(),
            state: ERASED.into(),
            role: None,
            email: None,
            phone: None,
            email_opt_in: None,
            sms_opt_in: None,
            language: None,
            version_ms: version.time_ms,
            version_id: version.event_id.clone(),
            expires_at: Some(tombstone_expires_s),
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&tombstone)?))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let deleted = self.delete_log(account_id).await?;
        tracing::info!(log_entries = deleted, "notification log deleted");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_round_trip_through_items() {
        let contact = Contact {
            account_id: "acc-1".into(),
            role: Role::Patient,
            email: EmailAddress::parse("ana@example.com").ok(),
            phone: None,
            preferences: Preferences {
                email: true,
                sms: false,
                language: Language::En,
            },
            version: EventVersion {
                time_ms: 5,
                event_id: "E".into(),
            },
        };
        let item = to_item(&contact_item(&contact)).unwrap();
        assert!(!item.contains_key("phone"));
        let back: ContactItem = serde_dynamo::from_item(item).unwrap();
        assert_eq!(
            contact_record(back, "acc-1").unwrap(),
            ContactRecord::Active(contact)
        );
    }
}
