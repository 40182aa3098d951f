//! A test application: every route group on a SQLite store in a fresh temporary directory,
//! the outbox mailer and a manual clock, driven with `tower::ServiceExt::oneshot`.

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use gateway::GatewayConfig;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tollgate_domain::{MailMessage, ManualClock, QueueName};
use tollgate_embedded::{OutboxMailer, SqliteStore};
use tollgate_http::{AppState, ClientAddr, JwtKeys, Settings};
use tower::ServiceExt;

/// A unique empty directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tollgate-{label}-{}", tollgate_domain::id::random_base62(10)));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One response, with the body parsed as JSON (Null when empty).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub clock: Arc<ManualClock>,
    pub platform: tollgate_local::Platform,
    /// Stops the usage worker when the app is dropped.
    _stop_worker: tokio::sync::watch::Sender<bool>,
    pub dir: TempDir,
}

pub const PASSWORD: &str = "correct-horse-42";

/// Billing of a [`TestApp`]: none by default.
#[derive(Default, Clone)]
pub struct Billing {
    pub payments: Option<Arc<dyn tollgate_domain::Payments>>,
    pub webhook_secret: Option<String>,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_settings(Settings::default()).await
    }

    pub async fn with_settings(settings: Settings) -> Self {
        Self::build(settings, GatewayConfig::default()).await
    }

    /// A gateway whose caches expire after `ttl` (the default is 5 s).
    pub async fn with_cache_ttl(ttl: std::time::Duration) -> Self {
        Self::build(Settings::default(), GatewayConfig { cache_ttl: ttl, ..Default::default() }).await
    }

    /// A gateway that gives upstreams `timeout` to answer.
    pub async fn with_upstream_timeout(timeout: std::time::Duration) -> Self {
        Self::build(Settings::default(), GatewayConfig { upstream_timeout: timeout, ..Default::default() }).await
    }

    /// The local server's platform on a fresh SQLite file, with the usage worker running.
    pub async fn build(settings: Settings, gateway: GatewayConfig) -> Self {
        Self::with_billing(settings, gateway, Billing::default()).await
    }

    /// An app with billing: `payments` (the Stripe adapter; the Stripe events worker runs
    /// too) and the webhook's signing secret.
    pub async fn with_billing(settings: Settings, gateway: GatewayConfig, setup: Billing) -> Self {
        let dir = TempDir::new("app");
        let store = SqliteStore::open(&dir.0.join(tollgate_local::DB_FILE)).expect("open sqlite");
        Self::assemble(dir, Arc::new(store.clone()), Some(store), settings, gateway, true, setup).await
    }

    /// The platform on `store` with default settings and no usage worker, so usage events stay
    /// queued (a test can count exactly the gateway's own store calls). Each call's event is
    /// queued before its answer, as on Lambda; the local queue lives in `dir`.
    pub async fn on_store_without_worker(dir: TempDir, store: Arc<dyn tollgate_domain::Store>) -> Self {
        Self::assemble(dir, store, None, Settings::default(), GatewayConfig::default(), false, Billing::default()).await
    }

    /// The platform on `store` (`embedded`: the same store when it is SQLite on `dir`).
    async fn assemble(
        dir: TempDir,
        store: Arc<dyn tollgate_domain::Store>,
        embedded: Option<SqliteStore>,
        settings: Settings,
        gateway: GatewayConfig,
        run_worker: bool,
        setup: Billing,
    ) -> Self {
        let db = dir.0.join(tollgate_local::DB_FILE);
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let mailer = Arc::new(OutboxMailer::new(dir.0.join("outbox")));
        let jwt = JwtKeys::from_secret(&[42u8; 32]).expect("jwt key");
        let mut state = AppState::new(store, mailer, clock.clone(), jwt, settings);
        if let Some(payments) = setup.payments.clone() {
            state = state.with_payments(payments);
        }
        let platform = tollgate_local::Platform::assemble(state.clone(), &db, embedded, gateway)
            .await
            .expect("platform")
            .with_stripe_webhook_secret(setup.webhook_secret);
        // The platform's state: the one the routes see (it can run jobs).
        let state = platform.state.clone();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        if run_worker {
            tollgate_local::workers::spawn_usage_worker(
                state.clone(),
                platform.queue.clone(),
                platform.embedded_meter(),
                stopped.clone(),
            );
            tollgate_local::workers::spawn_notifications_worker(state.clone(), platform.queue.clone(), stopped.clone());
            if let Some(payments) = setup.payments {
                tollgate_local::workers::spawn_stripe_events_worker(
                    state.clone(),
                    payments,
                    platform.queue.clone(),
                    stopped,
                );
            }
        }
        let router = platform.app();
        TestApp { state, router, clock, platform, _stop_worker: stop, dir }
    }

    /// The stored user with this email (panics if there is none).
    pub async fn stored_user(&self, email: &str) -> tollgate_domain::User {
        let email = tollgate_domain::Email::parse(email).expect("a valid email");
        self.state.store.find_user_by_email(&email).await.expect("find user").expect("the user exists")
    }

    /// Suspends the user with this email, straight in the store (as an admin would).
    pub async fn suspend(&self, email: &str) {
        let mut user = self.stored_user(email).await;
        user.status = tollgate_domain::UserStatus::Suspended;
        self.state.store.update_user(&user).await.expect("update user");
    }

    /// Creates the admin (once) and returns an admin access token.
    pub async fn admin_token(&self) -> String {
        let config = tollgate_local::Config {
            admin_email: "root@example.com".into(),
            admin_password: Some("admin-pass-123".into()),
            ..tollgate_local::Config::from_env().expect("config")
        };
        tollgate_local::bootstrap_admin(&self.state, &config).await.expect("bootstrap admin");
        let r = self
            .call(
                Method::POST,
                "/api/admin/auth/login",
                Some(json!({"email": "root@example.com", "password": "admin-pass-123"})),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "admin login: {:?}", r.body);
        r.body["access_token"].as_str().unwrap().to_string()
    }

    /// The bodies of the messages waiting in `queue` (received, so they leave the queue).
    /// Serves the app on a free loopback port (for callers outside the process, such as the
    /// Stripe fake's webhooks); the server stops with the runtime.
    pub async fn serve(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let app = self.router.clone();
        tokio::spawn(async move {
            let _ = tollgate_local::serve(listener, app, std::future::pending()).await;
        });
        addr
    }

    pub async fn queued(&self, queue: QueueName) -> Vec<Value> {
        let messages = self
            .platform
            .queue
            .receive(queue, 1000, std::time::Duration::from_secs(60), self.clock_now())
            .await
            .expect("receive");
        messages.iter().map(|m| serde_json::from_str(&m.body).expect("JSON message")).collect()
    }

    /// Sends a raw request through the router.
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        send(&self.router, req).await
    }

    /// Sends `method path` with an optional JSON body, bearer token and client IP.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>, bearer: Option<&str>) -> TestResponse {
        self.send(request(method, path, body, bearer, None)).await
    }

    pub async fn register(&self, email: &str) -> TestResponse {
        self.call(
            Method::POST,
            "/api/user/auth/register",
            Some(json!({"email": email, "password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace", "company_name": "Engines"})),
            None,
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.call(Method::POST, "/api/user/auth/login", Some(json!({"email": email, "password": password})), None).await
    }

    /// Registers and logs in; returns (access token, refresh token).
    pub async fn user(&self, email: &str) -> (String, String) {
        let r = self.register(email).await;
        assert_eq!(r.status, StatusCode::CREATED, "register {email}: {:?}", r.body);
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "login {email}: {:?}", r.body);
        (r.body["access_token"].as_str().unwrap().to_string(), r.body["refresh_token"].as_str().unwrap().to_string())
    }

    /// The test clock's time.
    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        use tollgate_domain::Clock;
        self.clock.now()
    }

    /// Mails written to the outbox, oldest first.
    pub fn outbox(&self) -> Vec<MailMessage> {
        OutboxMailer::read_all(self.dir.0.join("outbox"))
    }

    /// The token of the newest mail of `kind` to `to`.
    pub fn mailed_token(&self, to: &str, kind: &str) -> String {
        let mail =
            self.outbox().into_iter().rev().find(|m| m.to.as_str() == to && m.kind == kind).expect("mail in outbox");
        let line = mail.text_body.lines().find(|l| l.contains("token=")).expect("link with token");
        line.rsplit("token=").next().unwrap().trim().to_string()
    }
}

