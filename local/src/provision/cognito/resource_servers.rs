//! Resource servers: found by identifier in their pool (their scopes brought in line), else
//! created; their scopes recorded for the identity settings.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::ResourceServerScopeType;
use tracing::info;

use super::CognitoFacts;
use crate::provision::errors::ProvisionError;
use crate::provision::props::{Node, Place};
use crate::template::ResourceValues;

/// Creates the resource server unless its identifier exists in the pool (then its scopes are
/// brought in line); its `Ref` is the identifier.
pub(in crate::provision) async fn ensure_resource_server(
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
    // Creating and updating send the same fields, through builders of different types.
    macro_rules! write_server {
        ($request:expr, $operation:literal, $done:literal) => {{
            $request
                .user_pool_id(&pool)
                .identifier(&identifier)
                .name(&name)
                .set_scopes(Some(scopes.clone()))
                .send()
                .await
                .map_err(place.aws($operation))?;
            info!(resource = place.logical_id(), identifier, $done);
        }};
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
                write_server!(
                    client.update_resource_server(),
                    "UpdateResourceServer",
                    "resource server updated"
                );
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            write_server!(
                client.create_resource_server(),
                "CreateResourceServer",
                "resource server created"
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
