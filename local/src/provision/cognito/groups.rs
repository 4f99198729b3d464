//! User pool groups: found by name in their pool, else created.

use aws_sdk_cognitoidentityprovider::Client;
use tracing::info;

use crate::provision::errors::ProvisionError;
use crate::provision::props::{Node, Place};
use crate::template::ResourceValues;

/// Creates group `name` in its pool unless it exists; its `Ref` is the name.
pub(in crate::provision) async fn ensure_group(
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
