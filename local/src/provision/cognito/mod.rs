//! Cognito: the user pool (found by name), its groups, app clients (found by name), resource
//! servers (found by identifier) and domain, one submodule each. What the runner needs later —
//! pool id, clients without a secret, resource-server scopes — is recorded in [`CognitoFacts`].

mod clients;
mod domain;
mod groups;
mod pool;
mod resource_servers;

use tracing::warn;

use crate::model::IdentitySpec;
use crate::provision::errors::ProvisionError;
use crate::template::REGION;

pub(super) use clients::ensure_client;
pub(super) use domain::ensure_domain;
pub(super) use groups::ensure_group;
pub(super) use pool::ensure_user_pool;
pub(super) use resource_servers::ensure_resource_server;

/// What provisioning learnt about the Cognito resources, for [`IdentitySpec`].
#[derive(Debug, Default)]
pub(super) struct CognitoFacts {
    /// Pool ids, in template order.
    pools: Vec<String>,
    /// (pool id, client id, has a secret).
    clients: Vec<(String, String, bool)>,
    /// (pool id, `identifier/scope`).
    scopes: Vec<(String, String)>,
}

impl CognitoFacts {
    /// The identity settings of the first user pool, if the template has one.
    pub(super) fn identity(&self) -> Option<IdentitySpec> {
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
fn issuer(pool_id: &str) -> String {
    format!("https://cognito-idp.{REGION}.amazonaws.com/{pool_id}")
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// Cognito's listings come in pages (of at most 60) and cannot be filtered by name: `page` asks
/// for the page after `token` and answers what it found there, if anything, and the next token.
/// The first find wins; `None` once the last page has nothing.
async fn find_in_pages<F, Fut>(mut page: F) -> Result<Option<String>, ProvisionError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Option<String>, Option<String>), ProvisionError>>,
{
    let mut token = None;
    loop {
        let (found, next) = page(token).await?;
        if found.is_some() {
            return Ok(found);
        }
        token = next;
        if token.is_none() {
            return Ok(None);
        }
    }
}
