//! `make bench`: the metered call measured against the same server's no-op, in one run.
//!
//! 1. The real `tollgate` binary (`server` profile; `--debug-binaries`: debug) as its own process on a
//!    seeded SQLite data directory, its usage worker running. At 1, 8 and 64 connections,
//!    interleaved rounds of `GET /health` (the no-op) and a metered call (`GET /api/v1/bench/x`
//!    to the built-in echo: key, rate limit, exact quota write, usage event), medians. Each
//!    metered round waits for the usage queue to drain, and its throughput and the server's
//!    CPU per call count that deferred work. Resident memory is read from `/proc`.
//! 2. On the same server and key, metering without the proxy (`track`): `POST /api/v1/track`
//!    batches of 100 events at the same connections, rounds and round time, each round drained
//!    like a metered one; events/s and CPU per event against the metered call of step 1.
//! 3. Store round trips and transactions per gateway call (in process, counted by the gateway
//!    and by the call meter's group commit).
//! 4. The usage worker draining a backlog (SQLite queue -> logs + hourly/daily aggregates),
//!    its rate over the first and the last third of the backlog.
//! 5. The admin dashboard's analytics routes at a million logged calls (`--quick`: 20,000)
//!    of 1,000 customers over 30 days on SQLite, in process: each route's median and max.
//! 6. With `--dynamodb` (needs the test venv's moto): DynamoDB SDK calls per gateway call, and
//!    a hot key (many concurrent calls on one key's counter item).
//! 7. With `--cold-start` (needs moto and the functions' binaries as deployed, which `make
//!    bench` builds with `cargo lambda build --release` into target/lambda/): each Lambda
//!    function's init time to its first Runtime API poll, and its size; then the startup calls
//!    a route group makes, alone (each in a fresh process, and on fresh clients in this one),
//!    for the cold-start target.
//!
//! `--quick` runs shorter rounds and smaller backlogs, and `--debug-binaries` uses debug
//! builds: `make test` uses both to keep the benchmark working. `--analytics-only` runs step
//! 5 alone, `--worker-only` step 4 (for `perf` on the bench process), `--metered-only` step 1,
//! `--cold-start-only` step 7, `--connections N` only that row of steps 1 and 2. `--server
//! <path>` measures another build of `tollgate` (e.g. `cargo build --profile profiling`, for
//! `perf`).

mod analytics;
mod cold_start;
mod server;
mod track;

use axum::http::StatusCode;
use serde_json::json;
use server::Server;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_domain::{Endpoint, Id, Plan, QueueMessage, QueueName, Store, UsageEvent};
use tollgate_embedded::SqliteStore;
use tollgate_tests::app::{TempDir, TestApp};
use tollgate_tests::moto::MotoServer;

/// One load run: sorted latencies and throughput.
struct Run {
    latencies: Vec<Duration>,
    elapsed: Duration,
    errors: usize,
}