/// Builds a request. `ip` sets the client address as the transports do.
pub fn request(
    method: Method,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
    ip: Option<IpAddr>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = bearer {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match body {
        Some(v) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let mut req = b.body(body).expect("request");
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientAddr(ip));
    }
    req
}

/// Sends a request through any router and parses the answer.
pub async fn send(router: &Router, req: Request<Body>) -> TestResponse {
    let resp = router.clone().oneshot(req).await.expect("router is infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.expect("body").to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    TestResponse { status, headers, body }
}

/// An API Gateway (HTTP API, payload 2.0) fixture from `events/http/`, with
/// `{{ACCESS_TOKEN}}` filled in, parsed by `lambda_http` as the Lambda runtime does.
pub fn lambda_event(name: &str, access_token: &str) -> Request<Body> {
    lambda_event_with(name, &[("{{ACCESS_TOKEN}}", access_token)])
}

/// Like `lambda_event`, filling any `{{PLACEHOLDER}}`s given.
pub fn lambda_event_with(name: &str, fill: &[(&str, &str)]) -> Request<Body> {
    let path = format!("{}/../events/http/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (placeholder, value) in fill {
        raw = raw.replace(placeholder, value);
    }
    let req = lambda_http::request::from_str(&raw).expect("valid API Gateway event");
    let (parts, body) = req.into_parts();
    Request::from_parts(parts, Body::from(body.to_vec()))
}

/// A gateway call with an optional API key (`X-API-Key`) and JSON body.
pub fn gateway_request(method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut req = request(method, path, body, None, None);
    if let Some(k) = key {
        req.headers_mut().insert("x-api-key", k.parse().expect("key is ascii"));
    }
    req
}

/// Sets the client address, as the transports do.
pub fn with_ip(mut req: Request<Body>, ip: IpAddr) -> Request<Body> {
    req.extensions_mut().insert(ClientAddr(ip));
    req
}

/// Sends every request at once; returns each answer, in the order of `requests`.
pub async fn concurrent_requests(router: &Router, requests: Vec<Request<Body>>) -> Vec<TestResponse> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|req| {
            let router = router.clone();
            tokio::spawn(async move { send(&router, req).await })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("request task"));
    }
    out
}

