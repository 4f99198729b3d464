//! The user pool: found by name, else created from its properties (policies, schema,
//! verification, recovery, tags); its id recorded for the identity settings.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::{
    AccountRecoverySettingType, AdminCreateUserConfigType, AliasAttributeType, AttributeDataType,
    DefaultEmailOptionType, DeletionProtectionType, NumberAttributeConstraintsType,
    PasswordPolicyType, RecoveryOptionNameType, RecoveryOptionType, SchemaAttributeType,
    StringAttributeConstraintsType, UserAttributeUpdateSettingsType, UserPoolMfaType,
    UserPoolPolicyType, UsernameAttributeType, UsernameConfigurationType,
    VerificationMessageTemplateType, VerifiedAttributeType,
};
use tracing::{info, warn};

use super::{CognitoFacts, find_in_pages, non_empty};
use crate::provision::errors::ProvisionError;
use crate::provision::props::{Node, Place};
use crate::template::{ACCOUNT_ID, REGION, ResourceValues, TemplateError};

/// Creates the user pool unless one of that name exists; returns its values.
pub(in crate::provision) async fn ensure_user_pool(
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
    find_in_pages(|token| async move {
        let out = client
            .list_user_pools()
            .max_results(60)
            .set_next_token(token)
            .send()
            .await
            .map_err(place.aws("ListUserPools"))?;
        let found = out
            .user_pools()
            .iter()
            .find(|p| p.name() == Some(name))
            .and_then(|p| p.id())
            .map(str::to_string);
        Ok((found, out.next_token))
    })
    .await
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
