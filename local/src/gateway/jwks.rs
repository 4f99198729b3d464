//! Signing keys of the user pools the JWT authorizer trusts: the shared JWKS cache (one
//! implementation for the clinic's own authorizer function and this gateway).

pub use clinic_shared::jwks::{JwksCache, JwksError};
