//! Lambda cold-start init per function: the time from spawning a function's release binary
//! to its first `GET /runtime/invocation/next` on the Lambda Runtime API, with the binary's
//! size.
//!
//! Each binary starts as Lambda would start it: the environment `template.yaml` sets, a
//! Runtime API (here a loopback server that records the first poll and never answers it),
//! and AWS behind `AWS_ENDPOINT_URL` (moto on loopback: Secrets Manager, DynamoDB, SQS). So
//! the figure includes every AWS call a cold start makes, at loopback latency rather than
//! in-region latency, on this machine's CPU rather than a 256 MB Lambda's share of one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tollgate_tests::moto::MotoServer;

/// Every Lambda binary in `template.yaml`, in the Makefile's order.
pub const FUNCTIONS: [&str; 15] = [
    "auth",
    "account",
    "api-keys",
    "public",
    "gateway",
    "usage-worker",
    "admin",
    "admin-billing",
    "admin-jobs",
    "usage",
    "billing",
    "stripe-webhook",
    "webhook-worker",
    "notifications-worker",
    "scheduler",
];

/// How long one start may take before it counts as a failure.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One function's figures.
pub struct ColdStart {
    pub function: &'static str,
    pub size_bytes: u64,
    /// Sorted init times, one per start.
    pub inits: Vec<Duration>,
}

impl ColdStart {
    pub fn median(&self) -> Duration {
        self.inits[self.inits.len() / 2]
    }
    pub fn max(&self) -> Duration {
        *self.inits.last().expect("at least one start")
    }
}

/// `$CARGO_TARGET_DIR/<profile>`, or the workspace's `target/<profile>`.
pub fn binaries_dir(profile: &str) -> PathBuf {
    target_dir().join(profile)
}

/// `$CARGO_TARGET_DIR`, or the workspace's `target`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A function's binary: for `release`, the one deployed, as `cargo lambda build --release`
/// (`make bench`, `make build-lambda`) leaves it in `target/lambda/<function>/bootstrap`
/// (x86_64-unknown-linux-gnu, generic x86-64 by the workspace's cargo-lambda settings, zig's
/// linker); for `debug`, the host's `target/debug/<function>`.
pub fn function_binary(profile: &str, function: &str) -> PathBuf {
    if profile == "release" {
        target_dir().join("lambda").join(function).join("bootstrap")
    } else {
        binaries_dir(profile).join(function)
    }
}

