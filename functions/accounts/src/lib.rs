//! Clinic's accounts service: patients sign up and manage their profile, everyone signs in, staff
//! register doctors and hospitals. Identities live in Cognito, profiles in the service's DynamoDB
//! table, and every change is announced on `accounts-events` through a transactional outbox.
//!
//! Layers: `inbound` (HTTP) → `app` (use cases) → `domain` (values, model, ports); `outbound`
//! implements the ports with the AWS SDK.

pub mod app;
pub mod config;
pub mod domain;
pub mod inbound;
pub mod outbound;

use std::sync::Arc;

use clinic_shared::auth::IngestScope;

use crate::app::Accounts;
use crate::config::ApiConfig;
use crate::inbound::http::AppState;
use crate::outbound::cognito::CognitoIdentity;
use crate::outbound::dynamodb::DynamoAccountStore;

/// The production service behind the HTTP API: Cognito and DynamoDB adapters.
pub type AccountsService = Accounts<CognitoIdentity, DynamoAccountStore>;

/// Builds the API router from configuration and an SDK configuration (clients made once).
pub fn build_api(config: &ApiConfig, sdk: &aws_config::SdkConfig) -> axum::Router {
    let identity = CognitoIdentity::new(
        aws_sdk_cognitoidentityprovider::Client::new(sdk),
        config.user_pool_id.clone(),
        config.user_pool_client_id.clone(),
        config.ingest_scope.clone(),
    );
    let store =
        DynamoAccountStore::new(clinic_shared::aws::dynamodb(sdk), config.table_name.clone());
    let state = AppState {
        accounts: Arc::new(Accounts::new(identity, store)),
    };
    inbound::http::router(state, IngestScope(config.ingest_scope.clone()))
}