/// Sends `n` gateway calls with `key` at once; returns each (status, error code).
pub async fn concurrent_calls(router: &Router, key: &str, n: usize) -> Vec<(StatusCode, String)> {
    let calls = (0..n).map(|_| gateway_request(Method::GET, "/api/v1/echo/concurrent", Some(key), None)).collect();
    concurrent_requests(router, calls).await.into_iter().map(|r| (r.status, r.code().to_string())).collect()
}

/// Posts `n` copies of the tracked `batch` with `key` at once; returns each (status, error
/// code).
pub async fn concurrent_batches(router: &Router, key: &str, batch: &Value, n: usize) -> Vec<(StatusCode, String)> {
    let posts =
        (0..n).map(|_| gateway_request(Method::POST, "/api/v1/track", Some(key), Some(batch.clone()))).collect();
    concurrent_requests(router, posts).await.into_iter().map(|r| (r.status, r.code().to_string())).collect()
}

/// An upstream on a loopback port that records the request target of every call it gets.
pub async fn recording_upstream() -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let upstream = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(req.uri().to_string());
            axum::Json(serde_json::json!({"uri": req.uri().to_string()}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, upstream).await.unwrap() });
    (addr, seen)
}

/// The usage worker as its Lambda function runs it: the SQS glue of the Lambda composition
/// root around `usage_worker::process_batch`.
pub async fn handle_sqs_event(
    store: &dyn tollgate_domain::Store,
    event: aws_lambda_events::event::sqs::SqsEvent,
    now: chrono::DateTime<Utc>,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    tollgate_lambda::sqs::handle_batch(event, |messages| usage_worker::process_batch(store, None, messages, now)).await
}

/// Calls `GET /api/v1/echo/poll` with `key` through `router` every 100 ms until the answer
/// has `status`, and returns that answer. Panics if it did not come within `within` of
/// `since` (the gateway's caches promise 5 seconds for revocation and suspension: the real
/// cache expiry, measured on the wall clock).
pub async fn gateway_answers_within(
    router: &Router,
    key: &str,
    status: StatusCode,
    since: std::time::Instant,
    within: std::time::Duration,
) -> TestResponse {
    loop {
        let r = send(router, gateway_request(Method::GET, "/api/v1/echo/poll", Some(key), None)).await;
        if r.status == status {
            return r;
        }
        assert!(since.elapsed() < within, "the key still gets {} ({:?}) after {within:?}", r.status, r.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
