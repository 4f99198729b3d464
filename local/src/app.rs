//! Start-up and shutdown of the whole local system, in order: template → emulator → functions →
//! gateway → event sources → seed data; then wait for Ctrl-C and stop in reverse.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{Method, StatusCode};
use tokio::sync::watch;

use crate::gateway::{Gateway, GatewayConfig, LOCAL_TOKEN_SECRET_ENV, LocalSigner, TokenEndpoint};
use crate::model::LocalStack;
use crate::portal::Portal;
use crate::provision::{ProvisionSettings, provision};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::template::Template;

/// Everything the command line decides.
#[derive(Debug, Clone)]
pub struct Settings {
    pub template: PathBuf,
    pub port: u16,
    pub emulator_url: String,
    pub bin_dir: PathBuf,
    pub instances: u32,
    pub stack_name: String,
    pub staff_email: String,
    pub staff_password: String,
    pub portal_dir: PathBuf,
    pub demo: bool,
    pub parameters: BTreeMap<String, String>,
    /// Names in `parameters` the runner filled in itself: given only to templates declaring them.
    pub default_parameters: std::collections::BTreeSet<String>,
}

/// Why the local system could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Template(#[from] crate::template::TemplateError),
    #[error(
        "the AWS emulator does not answer at {url}: start it with `scripts/emulator start` (or use scripts/run)"
    )]
    EmulatorDown { url: String },
    #[error("provisioning failed: {0}")]
    Provision(#[from] crate::provision::ProvisionError),
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error("gateway: {0}")]
    Gateway(#[from] crate::gateway::GatewayError),
    #[error("could not listen on 127.0.0.1:{port}: {reason}")]
    Listen { port: u16, reason: String },
    #[error("{0}")]
    Seed(#[from] crate::seed::SeedError),
    #[error("{0}")]
    Signer(String),
}

/// The SDK configuration every client of the runner uses: the emulator only, never the
/// instance-metadata address.
pub async fn sdk_config(emulator_url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "clinic-local",
        ))
        .endpoint_url(emulator_url)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// The environment every function process gets on top of its own: the emulator and dummy
