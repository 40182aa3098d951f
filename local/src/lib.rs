//! The single-process server: every route group's router merged at the production paths,
//! on the embedded adapters (SQLite in `DATA_DIR`, the mail outbox, local secrets), or on
//! DynamoDB when `STORE=dynamodb`.

mod admin_bootstrap;
pub mod allocator;
mod backups;
pub mod cli;
mod config;
pub mod dashboard;
mod metrics;
pub mod scheduler;
pub mod workers;

pub use admin_bootstrap::{bootstrap_admin, AdminBootstrap};
pub use backups::{SqliteBackups, BACKUPS_KEPT};
pub use config::{Config, StoreKind};
pub use dashboard::Dashboard;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use gateway::{Gateway, GatewayConfig, QueuedCallMeter};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tollgate_app::jobs::{JobPorts, WebhookPorts};
use tollgate_domain::{Backups, CallMeter, Secrets, Store, SystemClock};
use tollgate_embedded::{LocalSecrets, OutboxMailer, SqliteCallMeter, SqliteQueue, SqliteStore};
use tollgate_http::{AppState, ClientAddr, JwtKeys, JWT_SECRET_NAME};

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting is missing or invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] tollgate_domain::StoreError),
    /// A secret, the queue or another adapter could not be opened or read.
    #[error("adapter: {0}")]
    Adapter(#[from] tollgate_domain::PortError),
    /// The first admin could not be created.
    #[error("admin bootstrap: {0}")]
    Bootstrap(String),
    /// The listener could not bind or failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the state from the configuration: the store, the outbox mailer, the JWT key, and
/// Stripe when `STRIPE_SECRET_KEY` is set. Also
/// returns the SQLite store when the state runs on one (see [`Platform::assemble`]).
pub async fn build_state(config: &Config) -> Result<(AppState, Option<SqliteStore>), ServerError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let (store, embedded): (Arc<dyn Store>, _) = match config.store {
        StoreKind::Sqlite => {
            let sqlite = SqliteStore::open(&config.data_dir.join(DB_FILE))?;
            (Arc::new(sqlite.clone()), Some(sqlite))
        }
        StoreKind::DynamoDb => (Arc::new(tollgate_store_dynamodb::DynamoStore::from_env().await?), None),
    };
    let secrets = LocalSecrets::new(&config.data_dir);
    let jwt_key = secrets.get(JWT_SECRET_NAME).await?;
    let jwt = JwtKeys::from_secret(jwt_key.as_bytes()).map_err(ServerError::Config)?;
    let mailer = Arc::new(OutboxMailer::new(config.data_dir.join("outbox")));
    let mut state = AppState::new(store, mailer, Arc::new(SystemClock), jwt, config.settings.clone());
    // Billing: with STRIPE_SECRET_KEY (and STRIPE_API_BASE for the fake), Stripe; without, none.
    if let Some(stripe) = tollgate_stripe::StripeConfig::from_env().map_err(|e| ServerError::Config(e.to_string()))? {
        tracing::info!(api_base = %stripe.api_base, "billing through Stripe");
        let payments = tollgate_stripe::StripePayments::new(stripe).map_err(|e| ServerError::Config(e.to_string()))?;
        state = state.with_payments(Arc::new(payments));
    }
    Ok((state, embedded))
}

/// The database file in the data directory: the store (on SQLite) and the local queues.
pub const DB_FILE: &str = "tollgate.db";

/// The folder of the `backup` job's copies, in the data directory.
pub const BACKUPS_DIR: &str = "backups";

/// The running platform's parts: the state, the durable local queue, the gateway.
#[derive(Clone)]
pub struct Platform {
    pub state: AppState,
    pub queue: Arc<SqliteQueue>,
    pub gateway: Arc<Gateway>,
    /// The embedded call meter, when the store is SQLite (flushed on shutdown).
    meter: Option<Arc<SqliteCallMeter>>,
    /// Stripe's signing secret for `POST /api/stripe/webhook` (`STRIPE_WEBHOOK_SECRET`);
    /// without it the webhook answers 503 `billing_not_configured`.
    webhook_secret: Option<Arc<str>>,
    /// The built dashboard served at `/` (none: the API only).
    dashboard: Option<Dashboard>,
}

