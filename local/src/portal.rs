//! The web portal's built files (`portal/dist`), served as CloudFront serves them from S3: the
//! file when there is one, `index.html` for the portal's own page paths (the single-page app
//! routes them), and the same security headers as the distribution's response headers policy
//! (see the portal block of `template.yaml`).

use std::path::{Path, PathBuf};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Paths that belong to the API or the runner, never to the portal's pages.
const NOT_PAGES: [&str; 4] = ["/v1/", "/oauth2/", "/_local/", "/openapi.json"];

/// The built portal and the headers its answers carry.
#[derive(Debug, Clone)]
pub struct Portal {
    dir: PathBuf,
    headers: HeaderMap,
}

impl Portal {
    /// The portal in `dir` (a built `dist/`, with `index.html`), when there is one. `connect_src`
    /// lists the extra origins the pages may call besides their own: where presigned S3 URLs
    /// point (locally, the emulator).
    pub fn open(dir: &Path, connect_src: &[String]) -> Option<Portal> {
        dir.join("index.html").is_file().then(|| Portal {
            dir: dir.to_path_buf(),
            headers: security_headers(connect_src),
        })
    }

    /// The directory served.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a GET of this path is for the portal: a file of it, or one of its pages.
    pub fn serves(&self, path: &str) -> bool {
        !NOT_PAGES.iter().any(|prefix| path.starts_with(prefix))
    }

    /// The file, `index.html` for a page path (no extension), or 404.
    pub async fn handle(&self, request: Request) -> Response {
        let path = request.uri().path().to_string();
        let index = self.dir.join("index.html");
        let mut response = if is_page_path(&path) && !self.dir.join(&path[1..]).is_file() {
            match ServeFile::new(&index).oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            }
        } else {
            match ServeDir::new(&self.dir).oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            }
        };
        let immutable = path.starts_with("/assets/") && response.status() == StatusCode::OK;
        let not_found = response.status() == StatusCode::NOT_FOUND;
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name, value.clone());
        }
        // Hashed assets never change; everything else (index.html) is checked on every load so a
        // new build is picked up at once.
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static(if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }),
        );
        if not_found {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        response
    }
}

/// A page of the single-page app: `/`, `/exams/01H…` — not `/assets/x.js` or `/favicon.svg`.
fn is_page_path(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    !last.contains('.')
}

/// The response headers policy of the portal's distribution: a CSP without inline scripts or
/// styles, no framing, no referrer, HSTS.
pub fn security_headers(connect_src: &[String]) -> HeaderMap {
    let mut connect = String::from("'self'");
    for origin in connect_src {
        connect.push(' ');
        connect.push_str(origin);
    }
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         font-src 'self'; connect-src {connect}; frame-src 'self' blob:; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    let mut headers = HeaderMap::new();
    let pairs = [
        ("content-security-policy", csp.as_str()),
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains; preload",
        ),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_have_no_extension() {
        assert!(is_page_path("/"));
        assert!(is_page_path("/exams/01HX"));
        assert!(!is_page_path("/assets/index-abc.js"));
        assert!(!is_page_path("/favicon.svg"));
    }

    #[test]
    fn api_paths_are_not_pages() {
        let portal = Portal {
            dir: PathBuf::from("."),
            headers: HeaderMap::new(),
        };
        assert!(portal.serves("/sign-in"));
        assert!(portal.serves("/assets/a.js"));
        assert!(!portal.serves("/v1/unknown"));
        assert!(!portal.serves("/_local/health"));
    }

    #[test]
    fn the_policy_names_the_extra_origins_and_forbids_framing() {
        let headers = security_headers(&["http://127.0.0.1:4566".to_string()]);
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:4566;"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("script-src 'self';"));
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
}
