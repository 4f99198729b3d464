//! Cognito: the user pool (found by name), its groups, app clients (found by name), resource
//! servers (found by identifier) and domain. What the runner needs later — pool id, clients
//! without a secret, resource-server scopes — is recorded in [`CognitoFacts`].

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::{
    AccountRecoverySettingType, AdminCreateUserConfigType, AliasAttributeType, AttributeDataType,
    DefaultEmailOptionType, DeletionProtectionType, ExplicitAuthFlowsType,
    NumberAttributeConstraintsType, OAuthFlowType, PasswordPolicyType,
    PreventUserExistenceErrorTypes, RecoveryOptionNameType, RecoveryOptionType,
    ResourceServerScopeType, SchemaAttributeType, StringAttributeConstraintsType, TimeUnitsType,
    TokenValidityUnitsType, UserAttributeUpdateSettingsType, UserPoolMfaType, UserPoolPolicyType,
    UsernameAttributeType, UsernameConfigurationType, VerificationMessageTemplateType,
    VerifiedAttributeType,
};
use tracing::{info, warn};

use super::errors::ProvisionError;
use super::props::{Node, Place};
use crate::model::IdentitySpec;
use crate::template::{ACCOUNT_ID, REGION, ResourceValues, TemplateError};

/// What provisioning learnt about the Cognito resources, for [`IdentitySpec`].
#[derive(Debug, Default)]
pub(crate) struct CognitoFacts {
    /// Pool ids, in template order.
    pub pools: Vec<String>,
    /// (pool id, client id, has a secret).
    pub clients: Vec<(String, String, bool)>,
    /// (pool id, `identifier/scope`).
    pub scopes: Vec<(String, String)>,
}

impl CognitoFacts {
    /// The identity settings of the first user pool, if the template has one.
    pub fn identity(&self) -> Option<IdentitySpec> {
        let pool = self.pools.first()?;
        if self.pools.len() > 1 {
            warn!(
                pool,
                "the template has several user pools; the runner uses the first"
            );
        }
        Some(IdentitySpec {
            user_pool_id: pool.clone(),
            web_client_ids: self
                .clients
                .iter()
                .filter(|(p, _, secret)| p == pool && !secret)
                .map(|(_, id, _)| id.clone())
                .collect(),
            issuer: issuer(pool),
            resource_scopes: self
                .scopes
                .iter()
                .filter(|(p, _)| p == pool)
                .map(|(_, s)| s.clone())
                .collect(),
        })
    }
}

/// The `iss` of the pool's tokens (also what the emulator writes).
pub(crate) fn issuer(pool_id: &str) -> String {
    format!("https://cognito-idp.{REGION}.amazonaws.com/{pool_id}")
}

/// Creates the user pool unless one of that name exists; returns its values.
pub(crate) async fn ensure_user_pool(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
    facts: &mut CognitoFacts,
) -> Result<ResourceValues, ProvisionError> {
    let id = match find_pool(client, place, name).await? {
        Some(id) => {
            info!(
                resource = place.logical_id(),
                pool = name,
                id,
                "user pool found"
            );
            id
        }
        None => {
            let id = create_pool(client, place, props, name).await?;
            info!(
                resource = place.logical_id(),
                pool = name,
                id,
                "user pool created"
            );
            id
        }
    };
    if props.get("LambdaConfig").is_some() {
        warn!(
            resource = place.logical_id(),
            "user pool Lambda triggers are not run locally"
        );
    }
    facts.pools.push(id.clone());
    let provider = format!("cognito-idp.{REGION}.amazonaws.com/{id}");
    Ok(ResourceValues::new(&id)
        .with(
            "Arn",
            format!("arn:aws:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/{id}"),
        )
        .with("ProviderName", &provider)
        .with("ProviderURL", format!("https://{provider}"))
        .with("UserPoolId", &id))
}