/// How long a counted call's usage event waits for its outcome beyond the upstream timeout
/// before the worker takes it as it is (status 0: the process stopped mid-call).
const OUTCOME_HOLD_MARGIN: Duration = Duration::from_secs(10);

impl Platform {
    /// The queue in the SQLite file `db` and the gateway around `state`, with the default
    /// catalog seeded. `embedded` is the SQLite store behind `state` when it is one (on the
    /// same file `db`): the gateway then counts a call and queues its usage event in one
    /// transaction, so a crash loses no counted call's event. On another store (DynamoDB)
    /// each event is queued before the call's answer goes out.
    pub async fn assemble(
        state: AppState,
        db: &std::path::Path,
        embedded: Option<SqliteStore>,
        gateway: GatewayConfig,
    ) -> Result<Self, ServerError> {
        tollgate_app::seed_catalog(state.store.as_ref(), state.now()).await?;
        // The backup job copies the SQLite store into the data directory (none on DynamoDB).
        let data_dir = db.parent().unwrap_or(std::path::Path::new("."));
        let backups = embedded
            .clone()
            .map(|store| Arc::new(SqliteBackups::new(store, data_dir.join(BACKUPS_DIR))) as Arc<dyn Backups>);
        let (queue, meter, embedded_meter): (_, Arc<dyn CallMeter>, _) = match embedded {
            Some(store) => {
                // One connection for the store and the queue: one writer owns the file.
                let queue = Arc::new(SqliteQueue::on_store(&store).await?);
                let hold = gateway.upstream_timeout + OUTCOME_HOLD_MARGIN;
                let meter = Arc::new(SqliteCallMeter::new(store, (*queue).clone(), hold)?);
                (queue, meter.clone(), Some(meter))
            }
            None => {
                let queue = Arc::new(SqliteQueue::open(db)?);
                (queue.clone(), Arc::new(QueuedCallMeter::new(state.store.clone(), queue)), None)
            }
        };
        // Jobs run by hand (the admin route, the CLI) and by the scheduler act through these.
        let allow_insecure = state.settings.allow_insecure_webhook_urls;
        let ports = JobPorts {
            store: state.store.clone(),
            queue: queue.clone(),
            payments: state.payments.clone(),
            backups,
            webhooks: Some(WebhookPorts {
                sender: Arc::new(tollgate_outbound::ReqwestWebhookSender::new(allow_insecure)),
                allow_insecure,
            }),
        };
        let state = state.with_jobs(ports);
        // The routes that queue work (a webhook's test event) send to this queue.
        let state = state.with_queue(queue.clone());
        // OpenID Connect sign-in (used only when `Settings::oidc` is configured).
        let oidc = tollgate_outbound::ReqwestOidcHttp::new().map_err(|e| ServerError::Config(e.to_string()))?;
        let state = state.with_oidc(Arc::new(oidc));
        let gateway = Arc::new(Gateway::new(state.clone(), queue.clone(), meter, gateway));
        Ok(Platform { state, queue, gateway, meter: embedded_meter, webhook_secret: None, dashboard: None })
    }

    /// The same platform, verifying Stripe's webhooks with `secret`.
    pub fn with_stripe_webhook_secret(mut self, secret: Option<String>) -> Self {
        self.webhook_secret = secret.map(Arc::from);
        self
    }

    /// The same platform, serving the built dashboard at `/` (see [`dashboard`]).
    pub fn with_dashboard(mut self, dashboard: Option<Dashboard>) -> Self {
        self.dashboard = dashboard;
        self
    }

    /// Every route group merged at the production paths, `GET /metrics` (loopback or
    /// admin), and the dashboard (when there is one) on every other path, with the common
    /// layers.
    pub fn app(&self) -> Router {
        let (router, _) = tollgate_routes::routes().split_for_parts();
        let webhook = stripe_webhook::StripeWebhook {
            secret: stripe_webhook::WebhookSecret::Fixed(self.webhook_secret.clone()),
            queue: self.queue.clone(),
            clock: self.state.clock.clone(),
        };
        let router = router
            .with_state(self.state.clone())
            .merge(gateway::routes(self.gateway.clone()))
            .merge(stripe_webhook::routes(webhook))
            .merge(metrics::routes(self.state.clone(), self.queue.clone(), self.meter.clone()));
        let router = match &self.dashboard {
            Some(dashboard) => router.merge(dashboard.routes()),
            None => router,
        };
        tollgate_http::finish_router(router, &self.state.settings.cors_origins)
            .layer(axum::middleware::from_fn(peer_address))
    }

