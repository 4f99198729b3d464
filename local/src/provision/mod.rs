//! Provisioning: creates every resource of the template in the emulator, in dependency order,
//! reusing what a previous run created (so running twice changes nothing), records each
//! resource's `Ref`/`Fn::GetAtt` values as AWS gives them, and describes what the runner runs
//! as a [`LocalStack`].

pub mod errors;

mod api;
mod cognito;
mod dynamodb;
mod functions;
mod ignored;
mod names;
mod props;
mod s3;
mod sns;
mod sqs;

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tracing::info;

pub use errors::ProvisionError;

use crate::model::LocalStack;
use crate::template::{
    DEFAULT_STACK_NAME, ResolveSettings, Resolver, ResourceKind, Template, TemplateError,
};
use api::HttpApiInfo;
use cognito::CognitoFacts;
use props::Place;

/// The emulator's address unless configured.
pub const DEFAULT_EMULATOR_URL: &str = "http://127.0.0.1:4566";

/// What provisioning needs besides the template and the SDK configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionSettings {
    /// `AWS::StackName`, and the prefix of generated physical names.
    pub stack_name: String,
    /// The emulator's base URL (the JWKS of the user pool is served under it).
    pub emulator_url: String,
    /// Values for template parameters, replacing their defaults.
    pub parameter_overrides: BTreeMap<String, String>,
}

impl Default for ProvisionSettings {
    fn default() -> Self {
        Self {
            stack_name: DEFAULT_STACK_NAME.to_string(),
            emulator_url: DEFAULT_EMULATOR_URL.to_string(),
            parameter_overrides: BTreeMap::new(),
        }
    }
}

/// One SDK client per service the template uses.
struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    cognito: aws_sdk_cognitoidentityprovider::Client,
}

impl Clients {
    fn new(config: &aws_config::SdkConfig) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(config),
        }
    }
}

