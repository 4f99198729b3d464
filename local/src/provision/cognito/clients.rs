//! App clients: found by name in their pool (with their secret, when they have one), else
//! created; each recorded for the identity settings (the web clients are those without a
//! secret).

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::{
    ExplicitAuthFlowsType, OAuthFlowType, PreventUserExistenceErrorTypes, TimeUnitsType,
    TokenValidityUnitsType,
};
use tracing::info;

use super::{CognitoFacts, find_in_pages, non_empty};
use crate::provision::errors::ProvisionError;
use crate::provision::props::{Node, Place};
use crate::template::{ResourceValues, TemplateError};

/// Creates app client `name` unless the pool has one of that name; its `Ref` is the client id.
pub(in crate::provision) async fn ensure_client(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
    facts: &mut CognitoFacts,
) -> Result<ResourceValues, ProvisionError> {
    let pool = props.require("UserPoolId")?.string()?;
    let wants_secret = props.flag("GenerateSecret")?;
    let (id, secret) = match find_client(client, place, &pool, name).await? {
        Some(id) => {
            info!(
                resource = place.logical_id(),
                client = name,
                id,
                "app client found"
            );
            let secret = if wants_secret {
                client
                    .describe_user_pool_client()
                    .user_pool_id(&pool)
                    .client_id(&id)
                    .send()
                    .await
                    .map_err(place.aws("DescribeUserPoolClient"))?
                    .user_pool_client
                    .and_then(|c| c.client_secret)
            } else {
                None
            };
            (id, secret)
        }
        None => {
            let created = create_client(client, place, props, &pool, name, wants_secret).await?;
            info!(
                resource = place.logical_id(),
                client = name,
                id = created.0,
                "app client created"
            );
            created
        }
    };
    facts
        .clients
        .push((pool, id.clone(), wants_secret || secret.is_some()));
    let mut values = ResourceValues::new(&id)
        .with("ClientId", &id)
        .with("Name", name);
    if let Some(secret) = secret {
        values = values.with("ClientSecret", secret);
    }
    Ok(values)
}

async fn find_client(
    client: &Client,
    place: Place<'_>,
    pool: &str,
    name: &str,
) -> Result<Option<String>, ProvisionError> {
    find_in_pages(|token| async move {
        let out = client
            .list_user_pool_clients()
            .user_pool_id(pool)
            .max_results(60)
            .set_next_token(token)
            .send()
            .await
            .map_err(place.aws("ListUserPoolClients"))?;
        let found = out
            .user_pool_clients()
            .iter()
            .find(|c| c.client_name() == Some(name))
            .and_then(|c| c.client_id())
            .map(str::to_string);
        Ok((found, out.next_token))
    })
    .await
}

async fn create_client(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    pool: &str,
    name: &str,
    wants_secret: bool,
) -> Result<(String, Option<String>), ProvisionError> {
    let mut request = client
        .create_user_pool_client()
        .user_pool_id(pool)
        .client_name(name)
        .generate_secret(wants_secret)
        .set_explicit_auth_flows(non_empty(
            props
                .strings("ExplicitAuthFlows")?
                .iter()
                .map(|f| ExplicitAuthFlowsType::from(f.as_str()))
                .collect(),
        ))
        .set_allowed_o_auth_flows(non_empty(
            props
                .strings("AllowedOAuthFlows")?
                .iter()
                .map(|f| OAuthFlowType::from(f.as_str()))
                .collect(),
        ))
        .set_allowed_o_auth_scopes(non_empty(props.strings("AllowedOAuthScopes")?))
        .set_allowed_o_auth_flows_user_pool_client(
            props.opt_bool("AllowedOAuthFlowsUserPoolClient")?,
        )
        .set_callback_urls(non_empty(props.strings("CallbackURLs")?))
        .set_logout_urls(non_empty(props.strings("LogoutURLs")?))
        .set_default_redirect_uri(props.opt_string("DefaultRedirectURI")?)
        .set_supported_identity_providers(non_empty(props.strings("SupportedIdentityProviders")?))
        .set_prevent_user_existence_errors(
            props
                .opt_string("PreventUserExistenceErrors")?
                .map(|p| PreventUserExistenceErrorTypes::from(p.as_str())),
        )
        .set_enable_token_revocation(props.opt_bool("EnableTokenRevocation")?)
        .set_auth_session_validity(props.opt_int("AuthSessionValidity")?)
        .set_access_token_validity(props.opt_int("AccessTokenValidity")?)
        .set_id_token_validity(props.opt_int("IdTokenValidity")?)
        .set_refresh_token_validity(props.opt_int("RefreshTokenValidity")?)
        .set_read_attributes(non_empty(props.strings("ReadAttributes")?))
        .set_write_attributes(non_empty(props.strings("WriteAttributes")?));
    if let Some(units) = props.get("TokenValidityUnits") {
        let unit = |key: &str| -> Result<Option<TimeUnitsType>, TemplateError> {
            Ok(units
                .opt_string(key)?
                .map(|u| TimeUnitsType::from(u.as_str())))
        };
        request = request.token_validity_units(
            TokenValidityUnitsType::builder()
                .set_access_token(unit("AccessToken")?)
                .set_id_token(unit("IdToken")?)
                .set_refresh_token(unit("RefreshToken")?)
                .build(),
        );
    }
    let created = request
        .send()
        .await
        .map_err(place.aws("CreateUserPoolClient"))?
        .user_pool_client;
    let secret = created.as_ref().and_then(|c| c.client_secret.clone());
    let id = created
        .and_then(|c| c.client_id)
        .ok_or_else(|| ProvisionError::Request {
            location: place.location(),
            logical_id: place.logical_id().to_string(),
            message: "CreateUserPoolClient returned no client id".into(),
        })?;
    Ok((id, secret))
}