impl Run {
    fn quantile(&self, p: f64) -> Duration {
        let all = &self.latencies;
        if all.is_empty() {
            return Duration::ZERO;
        }
        all[((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1]
    }
    fn calls(&self) -> usize {
        self.latencies.len()
    }
}

/// `request` (one call; true when it succeeded) over and over from `concurrency` workers
/// for `duration`, each call timed.
pub(crate) async fn timed_load<F, Fut>(concurrency: usize, duration: Duration, request: F) -> Run
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if !request().await {
                        errors += 1;
                    }
                    lat.push(t.elapsed());
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (lat, e) = w.await.expect("load worker");
        latencies.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Run { latencies, elapsed, errors }
}

/// GETs of `url` from `concurrency` workers for `duration`.
async fn load(client: &reqwest::Client, url: &str, key: Option<&str>, concurrency: usize, duration: Duration) -> Run {
    let (client, url, key) = (client.clone(), url.to_string(), key.map(str::to_string));
    timed_load(concurrency, duration, move || {
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        async move {
            let mut req = client.get(&url);
            if let Some(k) = &key {
                req = req.header("x-api-key", k);
            }
            match req.send().await {
                Ok(r) if r.status() == StatusCode::OK => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    })
    .await
}

/// A part of the benchmark that could not run: said on stderr, and the run fails.
pub(crate) fn fail(why: &str) -> ! {
    eprintln!("bench: {why}");
    std::process::exit(1)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { tollgate_local::serve(listener, router, std::future::pending()).await });
    addr
}

/// A user with a key, on an effectively unlimited hard-capped plan (so every call takes the
/// conditional quota write), and an endpoint `/bench/{*rest}` to `upstream`.
async fn tenant(app: &TestApp, upstream: &str) -> String {
    let (access, _) = app.user("bench@example.com").await;
    let key =
        app.call(axum::http::Method::POST, "/api/user/api-keys", Some(json!({"name": "bench"})), Some(&access)).await;
    let key = key.body["secret"].as_str().expect("key").to_string();
    let store = app.state.store.clone();
    let now = chrono::Utc::now();
    let mut plan = Plan::defaults(now).remove(0);
    plan.id = Id::generate("plan");
    plan.rate_limit = u32::MAX / 2;
    plan.monthly_limit = Some(u64::MAX / 2);
    store.create_plan(&plan).await.expect("plan");
    let user = app.stored_user("bench@example.com").await;
    let mut sub = store.subscription_of_org(&user.default_org_id).await.unwrap().expect("subscription");
    sub.plan_id = plan.id;
    store.update_subscription(&sub).await.expect("subscription");
    let endpoint = Endpoint {
        id: Id::generate("ep"),
        name: "bench".into(),
        path: "/bench/{*rest}".into(),
        upstream_url: upstream.into(),
        ..Endpoint::default_echo(now)
    };
    store.create_endpoint(&endpoint).await.expect("endpoint");
    key
}

/// The worker's drain of a backlog: overall events/s, and over the first and last third.
struct Drain {
    events: usize,
    overall: f64,
    first_third: f64,
    last_third: f64,
}

async fn worker_drain(events: usize) -> Drain {
    let dir = TempDir::new("bench-worker");
    let db = dir.0.join(tollgate_local::DB_FILE);
    let sqlite = SqliteStore::open(&db).expect("sqlite");
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let app = TestApp::on_store_without_worker(dir, store.clone()).await;
    app.register("worker@example.com").await;
    let user = app.stored_user("worker@example.com").await;
    let now = chrono::Utc::now();
    let messages: Vec<QueueMessage> = (0..events)
        .map(|i| {
            let e = UsageEvent {
                // As the gateway makes them: time-ordered.
                id: tollgate_domain::id::request_id(),
                org_id: user.default_org_id.clone(),
                key_id: Id::from_string(if i % 3 == 0 { "key_bench_a" } else { "key_bench_b" }),
                project_id: None,
                source: tollgate_domain::UsageSource::Proxy,
                endpoint_id: Id::from_string(if i % 2 == 0 { "ep_echo" } else { "ep_other" }),
                method: "GET".into(),
                path: "/api/v1/echo/x".into(),
                status: if i % 10 == 0 { 500 } else { 200 },
                latency_ms: (i % 300) as u32,
                cost_units: 1,
                ip: Some("127.0.0.1".into()),
                timestamp: now,
                period: tollgate_domain::Period::containing(now).key,
                metadata: None,
            };
            e.to_message()
        })
        .collect();
    // The server's arrangement: the queue on the store's connection.
    let queue = Arc::new(tollgate_embedded::SqliteQueue::on_store(&sqlite).await.expect("queue"));
    for chunk in messages.chunks(1000) {
        tollgate_domain::Queue::send(queue.as_ref(), QueueName::Usage, chunk).await.expect("enqueue");
    }
    let (third, two_thirds) = ((events / 3) as u64, (2 * events / 3) as u64);
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // With the server's call meter, as the server runs it.
    let meter = app.platform.embedded_meter();
    let worker = tollgate_local::workers::spawn_usage_worker(app.state.clone(), queue.clone(), meter, stopped);
    // Progress is read on a connection of its own, every 20 ms: a COUNT over the backlog on
    // the worker's connection every few milliseconds held that connection a fifth of the time
    // (seen with perf), so the figures measured the worker and the poll together.
    let monitor = tollgate_embedded::SqliteQueue::open(&db).expect("a second connection to watch the queue");
    let (mut at_first, mut at_second) = (None, None);
    loop {
        let depth = monitor.depth(QueueName::Usage).await.expect("depth");
        let t = started.elapsed();
        if depth <= two_thirds && at_first.is_none() {
            at_first = Some(t);
        }
        if depth <= third && at_second.is_none() {
            at_second = Some(t);
        }
        if depth == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    let _ = stop.send(true);
    let _ = worker.await;
    let recorded = store
        .query_usage(
            &tollgate_domain::UsageLogQuery {
                org_id: Some(user.default_org_id.clone()),
                limit: 1,
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .await
        .expect("usage log");
    if recorded.0.is_empty() {
        fail("the worker drained the queue but logged nothing");
    }
    let (first, second) = (at_first.unwrap_or(total), at_second.unwrap_or(total));
    let third_events = (events / 3).max(1) as f64;
    Drain {
        events,
        overall: events as f64 / total.as_secs_f64(),
        first_third: third_events / first.as_secs_f64().max(1e-9),
        last_third: third_events / (total.saturating_sub(second)).as_secs_f64().max(1e-9),
    }
}

/// moto from the test venv, for the DynamoDB and cold-start sections.
fn start_moto() -> MotoServer {
    std::panic::catch_unwind(MotoServer::start)
        .unwrap_or_else(|_| fail("moto not available: run `make test` once to install it into .venv"))
}

async fn dynamodb_calls_per_request(moto: &MotoServer) -> f64 {
    let store = Arc::new(moto.dynamo_store().await);
    let app = TestApp::on_store_without_worker(TempDir::new("bench-ddb"), store).await;
    let key = tenant(&app, tollgate_domain::BUILTIN_ECHO).await;
    let call =
        || app.send(tollgate_tests::app::gateway_request(axum::http::Method::GET, "/api/v1/bench/x", Some(&key), None));
    call().await;
    let before = moto.request_count();
    for _ in 0..50 {
        call().await;
    }
    (moto.request_count() - before) as f64 / 50.0
}

/// Medians of the interleaved rounds at one concurrency.
struct Row {
    concurrency: usize,
    health_rps: f64,
    health_p50: Duration,
    health_p99: Duration,
    /// Calls over the load time plus the drain of their deferred work.
    metered_rps: f64,
    metered_p50: Duration,
    metered_p99: Duration,
    /// Server CPU per call, the metered one's including its deferred work.
    health_cpu: Duration,
    metered_cpu: Duration,
    /// How long the usage queue took to drain after the metered load stopped.
    drain: Duration,
    errors: usize,
}

fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    v[v.len() / 2]
}

/// Interleaved rounds of `/health` and the metered call at `concurrency`.
async fn measure_row(
    server: &Server,
    client: &reqwest::Client,
    key: &str,
    concurrency: usize,
    rounds: usize,
    duration: Duration,
) -> Row {
    let (health_url, metered_url) = (format!("{}/health", server.base), format!("{}/api/v1/bench/x", server.base));
    let (mut h_rps, mut h_p50, mut h_p99, mut h_cpu) = (vec![], vec![], vec![], vec![]);
    let (mut m_rps, mut m_p50, mut m_p99, mut m_cpu) = (vec![], vec![], vec![], vec![]);
    let mut drains = vec![];
    let mut errors = 0;
    for _ in 0..rounds {
        let cpu0 = server.cpu();
        let h = load(client, &health_url, None, concurrency, duration).await;
        let cpu1 = server.cpu();
        h_rps.push(h.calls() as f64 / h.elapsed.as_secs_f64());
        h_p50.push(h.quantile(0.5));
        h_p99.push(h.quantile(0.99));
        h_cpu.push((cpu1 - cpu0).as_secs_f64() / h.calls().max(1) as f64);

        let started = Instant::now();
        let m = load(client, &metered_url, Some(key), concurrency, duration).await;
        let stopped = Instant::now();
        server.drained().await;
        drains.push(stopped.elapsed());
        let with_drain = started.elapsed();
        let cpu2 = server.cpu();
        m_rps.push(m.calls() as f64 / with_drain.as_secs_f64());
        m_p50.push(m.quantile(0.5));
        m_p99.push(m.quantile(0.99));
        m_cpu.push((cpu2 - cpu1).as_secs_f64() / m.calls().max(1) as f64);
        errors += h.errors + m.errors;
    }
    Row {
        concurrency,
        health_rps: median(h_rps),
        health_p50: median(h_p50),
        health_p99: median(h_p99),
        metered_rps: median(m_rps),
        metered_p50: median(m_p50),
        metered_p99: median(m_p99),
        health_cpu: Duration::from_secs_f64(median(h_cpu)),
        metered_cpu: Duration::from_secs_f64(median(m_cpu)),
        drain: median(drains),
        errors,
    }
}

/// Seeds a data directory for the server: a tenant whose key calls `/api/v1/bench/{*rest}` on
/// the built-in echo. Returns the directory and the key.
async fn seeded_data_dir() -> (TempDir, String) {
    let data = TempDir::new("bench-server");
    let store = SqliteStore::open(&data.0.join(tollgate_local::DB_FILE)).expect("sqlite");
    let app = TestApp::on_store_without_worker(TempDir::new("bench-seed"), Arc::new(store)).await;
    let key = tenant(&app, tollgate_domain::BUILTIN_ECHO).await;
    (data, key)
}

/// `per_worker` keyed GETs of `url` from each of `concurrency` workers, every one answered
/// 200 (a fixed count, where `load` runs for a time). Returns how many were made.
async fn keyed_calls(client: &reqwest::Client, url: &str, key: &str, concurrency: usize, per_worker: usize) -> usize {
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, key) = (client.clone(), url.to_string(), key.to_string());
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    let r = client.get(&url).header("x-api-key", &key).send().await.expect("call");
                    assert_eq!(r.status(), StatusCode::OK);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    per_worker * concurrency
}

/// Store round trips and transactions per gateway call, in process, at 64 connections.
async fn round_trips(calls: usize) -> (f64, f64, f64, u64) {
    let app = TestApp::new().await;
    let key = tenant(&app, tollgate_domain::BUILTIN_ECHO).await;
    let addr = serve(app.router.clone()).await;
    let client = tollgate_outbound::https::client_builder().pool_max_idle_per_host(256).build().expect("client");
    let url = format!("http://{addr}/api/v1/bench/x");
    load(&client, &url, Some(&key), 4, Duration::from_millis(200)).await;
    let stats = || app.platform.embedded_meter().expect("embedded meter").stats().snapshot();
    let (calls0, reads0, writes0) = app.platform.gateway.stats.snapshot();
    let (_, _, tx0) = stats();
    keyed_calls(&client, &url, &key, 64, calls / 64).await;
    app.platform.flush().await;
    let (calls, reads, writes) = app.platform.gateway.stats.snapshot();
    let (_, _, tx) = stats();
    let n = (calls - calls0).max(1) as f64;
    ((reads - reads0) as f64 / n, (writes - writes0) as f64 / n, (tx - tx0) as f64 / n, calls - calls0)
}

async fn dynamodb_hot_key(moto: &MotoServer, concurrency: usize, calls: usize) -> (f64, f64) {
    let store = Arc::new(moto.dynamo_store().await);
    let app = TestApp::on_store_without_worker(TempDir::new("bench-ddb-hot"), store).await;
    let key = tenant(&app, tollgate_domain::BUILTIN_ECHO).await;
    let addr = serve(app.router.clone()).await;
    let client = tollgate_outbound::https::client_builder().pool_max_idle_per_host(256).build().expect("client");
    let url = format!("http://{addr}/api/v1/bench/x");
    load(&client, &url, Some(&key), 2, Duration::from_millis(200)).await;
    let before = moto.request_count();
    let started = Instant::now();
    let made = keyed_calls(&client, &url, &key, concurrency, calls / concurrency).await as f64;
    (made / started.elapsed().as_secs_f64(), (moto.request_count() - before) as f64 / made)
}

/// Step 5: the admin analytics routes at a million logged calls (`quick`: 20,000).
async fn analytics_section(quick: bool) {
    let (calls, orgs) = if quick { (20_000, 100) } else { (1_000_000, 1_000) };
    let a = analytics::measure(calls, orgs, 20, if quick { 3 } else { 20 }).await;
    println!(
        "\n## Admin analytics at {} logged calls ({} customers, {} endpoints, 30 days; SQLite, in process, through the router)\n",
        a.calls, a.orgs, a.endpoints
    );
    println!(
        "Seeding (users, then the calls in batches of 1,000 as the usage worker records them): {:.1} s.\n",
        a.seed.as_secs_f64()
    );
    println!("| route | median ms | max ms |");
    println!("|---|---|---|");
    for r in &a.routes {
        println!("| `{}` | {} | {} |", r.route, ms(r.median), ms(r.max));
    }
}

/// Step 4: the usage worker's drain of a backlog, printed.
async fn worker_section(quick: bool) {
    let events = if quick { 20_000 } else { 150_000 };
    let d = worker_drain(events).await;
    println!("\n## Usage worker (a backlog of {} events: SQLite queue -> logs + hourly/daily aggregates)\n", d.events);
    println!("| events/s overall | first third | last third |");
    println!("|---|---|---|");
    println!("| {:.0} | {:.0} | {:.0} |", d.overall, d.first_third, d.last_third);
}

/// Step 7: each Lambda function's binary size and cold-start init, on `moto`.
async fn cold_start_section(moto: &MotoServer, profile: &str, quick: bool) {
    let starts = if quick { 3 } else { 10 };
    println!("\n## Lambda cold start ({profile} binaries, moto on loopback; {starts} interleaved rounds, each starting every function once)\n");
    let env = cold_start::lambda_environment(moto).await;
    let cold_start::ColdStarts { functions: measured, calls } = match cold_start::measure(&env, profile, starts).await {
        Ok(results) => results,
        Err(e) => fail(&format!("cold start not measured: {e}")),
    };
    let warm_calls = match cold_start::startup_calls(moto, &env, starts).await {
        Ok(calls) => calls,
        Err(e) => fail(&format!("the startup calls not measured in this process: {e}")),
    };
    // The target: a route group's init within 2x of `public`'s plus the calls it must make
    // (as a fresh process makes them). Read either way: 2 x (public + calls), or 2 x public +
    // calls (its init minus the calls against twice public's).
    let calls_median = calls[calls.len() / 2];
    let warm_calls_median = warm_calls[warm_calls.len() / 2];
    let public = measured.iter().find(|r| r.function == "public").map_or(Duration::ZERO, cold_start::ColdStart::median);
    println!("| function | binary bytes | MiB | init median ms | init max ms | median minus the calls ms |");
    println!("|---|---|---|---|---|---|");
    for r in &measured {
        println!(
            "| {} | {} | {:.2} | {} | {} | {} |",
            r.function,
            r.size_bytes,
            r.size_bytes as f64 / (1024.0 * 1024.0),
            ms(r.median()),
            ms(r.max()),
            ms(r.median().saturating_sub(calls_median)),
        );
    }
    println!(
        "\nA route group's startup calls alone (the AWS configuration, the clients, the secret's read and the \
         catalog check overlapped), each in a fresh process (one per round of starts; {starts} tries): median {} ms, max {} ms; the round \
         trips alone, on fresh clients in a process that has made them before: median {} ms. public's median: {} \
         ms; 2 x (public + the calls): {} ms; 2 x public + the calls: {} ms (with the round trips alone: {} ms).",
        ms(calls_median),
        ms(*calls.last().expect("at least one try")),
        ms(warm_calls_median),
        ms(public),
        ms(2 * (public + calls_median)),
        ms(2 * public + calls_median),
        ms(2 * public + warm_calls_median),
    );
}

/// The value after `name` on the command line (`--server <path>`), if given.
fn option_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let with_dynamodb = args.iter().any(|a| a == "--dynamodb");
    let with_cold_start = args.iter().any(|a| a == "--cold-start");
    let profile = if args.iter().any(|a| a == "--debug-binaries") { "debug" } else { "release" };
    let (rounds, duration) = if quick { (1, Duration::from_millis(500)) } else { (3, Duration::from_secs(10)) };

    if args.iter().any(|a| a == cold_start::STARTUP_CALLS_ONCE) {
        // A child of the cold-start section: its time on stdout, in microseconds.
        match cold_start::startup_calls_here().await {
            Ok(took) => println!("{}", took.as_micros()),
            Err(e) => fail(&e),
        }
        return;
    }
    if args.iter().any(|a| a == "--analytics-only") {
        return analytics_section(quick).await;
    }
    if args.iter().any(|a| a == "--worker-only") {
        return worker_section(quick).await;
    }
    if args.iter().any(|a| a == "--cold-start-only") {
        return cold_start_section(&start_moto(), profile, quick).await;
    }
    let (data, key) = seeded_data_dir().await;
    // `--server <path>`: another build of the server, e.g. `target/profiling/tollgate` for perf.
    let binary = option_value(&args, "--server").map(std::path::PathBuf::from).unwrap_or_else(|| {
        // The server as `make bench` builds it (`--profile server`), or the debug build.
        let server_profile = if profile == "debug" { "debug" } else { "server" };
        cold_start::binaries_dir(server_profile).join("tollgate")
    });
    let server = Server::start(&binary, data).await.unwrap_or_else(|e| fail(&e));
    let client = tollgate_outbound::https::client_builder().pool_max_idle_per_host(256).build().expect("client");
    let idle_rss = server.rss_mib();
    // Warm both paths (connections, caches).
    load(&client, &format!("{}/health", server.base), None, 4, Duration::from_millis(200)).await;
    load(&client, &format!("{}/api/v1/bench/x", server.base), Some(&key), 4, Duration::from_millis(200)).await;
    server.drained().await;

    println!(
        "## The metered call against the same server's /health (`{}`, SQLite; {rounds} interleaved round(s) of {:.1} s, medians)\n",
        binary.display(),
        duration.as_secs_f64()
    );
    println!("| connections | /health req/s | p50 ms | p99 ms | metered req/s (drained) | p50 ms | p99 ms | metered / health | p50 added ms | p99 ratio | server CPU ms/call: health | metered (with deferred) | drain after the load ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    // `--connections N`: that row alone (for profiling one load level).
    let only: Option<usize> = option_value(&args, "--connections").and_then(|n| n.parse().ok());
    let concurrencies: Vec<usize> = only.map_or_else(|| vec![1, 8, 64], |n| vec![n]);
    let mut rows = Vec::new();
    let mut peak_rss: f64 = idle_rss;
    for &concurrency in &concurrencies {
        let r = measure_row(&server, &client, &key, concurrency, rounds, duration).await;
        peak_rss = peak_rss.max(server.rss_mib());
        println!(
            "| {} | {:.0} | {} | {} | {:.0} | {} | {} | {:.0} % | {} | {:.1}x | {:.3} | {:.3} | {:.0} |",
            r.concurrency,
            r.health_rps,
            ms(r.health_p50),
            ms(r.health_p99),
            r.metered_rps,
            ms(r.metered_p50),
            ms(r.metered_p99),
            100.0 * r.metered_rps / r.health_rps,
            ms(r.metered_p50.saturating_sub(r.health_p50)),
            r.metered_p99.as_secs_f64() / r.health_p99.as_secs_f64().max(1e-9),
            r.health_cpu.as_secs_f64() * 1000.0,
            r.metered_cpu.as_secs_f64() * 1000.0,
            r.drain.as_secs_f64() * 1000.0,
        );
        rows.push(r);
    }
    let steady_rss = server.rss_mib();
    println!("\nResident memory: {idle_rss:.1} MiB idle, {peak_rss:.1} MiB at most between rows, {steady_rss:.1} MiB after the last row.");
    let errors: usize = rows.iter().map(|r| r.errors).sum();
    if errors > 0 {
        fail(&format!("{errors} calls did not answer 200: the numbers above are not a clean run"));
    }
    if args.iter().any(|a| a == "--metered-only") {
        return;
    }

    println!(
        "\n## Metering without the proxy: `POST /api/v1/track`, batches of {} events (same server and key; {rounds} round(s) of {:.1} s per row, medians)\n",
        track::BATCH,
        duration.as_secs_f64()
    );
    println!("| connections | events/s accepted (drained) | batches/s answered | p50 ms/batch | p99 ms/batch | server CPU us/event (with deferred) | drain after the load ms | events/s / metered calls/s | CPU per event / per metered call |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut track_errors = 0;
    for (concurrency, metered) in concurrencies.into_iter().zip(&rows) {
        let t = track::measure_row(&server, &client, &key, concurrency, rounds, duration).await;
        println!(
            "| {} | {:.0} | {:.0} | {} | {} | {:.1} | {:.0} | {:.1}x | {:.1} % |",
            t.concurrency,
            t.events_per_s,
            t.batches_per_s,
            ms(t.p50),
            ms(t.p99),
            t.cpu_per_event.as_secs_f64() * 1e6,
            t.drain.as_secs_f64() * 1000.0,
            t.events_per_s / metered.metered_rps.max(1e-9),
            100.0 * t.cpu_per_event.as_secs_f64() / metered.metered_cpu.as_secs_f64().max(1e-12),
        );
        track_errors += t.errors;
    }
    println!("\nResident memory after the track rows: {:.1} MiB.", server.rss_mib());
    if track_errors > 0 {
        fail(&format!("{track_errors} batches were not answered 202 with every event accepted: not a clean run"));
    }
    drop(server);

    let calls = if quick { 1280 } else { 12_800 };
    let (reads, writes, transactions, n) = round_trips(calls).await;
    println!("\n## Store round trips per gateway call (SQLite, in process, 64 connections)\n");
    println!("| reads/call | conditional writes/call | transactions/call (group commit) | calls |");
    println!("|---|---|---|---|");
    println!("| {reads:.4} | {writes:.4} | {transactions:.4} | {n} |");

    worker_section(quick).await;

    analytics_section(quick).await;

    let moto = (with_dynamodb || with_cold_start).then(start_moto);
    if let (true, Some(moto)) = (with_dynamodb, &moto) {
        println!("\n## DynamoDB (moto, single-threaded)\n");
        let c = dynamodb_calls_per_request(moto).await;
        println!("DynamoDB SDK calls per warm gateway call: {c:.2} (one conditional UpdateItem on the period counter)");
        let (rps, per_call) = dynamodb_hot_key(moto, 16, if quick { 160 } else { 1600 }).await;
        println!("Hot key (one key, 16 connections): {rps:.0} calls/s, {per_call:.2} DynamoDB calls per call (moto serialises every request)");
    }
    if let (true, Some(moto)) = (with_cold_start, &moto) {
        cold_start_section(moto, profile, quick).await;
    }
    println!(
        "\nmachine: {} cores; {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::env::consts::ARCH
    );
}
