//! Hospitals (`HOSPITAL#<id>` / `PROFILE`, listed by name on `gsi1`) and the machine client of
//! each (`HOSPITALCLIENT#<clientId>` / `CLIENT`), through which the authorizer finds a
//! client's hospital.

use crate::domain::HospitalStore;
use aws_sdk_dynamodb::types::TransactWriteItem;
use clinic_shared::dynamo::{self, s};
use clinic_shared::envelope::Envelope;

use super::{DynamoAccountStore, to_item};
use crate::domain::error::StoreError;
use crate::domain::values::fold;
use crate::domain::{Claim, Hospital};

fn hospital_client_pk(client_id: &str) -> String {
    format!("HOSPITALCLIENT#{client_id}")
}

impl HospitalStore for DynamoAccountStore {
    async fn create_hospital(
        &self,
        hospital: &Hospital,
        claims: &[Claim],
        reservation: &str,
        events: &[Envelope],
    ) -> Result<(), StoreError> {
        let mut item = to_item(hospital)?;
        item.insert("pk".into(), s(format!("HOSPITAL#{}", hospital.id)));
        item.insert("sk".into(), s("PROFILE"));
        item.insert("gsi1pk".into(), s("HOSPITAL"));
        item.insert(
            "gsi1sk".into(),
            s(format!("{}#{}", fold(&hospital.name), hospital.id)),
        );
        // The authorizer maps a machine client's token to its hospital through this item.
        let mut client = dynamo::key(hospital_client_pk(&hospital.client_id), "CLIENT");
        client.insert("hospitalId".to_string(), s(&hospital.id));
        let mut items = vec![
            TransactWriteItem::builder()
                .put(self.put(item, "attribute_not_exists(pk)")?)
                .build(),
            TransactWriteItem::builder()
                .put(self.put(client, "attribute_not_exists(pk)")?)
                .build(),
        ];
        items.extend(self.bind_claims(claims, reservation, &hospital.id)?);
        items.extend(self.outbox(events)?);
        self.transact_or_conflict(items, "reservation lost").await
    }
}

impl crate::inbound::authorizer::HospitalDirectory for DynamoAccountStore {
    async fn hospital_for_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        let item = self.get(&hospital_client_pk(client_id)).await?;
        Ok(item.and_then(|item| dynamo::text(&item, "hospitalId")))
    }
}
