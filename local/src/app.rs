//! Start-up and shutdown of the whole local system, in order: template → emulator → functions →
//! gateway → event sources → seed data; then wait for Ctrl-C and stop in reverse.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, StatusCode};
use tokio::sync::watch;

use crate::events::{Nudge, Nudging, PollerSettings};
use crate::gateway::{Gateway, GatewayConfig, LOCAL_TOKEN_SECRET_ENV, LocalSigner, TokenEndpoint};
use crate::metrics::MetricsBoard;
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
    /// Where the runner keeps state across restarts (stream checkpoints); `None`: nowhere.
    pub state_dir: Option<PathBuf>,
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
    #[error("the OpenAPI spec compiled in from portal/openapi.json is not JSON: {0}")]
    OpenApi(serde_json::Error),
}

/// The SDK configuration every client of the runner uses: the emulator only, never the
/// instance-metadata address.
pub async fn sdk_config(emulator_url: &str) -> aws_config::SdkConfig {
    clinic_shared::aws::with_https_client(aws_config::defaults(
        aws_config::BehaviorVersion::latest(),
    ))
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
    // The emulator's dashboard page: cheap whatever the emulator holds (its data dump is not),
    // and answered only by the emulator. A busy emulator gets a while to answer.
    let Ok(http) = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    else {
        return false;
    };
    let deadline = tokio::time::Instant::now() + EMULATOR_PATIENCE;
    loop {
        let answered = http
            .get(format!("{url}/moto-api/"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if answered {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How long the runner waits at start for an emulator that does not answer yet (starting, or
/// busy with a large state) before it gives up with a message.
const EMULATOR_PATIENCE: Duration = Duration::from_secs(30);

fn routes_summary(stack: &LocalStack) -> String {
    let mut lines: Vec<String> = stack
        .routes()
        .iter()
        .map(|(f, r)| format!("  {:<7} {:<40} → {}", r.method, r.path, f.logical_id))
        .collect();
    lines.sort();
    lines.join("\n")
}

/// A running local system on a provisioned emulator.
struct System {
    base_url: String,
    demo: Vec<String>,
    /// The seeded staff account's authenticator secret, set up at this start.
    staff_secret: Option<String>,
    portal: bool,
    stack: LocalStack,
    fingerprint: crate::watchdog::Fingerprint,
    stop: watch::Sender<bool>,
    pollers: tokio::task::JoinSet<()>,
    server: tokio::task::JoinHandle<()>,
    runtime: Arc<Runtime>,
}

impl System {
    /// Stops the pollers, lets in-flight invocations finish and ends every function process.
    async fn stop(mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(15), async {
            while self.pollers.join_next().await.is_some() {}
        })
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.server).await;
        self.runtime.shutdown().await;
    }
}

/// Where stream pollers keep their checkpoints: per state directory, stack and emulator.
fn checkpoint_dir(settings: &Settings) -> Option<PathBuf> {
    let emulator: String = settings
        .emulator_url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    settings.state_dir.as_ref().map(|dir| {
        dir.join("stream-checkpoints")
            .join(format!("{}@{emulator}", settings.stack_name))
    })
}

/// Provisions the emulator and starts functions, gateway, pollers and seed data.
async fn start(
    settings: &Settings,
    template: &Template,
    metrics: &MetricsBoard,
    openapi: &Bytes,
) -> Result<System, StartError> {
    let sdk = sdk_config(&settings.emulator_url).await;
    let stack = provision(
        template,
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
    metrics.follow(runtime.subscribe_logs());
    // Every invocation that ends pokes the stream pollers: it may have written to a table.
    let poller_settings = PollerSettings {
        nudge: Nudge::default(),
        checkpoint_dir: checkpoint_dir(settings),
    };
    let invoker = Arc::new(Nudging::new(runtime.clone(), poller_settings.nudge.clone()));

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
    let gateway = Gateway::new(config, invoker.clone())?;
    let ready = Arc::new(AtomicBool::new(false));
    // Presigned S3 URLs point at the emulator: the portal's pages may call it (uploads, result
    // and report downloads), as the deployed portal may call its buckets.
    let portal = Portal::open(
        &settings.portal_dir,
        std::slice::from_ref(&settings.emulator_url),
    );
    let app = app_router(
        gateway,
        ready.clone(),
        portal.clone(),
        metrics.clone(),
        openapi.clone(),
    );

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

    let pollers = crate::events::start(&stack, invoker, &sdk, stop_rx, &poller_settings);

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
    Ok(System {
        base_url,
        demo,
        staff_secret,
        portal: portal.is_some(),
        fingerprint: crate::watchdog::Fingerprint::of(&stack),
        stack,
        stop: stop_tx,
        pollers,
        server,
        runtime,
    })
}

/// Runs the local system until Ctrl-C. When the emulator loses what was provisioned (restarted
/// or reset under the runner), everything is stopped and started again on it.
///
/// # Errors
/// [`StartError`] naming what could not start.
pub async fn run(settings: Settings) -> Result<(), StartError> {
    let template = Template::load(&settings.template)?;
    let openapi = crate::openapi::served_body().map_err(StartError::OpenApi)?;
    if !emulator_up(&settings.emulator_url).await {
        return Err(StartError::EmulatorDown {
            url: settings.emulator_url.clone(),
        });
    }
    let sdk = sdk_config(&settings.emulator_url).await;
    let metrics = MetricsBoard::default();
    let mut system = start(&settings, &template, &metrics, &openapi).await?;
    print_banner(&settings, &system);

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_stop_signal().await;
        let _ = stop_tx.send(true);
    });
    loop {
        let lost = crate::watchdog::until_lost(
            &sdk,
            &system.fingerprint,
            &settings.emulator_url,
            stop_rx.clone(),
        )
        .await;
        let Some(reason) = lost else {
            println!("stopping: finishing in-flight invocations…");
            system.stop().await;
            let summary = metrics.summary();
            if !summary.is_empty() {
                println!("metrics of this run (also at /_local/metrics while it runs):\n{summary}");
            }
            println!("stopped");
            return Ok(());
        };
        println!(
            "the emulator at {} lost what the runner provisioned ({reason}): it was restarted or reset. \
             Stopping the functions and provisioning it again…",
            settings.emulator_url
        );
        system.stop().await;
        let mut waiting = stop_rx.clone();
        while !emulator_up(&settings.emulator_url).await {
            if crate::events::stopped_within(&mut waiting, Duration::from_secs(1)).await {
                return Ok(());
            }
        }
        system = start(&settings, &template, &metrics, &openapi).await?;
        print_staff_secret(system.staff_secret.as_deref());
        println!(
            "Clinic is running again at {} (provisioned afresh: earlier data, accounts and tokens are gone; staff login {} / {})",
            system.base_url, settings.staff_email, settings.staff_password
        );
    }
}

/// What the gateway and the pollers invoke functions through.
type FunctionInvoker = Nudging<Runtime>;

fn app_router(
    gateway: Gateway<FunctionInvoker>,
    ready: Arc<AtomicBool>,
    portal: Option<Portal>,
    metrics: MetricsBoard,
    openapi: Bytes,
) -> Router {
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
            get(move || {
                let openapi = openapi.clone();
                // The content type `axum::Json` gives.
                let json = HeaderValue::from_static("application/json");
                async move { ([(CONTENT_TYPE, json)], openapi) }
            }),
        )
        .route(
            "/_local/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { axum::Json(metrics.to_json()) }
            }),
        )
        .fallback(move |request: Request| {
            let gateway = fallback_gateway.clone();
            let portal = portal.clone();
            async move { serve(gateway, portal, request).await }
        })
}

