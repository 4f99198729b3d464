//! The HTTPS client of every AWS SDK client a function builds.
//!
//! AWS service endpoints present certificates that chain to Amazon Trust Services (Amazon Root
//! CA 1–4, and Starfield Services Root G2 cross-signing them), so those roots are all a function
//! trusts; they are compiled in. The SDK's default client reads the system's whole store
//! instead: on Debian that is a bundle plus a directory of ~300 files, read and parsed at every
//! cold start (2–4 ms, the largest part of a function's init). A custom HTTPS endpoint
//! (`AWS_ENDPOINT_URL`, e.g. a proxy with its own certificate) keeps the system's store.

use aws_config::ConfigLoader;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

/// Amazon Root CA 1–4 and Starfield Services Root Certificate Authority – G2 (PEM).
const AMAZON_TRUST_SERVICES: &[u8] = include_bytes!("../../certs/amazon-trust-services.pem");

/// `loader` with the client for `endpoint_override` (`AWS_ENDPOINT_URL`): the system's roots are
/// loaded (when the first connection is made) only for a custom HTTPS endpoint.
pub(super) fn with_client(loader: ConfigLoader, endpoint_override: Option<&str>) -> ConfigLoader {
    let custom_https = endpoint_override.is_some_and(|url| url.starts_with("https://"));
    let trust = TrustStore::empty()
        .with_native_roots(custom_https)
        .with_pem_certificate(AMAZON_TRUST_SERVICES);
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => loader.http_client(builder.tls_context(context).build_https()),
        // Building a context from a trust store cannot fail today; if it ever does, the SDK's
        // default client (the system's roots) still works.
        Err(_) => loader,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_five_certificates() {
        let text = String::from_utf8_lossy(AMAZON_TRUST_SERVICES);
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert_eq!(text.matches("-----END CERTIFICATE-----").count(), 5);
    }
}
