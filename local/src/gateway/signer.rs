//! The runner's own token key. The emulator has no OAuth2 token endpoint, so the runner issues
//! client-credentials access tokens itself and signs them with an HS256 secret drawn at random
//! for each run (key id `clinic-local`). Only the runner trusts that key: its JWT authorizer, and
//! the Lambda authorizer functions it runs, which receive the secret (base64, see
//! [`LocalSigner::secret_base64`]) in `CLINIC_LOCAL_TOKEN_SECRET`. Production configuration never
//! accepts it — API Gateway verifies Cognito's keys only, `template.yaml` never sets that
//! variable, and this runner exists for local runs alone.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde_json::{Map, Value};

/// Key id (`kid`) of tokens signed by the runner.
pub const LOCAL_KEY_ID: &str = "clinic-local";

/// The environment variable through which functions run by the runner receive the local key
/// (see [`LocalSigner::secret_base64`]).
pub const LOCAL_TOKEN_SECRET_ENV: &str = "CLINIC_LOCAL_TOKEN_SECRET";

/// Why a token could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("no random bytes for the signing key: {0}")]
    Random(String),
    #[error("could not sign the token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// An access token the runner issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Lifetime in seconds (`expires_in`).
    pub expires_in: u64,
}

/// Holds the runner's signing key; built once per run and shared by the JWT authorizer (which
/// verifies with it) and the OAuth2 token endpoint (which signs with it).
pub struct LocalSigner {
    secret: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner")
            .field("kid", &LOCAL_KEY_ID)
            .finish_non_exhaustive()
    }
}

impl LocalSigner {
    /// A signer with a fresh random 256-bit secret.
    ///
    /// # Errors
    /// [`SignerError::Random`] when the operating system has no randomness to give.
    pub fn generate() -> Result<LocalSigner, SignerError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| SignerError::Random(e.to_string()))?;
        Ok(LocalSigner::from_secret(&secret))
    }

    /// A signer with a given secret (tests that need reproducible keys).
    pub fn from_secret(secret: &[u8]) -> LocalSigner {
        LocalSigner {
            secret: secret.to_vec(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// The raw HMAC secret in standard base64 (with padding): the value of
    /// [`LOCAL_TOKEN_SECRET_ENV`] for the functions the runner runs, so that a Lambda authorizer
    /// can verify the HS256 tokens (`kid: clinic-local`) the runner issues.
    pub fn secret_base64(&self) -> String {
        BASE64.encode(&self.secret)
    }

    /// Signs arbitrary claims with the local key (header `alg: HS256`, `kid: clinic-local`).
    ///
    /// # Errors
    /// [`SignerError::Sign`] when the claims do not serialise.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, SignerError> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(LOCAL_KEY_ID.to_string());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// Issues a client-credentials access token shaped like Cognito's: `sub` and `client_id`
    /// are the app client, `token_use: access`, the granted `scope` (space-separated), `iss`,
    /// `iat`, `auth_time`, `exp`, `jti` and `version: 2`.
    ///
    /// # Errors
    /// [`SignerError::Sign`].
    pub fn issue_access_token(
        &self,
        issuer: &str,
        client_id: &str,
        scopes: &[String],
        lifetime: Duration,
    ) -> Result<IssuedToken, SignerError> {
        let now = jiff::Timestamp::now().as_second();
        let expires_in = lifetime.as_secs();
        let exp = now.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX));
        let claims = serde_json::json!({
            "sub": client_id,
            "token_use": "access",
            "scope": scopes.join(" "),
            "auth_time": now,
            "iss": issuer,
            "exp": exp,
            "iat": now,
            "version": 2,
            "jti": uuid_like(ulid::Ulid::new().0),
            "client_id": client_id,
        });
        Ok(IssuedToken {
            token: self.sign(&claims)?,
            expires_in,
        })
    }

    /// Checks the signature of a token signed with the local key and returns its claims; the
    /// claims themselves (issuer, lifetime, audience) are the authorizer's to check.
    pub(crate) fn verify_signature(
        &self,
        token: &str,
    ) -> Result<Map<String, Value>, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &validation)
            .map(|data| data.claims)
    }
}

/// Formats 128 bits as a version-4-style UUID string (Cognito's `jti` shape).
fn uuid_like(bits: u128) -> String {
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-4{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_with_the_same_key_only() {
        let signer = LocalSigner::from_secret(b"0123456789abcdef0123456789abcdef");
        let issued = signer
            .issue_access_token(
                "https://issuer",
                "client-1",
                &["clinic/ingest".to_string()],
                Duration::from_secs(3600),
            )
            .expect("sign");
        assert_eq!(issued.expires_in, 3600);
        let claims = signer.verify_signature(&issued.token).expect("verify");
        assert_eq!(claims["client_id"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["scope"], "clinic/ingest");
        assert_eq!(claims["token_use"], "access");
        assert_eq!(claims["version"], 2);
        let header = jsonwebtoken::decode_header(&issued.token).expect("header");
        assert_eq!(header.kid.as_deref(), Some(LOCAL_KEY_ID));

        let other = LocalSigner::generate().expect("random");
        assert!(other.verify_signature(&issued.token).is_err());
    }

    #[test]
    fn the_secret_is_exported_in_standard_base64() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let signer = LocalSigner::from_secret(secret);
        let exported = signer.secret_base64();
        assert_eq!(BASE64.decode(&exported).expect("base64"), secret);
        let token = signer.sign(&serde_json::json!({"sub": "x"})).expect("sign");
        let key = DecodingKey::from_base64_secret(&exported).expect("key");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        assert!(jsonwebtoken::decode::<Map<String, Value>>(&token, &key, &validation).is_ok());
        assert_eq!(
            LocalSigner::generate()
                .expect("random")
                .secret_base64()
                .len(),
            44
        );
    }

    #[test]
    fn jti_looks_like_a_uuid() {
        let id = uuid_like(u128::MAX);
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }
}