/// Creates (or finds) every resource of `template` in the emulator `config` points at, and
/// returns the functions, HTTP API and identity settings the runner needs.
///
/// # Errors
/// A template problem found while resolving ([`ProvisionError::Template`], with its line), or
/// an emulator call that failed ([`ProvisionError::Aws`], naming the resource and operation).
pub async fn provision(
    template: &Template,
    config: &aws_config::SdkConfig,
    settings: &ProvisionSettings,
) -> Result<LocalStack, ProvisionError> {
    let mut resolver = Resolver::new(
        template,
        &ResolveSettings {
            stack_name: settings.stack_name.clone(),
            parameter_overrides: settings.parameter_overrides.clone(),
        },
    )?;
    let clients = Clients::new(config);
    let stack = settings.stack_name.as_str();
    let mut facts = CognitoFacts::default();
    let mut apis: Vec<HttpApiInfo> = Vec::new();
    // Physical name → logical id of the functions seen so far (Lambda authorizers name theirs
    // by ARN, and depend on it, so it comes first in dependency order).
    let mut function_names: BTreeMap<String, String> = BTreeMap::new();
    let mut pending: Vec<(usize, Value, Value)> = Vec::new();

    for resource in template.resources_in_dependency_order() {
        let id = resource.logical_id.as_str();
        if !resolver.is_enabled(resource) {
            info!(resource = id, "skipped: its condition is false");
            continue;
        }
        let place = Place { template, resource };
        if resource.kind == ResourceKind::Ignored {
            let name = match ignored::name_property(&resource.type_name)
                .and_then(|p| resource.properties.get(p))
            {
                Some(raw) => resolver
                    .resolve(&format!("resource {id}"), &place.location(), raw)?
                    .as_ref()
                    .and_then(crate::template::intrinsics::scalar_string),
                None => None,
            };
            let values = ignored::values(&resource.type_name, stack, id, name);
            resolver.set_resource(id, values);
            continue;
        }
        let resolved = resolver.resolve_properties(resource)?;
        let node = place.root(&resolved);
        let values = match resource.kind {
            ResourceKind::DynamoDbTable => {
                let name = names::physical_name(&node, names::TABLE, stack, id, "")?;
                dynamodb::ensure_table(&clients.dynamodb, place, &node, &name).await?
            }
            ResourceKind::SnsTopic => {
                let suffix = names::fifo_suffix(&node, names::FIFO_TOPIC)?;
                let name = names::physical_name(&node, names::TOPIC, stack, id, suffix)?;
                sns::ensure_topic(&clients.sns, place, &node, &name).await?
            }
            ResourceKind::SnsSubscription => {
                sns::ensure_subscription(&clients.sns, place, &node).await?
            }
            ResourceKind::SqsQueue => {
                let suffix = names::fifo_suffix(&node, names::FIFO_QUEUE)?;
                let name = names::physical_name(&node, names::QUEUE, stack, id, suffix)?;
                sqs::ensure_queue(&clients.sqs, place, &node, &name).await?
            }
            ResourceKind::S3Bucket => {
                let name = names::physical_name(&node, names::BUCKET, stack, id, "")?;
                s3::ensure_bucket(&clients.s3, place, &node, &name).await?
            }
            ResourceKind::UserPool => {
                let name = names::physical_name(&node, names::USER_POOL, stack, id, "")?;
                cognito::ensure_user_pool(&clients.cognito, place, &node, &name, &mut facts).await?
            }
            ResourceKind::UserPoolGroup => {
                let name = names::physical_name(&node, names::GROUP, stack, id, "")?;
                cognito::ensure_group(&clients.cognito, place, &node, &name).await?
            }
            ResourceKind::UserPoolClient => {
                let name = names::physical_name(&node, names::CLIENT, stack, id, "")?;
                cognito::ensure_client(&clients.cognito, place, &node, &name, &mut facts).await?
            }
            ResourceKind::UserPoolDomain => {
                cognito::ensure_domain(&clients.cognito, place, &node).await?
            }
            ResourceKind::UserPoolResourceServer => {
                cognito::ensure_resource_server(&clients.cognito, place, &node, &mut facts).await?
            }
            ResourceKind::HttpApi => {
                if let Some(first) = apis.first() {
                    return Err(TemplateError::InvalidProperty {
                        location: place.location(),
                        logical_id: id.to_string(),
                        property: "Type".into(),
                        message: format!(
                            "the local runner serves one HTTP API and already has {}",
                            first.api_id
                        ),
                    }
                    .into());
                }
                apis.push(api::read_api(
                    id,
                    &node,
                    &settings.emulator_url,
                    &function_names,
                )?);
                api::values(id)
            }
            ResourceKind::Function => {
                let name = names::physical_name(&node, names::FUNCTION, stack, id, "")?;
                let metadata = resolver
                    .resolve(
                        &format!("resource {id}"),
                        &place.location(),
                        &resource.metadata,
                    )?
                    .unwrap_or_else(|| Value::Object(Map::new()));
                let index = template
                    .resources()
                    .iter()
                    .position(|r| r.logical_id == resource.logical_id)
                    .unwrap_or_default();
                pending.push((index, resolved.clone(), metadata));
                function_names.insert(name.clone(), id.to_string());
                functions::values(&name)
            }
            ResourceKind::Ignored => continue,
        };
        resolver.set_resource(id, values);
    }

    pending.sort_by_key(|(index, _, _)| *index);
    let mut specs = Vec::with_capacity(pending.len());
    for (index, resolved, metadata) in &pending {
        let Some(resource) = template.resources().get(*index) else {
            continue;
        };
        let place = Place { template, resource };
        specs.push(
            functions::function_spec(&clients.sqs, place, &place.root(resolved), metadata, &apis)
                .await?,
        );
    }
    let stack = LocalStack {
        functions: specs,
        api: apis.into_iter().next().map(|a| a.spec).unwrap_or_default(),
        identity: facts.identity(),
    };
    info!(
        stack = settings.stack_name,
        functions = stack.functions.len(),
        routes = stack.routes().len(),
        "stack provisioned"
    );
    Ok(stack)
}