/// API routes go to the gateway; other GETs to the portal (its files, or `index.html` for its
/// pages) when there is a built portal.
async fn serve(
    gateway: Gateway<FunctionInvoker>,
    portal: Option<Portal>,
    request: Request,
) -> Response {
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

fn print_banner(settings: &Settings, system: &System) {
    let base_url = &system.base_url;
    let portal = if system.portal {
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
         \n  metrics      {base_url}/_local/metrics\
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
        system.stack.functions.len(),
        settings.instances,
        routes_summary(&system.stack),
    );
    print_staff_secret(system.staff_secret.as_deref());
    for line in &system.demo {
        println!("  demo: {line}");
    }
    println!("Ctrl-C stops everything.");
}

/// What precedes the staff account's authenticator secret in the banner.
const STAFF_SECRET_LABEL: &str = "staff authenticator secret: ";

/// Staff and doctors answer an authenticator code at sign-in: the seeded staff account's secret.
fn print_staff_secret(secret: Option<&str>) {
    if let Some(secret) = secret {
        println!(
            "  {STAFF_SECRET_LABEL}{secret}  (add it to an authenticator app; the emulator \
             accepts any 6-digit code)"
        );
    }
}

/// The staff authenticator secret in the runner's output (tools and tests reading its banner):
/// the last one printed, as a runner that provisioned again sets the authenticator up again.
pub fn staff_secret_in(output: &str) -> Option<String> {
    output.lines().rev().find_map(|line| {
        line.split(STAFF_SECRET_LABEL)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
    })
}

#[cfg(test)]
mod staff_secret_tests {
    #[test]
    fn the_last_banner_line_gives_the_secret() {
        let output = "Clinic is running\n  staff authenticator secret: AAAA  (add it…)\n\
                      [Fn] log\n  staff authenticator secret: BBBB  (add it…)\n";
        assert_eq!(super::staff_secret_in(output).as_deref(), Some("BBBB"));
        assert_eq!(super::staff_secret_in("no banner"), None);
    }
}
