//! Lambda entry of the HTTP API's Lambda authorizer (people and registered hospitals).

use clinic_accounts::inbound::authorizer::{Authorizer, AuthorizerConfig};
use clinic_accounts::outbound::dynamodb::DynamoAccountStore;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = clinic_shared::entry::start(AuthorizerConfig::from_env).await?;
    let table = clinic_shared::config::required("TABLE_NAME")?;
    let authorizer = Authorizer::new(
        config,
        DynamoAccountStore::new(clinic_shared::aws::dynamodb(&sdk), table),
    );
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            authorizer
                .handle(event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