async fn find_pool(
    client: &Client,
    place: Place<'_>,
    name: &str,
) -> Result<Option<String>, ProvisionError> {
    let mut token = None;
    loop {
        let out = client
            .list_user_pools()
            .max_results(60)
            .set_next_token(token)
            .send()
            .await
            .map_err(place.aws("ListUserPools"))?;
        if let Some(id) = out
            .user_pools()
            .iter()
            .find(|p| p.name() == Some(name))
            .and_then(|p| p.id())
        {
            return Ok(Some(id.to_string()));
        }
        token = out.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
}

async fn create_pool(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<String, ProvisionError> {
    let mut request = client
        .create_user_pool()
        .pool_name(name)
        .set_username_attributes(non_empty(
            props
                .strings("UsernameAttributes")?
                .iter()
                .map(|a| UsernameAttributeType::from(a.as_str()))
                .collect(),
        ))
        .set_alias_attributes(non_empty(
            props
                .strings("AliasAttributes")?
                .iter()
                .map(|a| AliasAttributeType::from(a.as_str()))
                .collect(),
        ))
        .set_auto_verified_attributes(non_empty(
            props
                .strings("AutoVerifiedAttributes")?
                .iter()
                .map(|a| VerifiedAttributeType::from(a.as_str()))
                .collect(),
        ))
        .set_mfa_configuration(
            props
                .opt_string("MfaConfiguration")?
                .map(|m| UserPoolMfaType::from(m.as_str())),
        )
        .set_deletion_protection(
            props
                .opt_string("DeletionProtection")?
                .map(|d| DeletionProtectionType::from(d.as_str())),
        );
    if let Some(policy) = props.get("Policies").and_then(|p| p.get("PasswordPolicy")) {
        request = request.policies(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .set_minimum_length(policy.opt_int("MinimumLength")?)
                        .set_require_uppercase(policy.opt_bool("RequireUppercase")?)
                        .set_require_lowercase(policy.opt_bool("RequireLowercase")?)
                        .set_require_numbers(policy.opt_bool("RequireNumbers")?)
                        .set_require_symbols(policy.opt_bool("RequireSymbols")?)
                        .set_temporary_password_validity_days(
                            policy.opt_int("TemporaryPasswordValidityDays")?,
                        )
                        .build(),
                )
                .build(),
        );
    }
    for attribute in props.list("Schema")? {
        request = request.schema(schema_attribute(&attribute)?);
    }
    if let Some(config) = props.get("UsernameConfiguration") {
        request = request.username_configuration(
            UsernameConfigurationType::builder()
                .set_case_sensitive(config.opt_bool("CaseSensitive")?)
                .build()
                .map_err(place.request("UsernameConfiguration"))?,
        );
    }
    if let Some(recovery) = props.get("AccountRecoverySetting") {
        let mut mechanisms = Vec::new();
        for mechanism in recovery.list("RecoveryMechanisms")? {
            mechanisms.push(
                RecoveryOptionType::builder()
                    .name(RecoveryOptionNameType::from(
                        mechanism.require("Name")?.string()?.as_str(),
                    ))
                    .priority(mechanism.require("Priority")?.int_as()?)
                    .build()
                    .map_err(place.request("AccountRecoverySetting"))?,
            );
        }
        request = request.account_recovery_setting(
            AccountRecoverySettingType::builder()
                .set_recovery_mechanisms(Some(mechanisms))
                .build(),
        );
    }
    if let Some(admin) = props.get("AdminCreateUserConfig") {
        request = request.admin_create_user_config(
            AdminCreateUserConfigType::builder()
                .set_allow_admin_create_user_only(admin.opt_bool("AllowAdminCreateUserOnly")?)
                .build(),
        );
    }
    if let Some(template) = props.get("VerificationMessageTemplate") {
        request = request.verification_message_template(
            VerificationMessageTemplateType::builder()
                .set_default_email_option(
                    template
                        .opt_string("DefaultEmailOption")?
                        .map(|o| DefaultEmailOptionType::from(o.as_str())),
                )
                .set_email_message(template.opt_string("EmailMessage")?)
                .set_email_subject(template.opt_string("EmailSubject")?)
                .set_sms_message(template.opt_string("SmsMessage")?)
                .build(),
        );
    }
    if let Some(settings) = props.get("UserAttributeUpdateSettings") {
        request = request.user_attribute_update_settings(
            UserAttributeUpdateSettingsType::builder()
                .set_attributes_require_verification_before_update(Some(
                    settings
                        .strings("AttributesRequireVerificationBeforeUpdate")?
                        .iter()
                        .map(|a| VerifiedAttributeType::from(a.as_str()))
                        .collect(),
                ))
                .build(),
        );
    }
    if let Some(tags) = props.get("UserPoolTags") {
        for (key, value) in tags.entries()? {
            request = request.user_pool_tags(key, value.string()?);
        }
    }
    let out = request.send().await.map_err(place.aws("CreateUserPool"))?;
    out.user_pool
        .and_then(|p| p.id)
        .ok_or_else(|| ProvisionError::Request {
            location: place.location(),
            logical_id: place.logical_id().to_string(),
            message: "CreateUserPool returned no pool id".into(),
        })
}

fn schema_attribute(attribute: &Node<'_>) -> Result<SchemaAttributeType, TemplateError> {
    let mut builder = SchemaAttributeType::builder()
        .set_name(attribute.opt_string("Name")?)
        .set_attribute_data_type(
            attribute
                .opt_string("AttributeDataType")?
                .map(|t| AttributeDataType::from(t.as_str())),
        )
        .set_developer_only_attribute(attribute.opt_bool("DeveloperOnlyAttribute")?)
        .set_mutable(attribute.opt_bool("Mutable")?)
        .set_required(attribute.opt_bool("Required")?);
    if let Some(constraints) = attribute.get("StringAttributeConstraints") {
        builder = builder.string_attribute_constraints(
            StringAttributeConstraintsType::builder()
                .set_min_length(constraints.opt_string("MinLength")?)
                .set_max_length(constraints.opt_string("MaxLength")?)
                .build(),
        );
    }
    if let Some(constraints) = attribute.get("NumberAttributeConstraints") {
        builder = builder.number_attribute_constraints(
            NumberAttributeConstraintsType::builder()
                .set_min_value(constraints.opt_string("MinValue")?)
                .set_max_value(constraints.opt_string("MaxValue")?)
                .build(),
        );
    }
    Ok(builder.build())
}

/// Creates group `name` in its pool unless it exists; its `Ref` is the name.
pub(crate) async fn ensure_group(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
) -> Result<ResourceValues, ProvisionError> {
    let pool = props.require("UserPoolId")?.string()?;
    match client
        .get_group()
        .user_pool_id(&pool)
        .group_name(name)
        .send()
        .await
    {
        Ok(_) => info!(resource = place.logical_id(), group = name, "group found"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            client
                .create_group()
                .user_pool_id(&pool)
                .group_name(name)
                .set_description(props.opt_string("Description")?)
                .set_precedence(props.opt_int("Precedence")?)
                .set_role_arn(props.opt_string("RoleArn")?)
                .send()
                .await
                .map_err(place.aws("CreateGroup"))?;
            info!(resource = place.logical_id(), group = name, "group created");
        }
        Err(e) => return Err(place.aws("GetGroup")(e)),
    }
    Ok(ResourceValues::new(name))
}

/// Creates app client `name` unless the pool has one of that name; its `Ref` is the client id.
pub(crate) async fn ensure_client(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    name: &str,
    facts: &mut CognitoFacts,
) -> Result<ResourceValues, ProvisionError> {
    let pool = props.require("UserPoolId")?.string()?;
    let wants_secret = props.opt_bool("GenerateSecret")?.unwrap_or(false);
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
    let mut token = None;
    loop {
        let out = client
            .list_user_pool_clients()
            .user_pool_id(pool)
            .max_results(60)
            .set_next_token(token)
            .send()
            .await
            .map_err(place.aws("ListUserPoolClients"))?;
        if let Some(id) = out
            .user_pool_clients()
            .iter()
            .find(|c| c.client_name() == Some(name))
            .and_then(|c| c.client_id())
        {
            return Ok(Some(id.to_string()));
        }
        token = out.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
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

/// Creates the resource server unless its identifier exists in the pool (then its scopes are
/// brought in line); its `Ref` is the identifier.
pub(crate) async fn ensure_resource_server(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
    facts: &mut CognitoFacts,
) -> Result<ResourceValues, ProvisionError> {
    let pool = props.require("UserPoolId")?.string()?;
    let identifier = props.require("Identifier")?.string()?;
    let name = props.require("Name")?.string()?;
    let mut scopes = Vec::new();
    for scope in props.list("Scopes")? {
        scopes.push(
            ResourceServerScopeType::builder()
                .scope_name(scope.require("ScopeName")?.string()?)
                .scope_description(scope.require("ScopeDescription")?.string()?)
                .build()
                .map_err(place.request("Scopes"))?,
        );
    }
    match client
        .describe_resource_server()
        .user_pool_id(&pool)
        .identifier(&identifier)
        .send()
        .await
    {
        Ok(out) => {
            info!(
                resource = place.logical_id(),
                identifier, "resource server found"
            );
            let current = out.resource_server;
            let same = current.as_ref().is_some_and(|s| {
                s.name() == Some(name.as_str()) && same_scopes(s.scopes(), &scopes)
            });
            if !same {
                client
                    .update_resource_server()
                    .user_pool_id(&pool)
                    .identifier(&identifier)
                    .name(&name)
                    .set_scopes(Some(scopes.clone()))
                    .send()
                    .await
                    .map_err(place.aws("UpdateResourceServer"))?;
                info!(
                    resource = place.logical_id(),
                    identifier, "resource server updated"
                );
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            client
                .create_resource_server()
                .user_pool_id(&pool)
                .identifier(&identifier)
                .name(&name)
                .set_scopes(Some(scopes.clone()))
                .send()
                .await
                .map_err(place.aws("CreateResourceServer"))?;
            info!(
                resource = place.logical_id(),
                identifier, "resource server created"
            );
        }
        Err(e) => return Err(place.aws("DescribeResourceServer")(e)),
    }
    for scope in &scopes {
        facts
            .scopes
            .push((pool.clone(), format!("{identifier}/{}", scope.scope_name())));
    }
    Ok(ResourceValues::new(identifier))
}

fn same_scopes(current: &[ResourceServerScopeType], wanted: &[ResourceServerScopeType]) -> bool {
    let key = |s: &ResourceServerScopeType| {
        (
            s.scope_name().to_string(),
            s.scope_description().to_string(),
        )
    };
    let mut a: Vec<_> = current.iter().map(key).collect();
    let mut b: Vec<_> = wanted.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

/// Creates the pool's domain unless it exists. The emulator has no hosted UI or token
/// endpoint behind it, so a refusal is only a warning.
pub(crate) async fn ensure_domain(
    client: &Client,
    place: Place<'_>,
    props: &Node<'_>,
) -> Result<ResourceValues, ProvisionError> {
    let pool = props.require("UserPoolId")?.string()?;
    let domain = props.require("Domain")?.string()?;
    let mut values = ResourceValues::new(&domain);
    match client
        .describe_user_pool_domain()
        .domain(&domain)
        .send()
        .await
    {
        Ok(out)
            if out
                .domain_description()
                .and_then(|d| d.user_pool_id())
                .is_some() =>
        {
            info!(
                resource = place.logical_id(),
                domain, "user pool domain found"
            );
            if let Some(distribution) = out
                .domain_description()
                .and_then(|d| d.cloud_front_distribution())
            {
                values = values.with("CloudFrontDistribution", distribution);
            }
            return Ok(values);
        }
        Ok(_) => {}
        Err(e) => {
            warn!(
                resource = place.logical_id(),
                domain,
                error = %aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(&e),
                "user pool domain skipped: the emulator refused DescribeUserPoolDomain"
            );
            return Ok(values);
        }
    }
    match client
        .create_user_pool_domain()
        .user_pool_id(&pool)
        .domain(&domain)
        .send()
        .await
    {
        Ok(out) => {
            info!(
                resource = place.logical_id(),
                domain, "user pool domain created"
            );
            if let Some(distribution) = out.cloud_front_domain() {
                values = values.with("CloudFrontDistribution", distribution);
            }
        }
        Err(e) => warn!(
            resource = place.logical_id(),
            domain,
            error = %aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(&e),
            "user pool domain skipped: the emulator refused CreateUserPoolDomain"
        ),
    }
    Ok(values)
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}
