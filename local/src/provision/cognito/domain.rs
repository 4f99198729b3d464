//! The user pool domain: found, else created; the emulator may refuse either, which only warns.

use aws_sdk_cognitoidentityprovider::Client;
use tracing::{info, warn};

use crate::provision::errors::ProvisionError;
use crate::provision::props::{Node, Place};
use crate::template::ResourceValues;

/// Creates the pool's domain unless it exists. The emulator has no hosted UI or token
/// endpoint behind it, so a refusal is only a warning.
pub(in crate::provision) async fn ensure_domain(
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