/// A fake Lambda Runtime API: each `next` poll reports its arrival and then hangs, as the
/// real API does while no event is waiting.
async fn runtime_api() -> (String, mpsc::UnboundedReceiver<Instant>) {
    let (polled, polls) = mpsc::unbounded_channel();
    let router = axum::Router::new().route(
        "/2018-06-01/runtime/invocation/next",
        axum::routing::get(move || {
            let _ = polled.send(Instant::now());
            std::future::pending::<&'static str>()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind runtime api");
    let addr = listener.local_addr().expect("runtime api addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr.to_string(), polls)
}

/// The environment of a deployed function: template.yaml's globals and per-function
/// variables, the Lambda runtime's own variables, and AWS on `moto` (creates the secret and
/// the queues: once per moto server).
pub async fn lambda_environment(moto: &MotoServer) -> Vec<(String, String)> {
    let store = moto.dynamo_store().await;
    let aws = moto.sdk_config().await;
    let secret = aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name("tollgate-bench")
        // With Stripe's key, as a deployment that bills (a cold start only builds the client).
        .secret_string(format!(
            r#"{{"jwt_signing_key":"{}","stripe_secret_key":"sk_test_bench","stripe_webhook_secret":"whsec_bench"}}"#,
            tollgate_domain::id::random_base62(48)
        ))
        .send()
        .await
        .expect("create the secret on moto");
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = |name: &'static str| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .expect("create queue")
                .queue_url()
                .unwrap_or_default()
                .to_string()
        }
    };
    let usage = queue_url("bench-usage").await;
    let notifications = queue_url("bench-notifications").await;
    let stripe_events = queue_url("bench-stripe-events").await;
    [
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("TABLE_NAME", store.table().to_string()),
        ("SECRET_ARN", secret.arn().unwrap_or_default().to_string()),
        ("MAIL_FROM", "noreply@example.com".into()),
        ("PUBLIC_BASE_URL", "https://app.example.com".into()),
        ("RUST_LOG", "info".into()),
        ("USAGE_QUEUE_URL", usage),
        ("NOTIFICATIONS_QUEUE_URL", notifications),
        ("STRIPE_EVENTS_QUEUE_URL", stripe_events),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Starts `binary` once and returns the time to its first Runtime API poll.
async fn one_start(binary: &Path, function: &str, env: &[(String, String)]) -> Result<Duration, String> {
    let (api, mut polls) = runtime_api().await;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let polled = tokio::time::timeout(START_TIMEOUT, polls.recv()).await;
    let _ = child.kill();
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    match polled {
        Ok(Some(at)) => Ok(at - started),
        _ => Err(format!(
            "{function} did not poll the Runtime API within {START_TIMEOUT:?}: {}",
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("(no output)")
        )),
    }
}

/// The round trips a route-group function makes before its first poll, alone: each time on
/// fresh SDK clients in this process (so with their connection setup), the secret's read and
/// the catalog check overlapped as `tollgate_lambda::bootstrap::app_state` runs them. Sorted
/// durations, one per try. After the first try the SDK's once-per-process work is done, so
/// the median is the round trips alone: a lower figure than
/// [`startup_calls_in_a_fresh_process`], printed beside it.
pub async fn startup_calls(moto: &MotoServer, env: &[(String, String)], tries: usize) -> Result<Vec<Duration>, String> {
    let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut took = Vec::with_capacity(tries);
    for _ in 0..tries {
        let started = Instant::now();
        let aws = moto.sdk_config().await;
        let secrets =
            tollgate_aws::SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(&aws), var("SECRET_ARN"));
        let store = tollgate_store_dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), var("TABLE_NAME"));
        read_secret_and_check_catalog(&secrets, &store).await?;
        took.push(started.elapsed());
    }
    took.sort();
    Ok(took)
}

/// The command-line flag that makes the bench binary a child process timing
/// [`startup_calls_here`] once (see [`startup_calls_in_a_fresh_process`]).
pub const STARTUP_CALLS_ONCE: &str = "--startup-calls-once";

/// A route group's startup calls as its cold start makes them, in a fresh process (this
/// binary run with [`STARTUP_CALLS_ONCE`] in `env`): so with what the SDK does once per
/// process before its first calls (its configuration from the environment, its HTTPS
/// connector, each client's endpoint rules), which [`startup_calls`] pays only on its first
/// try. The child's own start (exec, runtime) is not counted: `public`'s init covers that.
pub fn startup_calls_in_a_fresh_process(env: &[(String, String)]) -> Result<Duration, String> {
    let bench = std::env::current_exe().map_err(|e| format!("the bench binary's path: {e}"))?;
    let output = Command::new(&bench)
        .arg(STARTUP_CALLS_ONCE)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", bench.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let micros: u64 = stdout.trim().parse().map_err(|_| {
        format!(
            "the startup calls failed in a fresh process: {}{}",
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;
    Ok(Duration::from_micros(micros))
}

/// The child's side of [`startup_calls_in_a_fresh_process`]: in this process, from the
/// environment a function gets, what a route group's cold start does between its runtime and
/// its router: the AWS configuration ([`tollgate_lambda::bootstrap::aws_config`]), the
/// Secrets Manager and DynamoDB clients, and the secret's read overlapped with the catalog
/// check. Their time.
pub async fn startup_calls_here() -> Result<Duration, String> {
    use tollgate_lambda::bootstrap;
    let started = Instant::now();
    let aws = bootstrap::aws_config().await;
    let secrets = bootstrap::secrets(&aws).map_err(|e| e.to_string())?;
    let store = bootstrap::store(&aws).map_err(|e| e.to_string())?;
    read_secret_and_check_catalog(&secrets, &store).await?;
    Ok(started.elapsed())
}

/// A route group's startup round trips: the JWT secret's read and the catalog check,
/// overlapped as `tollgate_lambda::bootstrap::app_state` runs them.
async fn read_secret_and_check_catalog(
    secrets: &tollgate_aws::SecretsManagerSecrets,
    store: &tollgate_store_dynamodb::DynamoStore,
) -> Result<(), String> {
    let (secret, seeded) = tokio::join!(
        tollgate_domain::Secrets::get(secrets, tollgate_http::JWT_SECRET_NAME),
        tollgate_app::seed_catalog(store, chrono::Utc::now()),
    );
    secret.map_err(|e| format!("the secret's read failed: {e}"))?;
    seeded.map_err(|e| format!("the catalog check failed: {e}"))?;
    Ok(())
}

/// Every function's cold starts and a route group's startup calls, measured together.
pub struct ColdStarts {
    /// Per function, in [`FUNCTIONS`]' order.
    pub functions: Vec<ColdStart>,
    /// [`startup_calls_in_a_fresh_process`], sorted, one per round.
    pub calls: Vec<Duration>,
}

/// Measures every function's binary from `profile` (`release`, or `debug` to check that the
/// measurement works without a release build) in `env` ([`lambda_environment`]): `rounds`
/// rounds, each starting every function once and then timing the startup calls once in a
/// fresh process. Interleaved, so a slower spell of the machine falls on every figure of a
/// round rather than on one function's starts, as the metered rows interleave their rounds.
pub async fn measure(env: &[(String, String)], profile: &str, rounds: usize) -> Result<ColdStarts, String> {
    let mut functions = Vec::new();
    for function in FUNCTIONS {
        let binary = function_binary(profile, function);
        let size_bytes = std::fs::metadata(&binary)
            .map_err(|_| {
                let build = if profile == "release" {
                    "`make build-lambda` (or the Lambda build of `make bench`)"
                } else {
                    "`cargo build --features lambda --bins`"
                };
                format!("{} is missing: build it with {build}", binary.display())
            })?
            .len();
        functions.push((binary, ColdStart { function, size_bytes, inits: Vec::with_capacity(rounds) }));
    }
    let mut calls = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        for (binary, cold_start) in &mut functions {
            cold_start.inits.push(one_start(binary, cold_start.function, env).await?);
        }
        calls.push(startup_calls_in_a_fresh_process(env)?);
    }
    calls.sort();
    let functions = functions
        .into_iter()
        .map(|(_, mut cold_start)| {
            cold_start.inits.sort();
            cold_start
        })
        .collect();
    Ok(ColdStarts { functions, calls })
}