/// credentials, so no function can reach a real AWS account or the metadata address.
fn function_environment(emulator_url: &str) -> BTreeMap<String, String> {
    [
        ("AWS_ENDPOINT_URL", emulator_url),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn emulator_up(url: &str) -> bool {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build();
    match http {
        Ok(http) => http
            .get(format!("{url}/moto-api/data.json"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        Err(_) => false,
    }
}

fn routes_summary(stack: &LocalStack) -> String {
    let mut lines: Vec<String> = stack
        .routes()
        .iter()
        .map(|(f, r)| format!("  {:<7} {:<40} → {}", r.method, r.path, f.logical_id))
        .collect();
    lines.sort();
    lines.join("\n")
}

/// Runs the local system until Ctrl-C.
///
/// # Errors
/// [`StartError`] naming what could not start.
pub async fn run(settings: Settings) -> Result<(), StartError> {
    let template = Template::load(&settings.template)?;
    if !emulator_up(&settings.emulator_url).await {
        return Err(StartError::EmulatorDown {
            url: settings.emulator_url.clone(),
        });
    }
    let sdk = sdk_config(&settings.emulator_url).await;
    let stack = provision(
        &template,
        &sdk,
        &ProvisionSettings {
            stack_name: settings.stack_name.clone(),
            emulator_url: settings.emulator_url.clone(),
            parameter_overrides: settings
                .parameters
                .iter()
                .filter(|(name, _)| {
                    // The runner's own defaults (the portal's origin) apply to templates that
                    // declare them; what the person gave is checked as given.
                    !settings.default_parameters.contains(name.as_str())
                        || template.parameters().iter().any(|p| &p.name == *name)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
    )
    .await?;
    tracing::info!(
        functions = stack.functions.len(),
        "emulator provisioned from the template"
    );

    let signer = Arc::new(LocalSigner::generate().map_err(|e| StartError::Signer(e.to_string()))?);
    let mut runtime_config = RuntimeConfig::new(&settings.bin_dir);
    runtime_config.extra_env = function_environment(&settings.emulator_url);
    // The runner's token key, so a Lambda authorizer function can verify the client-credentials
    // tokens of the runner's /oauth2/token. Only the runner sets this variable (template.yaml
    // never does), so deployed functions never accept locally signed tokens.
    runtime_config
        .extra_env
        .insert(LOCAL_TOKEN_SECRET_ENV.to_string(), signer.secret_base64());
    runtime_config.max_instances = settings.instances.max(1);
    let runtime = Arc::new(Runtime::new(stack.functions.clone(), runtime_config)?);
    runtime.start().await?;

    let routes = stack
        .routes()
        .into_iter()
        .map(|(f, r)| (f.logical_id.clone(), r.clone()))
        .collect();
    let mut config = GatewayConfig::new(routes, stack.api.clone(), signer);
    if let Some(identity) = &stack.identity {
        config = config.with_token_endpoint(TokenEndpoint::new(
            identity.clone(),
            aws_sdk_cognitoidentityprovider::Client::new(&sdk),
        ));
    }
    let gateway = Gateway::new(config, runtime.clone())?;
    let ready = Arc::new(AtomicBool::new(false));
    // Presigned S3 URLs point at the emulator: the portal's pages may call it (uploads, result
    // and report downloads), as the deployed portal may call its buckets.
    let portal = Portal::open(
        &settings.portal_dir,
        std::slice::from_ref(&settings.emulator_url),
    );
    let app = app_router(gateway, ready.clone(), portal.clone());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", settings.port))
        .await
        .map_err(|e| StartError::Listen {
            port: settings.port,
            reason: e.to_string(),
        })?;
    let address = listener.local_addr().map_err(|e| StartError::Listen {
        port: settings.port,
        reason: e.to_string(),
    })?;
    let base_url = format!("http://{address}");
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let shutdown = async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        };
        if let Err(err) = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %err, "gateway stopped");
        }
    });

    let mut pollers = crate::events::start(&stack, runtime.clone(), &sdk, stop_rx.clone());

    crate::seed::verify_senders(&aws_sdk_sesv2::Client::new(&sdk), &stack).await?;
    if let Some(identity) = &stack.identity {
        crate::seed::ensure_staff(
            &aws_sdk_cognitoidentityprovider::Client::new(&sdk),
            &identity.user_pool_id,
            &settings.staff_email,
            &settings.staff_password,
        )
        .await?;
    }
    // The staff account signs in once through the API, setting its authenticator up, so the
    // banner can give the secret to whoever uses the portal (and to the demo seeding).
    let staff_secret = match &stack.identity {
        Some(_) => {
            crate::seed::sign_in(
                &reqwest::Client::new(),
                &base_url,
                &settings.staff_email,
                &settings.staff_password,
                None,
            )
            .await
            .map_err(crate::seed::SeedError::Staff)?
            .authenticator_secret
        }
        None => None,
    };
    let demo = if settings.demo {
        crate::seed::demo(
            &base_url,
            &settings.staff_email,
            &settings.staff_password,
            staff_secret.as_deref(),
        )
        .await?
    } else {
        Vec::new()
    };
    ready.store(true, Ordering::SeqCst);
    print_banner(
        &settings,
        &stack,
        &base_url,
        &demo,
        portal.is_some(),
        staff_secret.as_deref(),
    );

    wait_for_stop_signal().await;
    println!("stopping: finishing in-flight invocations…");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while pollers.join_next().await.is_some() {}
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
    runtime.shutdown().await;
    println!("stopped");
    Ok(())
}

fn app_router(gateway: Gateway<Runtime>, ready: Arc<AtomicBool>, portal: Option<Portal>) -> Router {
    let fallback_gateway = gateway.clone();
    Router::new()
        .route(
            "/_local/health",
            get(move || {
                let ready = ready.load(Ordering::SeqCst);
                async move {
                    if ready {
                        (
                            StatusCode::OK,
                            axum::Json(serde_json::json!({"status": "ok"})),
                        )
                            .into_response()
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            axum::Json(serde_json::json!({"status": "starting"})),
                        )
                            .into_response()
                    }
                }
            }),
        )
        .route(
            "/openapi.json",
            get(|| async { axum::Json(crate::openapi::merged_json()) }),
        )
        .fallback(move |request: Request| {
            let gateway = fallback_gateway.clone();
            let portal = portal.clone();
            async move { serve(gateway, portal, request).await }
        })
}

/// API routes go to the gateway; other GETs to the portal (its files, or `index.html` for its
/// pages) when there is a built portal.
async fn serve(gateway: Gateway<Runtime>, portal: Option<Portal>, request: Request) -> Response {
    let is_page = request.method() == Method::GET || request.method() == Method::HEAD;
    if is_page
        && !gateway.serves(request.method(), request.uri().path())
        && let Some(portal) = portal
        && portal.serves(request.uri().path())
    {
        return portal.handle(request).await;
    }
    gateway.handle(request).await
}

async fn wait_for_stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn print_banner(
    settings: &Settings,
    stack: &LocalStack,
    base_url: &str,
    demo: &[String],
    portal: bool,
    staff_secret: Option<&str>,
) {
    let portal = if portal {
        format!("{base_url}/")
    } else {
        format!(
            "(no built portal in {}: `cd portal && npm ci && npm run build`)",
            settings.portal_dir.display()
        )
    };
    println!(
        "\nClinic is running locally\n\
         \n  API          {base_url}\
         \n  health       {base_url}/_local/health\
         \n  OpenAPI      {base_url}/openapi.json\
         \n  portal       {portal}\
         \n  token (M2M)  {base_url}/oauth2/token\
         \n  emulator     {}\
         \n\n  staff login  {} / {}  (CLINIC_STAFF_EMAIL / CLINIC_STAFF_PASSWORD)\
         \n  functions    {} ({} instances each at most); REPORT lines are printed per invocation\
         \n\nroutes:\n{}\n",
        settings.emulator_url,
        settings.staff_email,
        settings.staff_password,
        stack.functions.len(),
        settings.instances,
        routes_summary(stack),
    );
    if let Some(secret) = staff_secret {
        // Staff and doctors answer an authenticator code at sign-in.
        println!(
            "  staff authenticator secret: {secret}  (add it to an authenticator app; the \
             emulator accepts any 6-digit code)"
        );
    }
    for line in demo {
        println!("  demo: {line}");
    }
    println!("Ctrl-C stops everything.");
}