    /// The embedded call meter (None on DynamoDB): the usage worker takes the paying
    /// organizations whose usage it recorded, the benchmark its group-commit counters.
    pub fn embedded_meter(&self) -> Option<Arc<SqliteCallMeter>> {
        self.meter.clone()
    }

    /// Writes the outcomes of answered calls still in memory (graceful shutdown).
    pub async fn flush(&self) {
        if let Some(meter) = &self.meter {
            meter.flush().await;
        }
    }
}

/// The socket peer is the client: the local server does not sit behind a trusted proxy, so
/// forwarded headers are not believed.
async fn peer_address(mut req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        req.extensions_mut().insert(ClientAddr(addr.ip()));
    }
    next.run(req).await
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// The platform on the configuration's data directory and store (what `make run` serves,
/// and what the CLI's commands act on).
pub async fn platform_from_config(config: &Config) -> Result<Platform, ServerError> {
    let (state, embedded) = build_state(config).await?;
    let gateway_config = GatewayConfig::from_env().map_err(ServerError::Config)?;
    Ok(Platform::assemble(state, &config.data_dir.join(DB_FILE), embedded, gateway_config)
        .await?
        .with_stripe_webhook_secret(config.stripe_webhook_secret.clone()))
}

/// `make run`: configuration from the environment, first-start admin, the queue workers and
/// the scheduler, and serve until a signal.
pub async fn run_from_env() -> Result<(), ServerError> {
    let config = Config::from_env().map_err(ServerError::Config)?;
    let platform = platform_from_config(&config).await?.with_dashboard(Dashboard::from_env());
    let state = platform.state.clone();
    if let AdminBootstrap::Created { email, generated_password } = bootstrap_admin(&state, &config).await? {
        match generated_password {
            // Printed once, on the terminal, never into the logs.
            Some(password) => eprintln!(
                "\n  First start: created the admin {email} with the generated password:\n\n      {password}\n\n  It is shown only this once. Set ADMIN_PASSWORD to choose it yourself.\n"
            ),
            None => eprintln!("First start: created the admin {email} (password from ADMIN_PASSWORD)."),
        }
    }
    let listener = tokio::net::TcpListener::bind((config.host, config.port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), store = ?config.store, "tollgate listening");
    eprintln!("tollgate listening on http://{addr}  (data in {})", config.data_dir.display());
    let (stop_workers, stopped) = tokio::sync::watch::channel(false);
    let mut workers = vec![
        workers::spawn_usage_worker(
            platform.state.clone(),
            platform.queue.clone(),
            platform.embedded_meter(),
            stopped.clone(),
        ),
        workers::spawn_notifications_worker(platform.state.clone(), platform.queue.clone(), stopped.clone()),
    ];
    if let Some(ports) = platform.state.jobs.clone() {
        workers.push(scheduler::spawn_scheduler(ports, platform.state.clock.clone(), stopped.clone()));
    }
    if let Some(payments) = platform.state.payments.clone() {
        workers.push(workers::spawn_stripe_events_worker(
            platform.state.clone(),
            payments,
            platform.queue.clone(),
            stopped,
        ));
    }
    serve(listener, platform.app(), shutdown_signal()).await?;
    platform.flush().await;
    let _ = stop_workers.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    Ok(())
}

/// `tollgate restore <file>`: replaces the data directory's database with the backup
/// `file` (the server must be stopped: it holds the database open). The backup is checked
/// first (a SQLite database, intact, of a schema this build knows); a bad file changes
/// nothing.
pub fn restore_from_env(file: &std::path::Path) -> Result<(), ServerError> {
    let config = Config::from_env().map_err(ServerError::Config)?;
    std::fs::create_dir_all(&config.data_dir)?;
    let db = config.data_dir.join(DB_FILE);
    tollgate_embedded::restore_backup(file, &db)?;
    eprintln!("restored {} into {}", file.display(), db.display());
    Ok(())
}
