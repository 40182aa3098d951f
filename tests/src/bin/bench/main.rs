//! `make bench`: the gateway measured side by side with its upstream, in one run.
//!
//! 1. A tiny upstream on loopback; the local platform (SQLite, real TCP) in front of it.
//! 2. At several concurrencies: p50/p99 latency and requests/s calling the upstream directly
//!    and through the gateway (key check, rate limit, exact quota write, forward, usage event).
//! 3. Store round trips per gateway call (counted by the gateway).
//! 4. Usage events per second through the usage worker (queue -> logs + aggregates).
//! 5. With `--dynamodb` (needs the test venv's moto): DynamoDB SDK calls per gateway call.
//! 6. With `--cold-start` (needs moto and the functions' release binaries, which `make bench`
//!    builds): each Lambda function's init time to its first Runtime API poll, and its size.
//!
//! `--quick` runs fewer requests and `--debug-binaries` times the functions' debug builds:
//! `make test` uses both to keep the benchmark working.

mod cold_start;

use axum::http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_domain::{Endpoint, Id, Plan, QueueMessage, QueueName, Store, UsageEvent};
use tollgate_embedded::SqliteStore;
use tollgate_tests::app::{TempDir, TestApp};
use tollgate_tests::moto::MotoServer;

struct Run {
    p50: Duration,
    p99: Duration,
    rps: f64,
    errors: usize,
}

/// `total` GETs of `url` spread over `concurrency` workers.
async fn load(client: &reqwest::Client, url: &str, key: Option<&str>, concurrency: usize, total: usize) -> Run {
    let started = Instant::now();
    let per_worker = total / concurrency;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, key) = (client.clone(), url.to_string(), key.map(str::to_string));
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_worker);
                let mut errors = 0;
                for _ in 0..per_worker {
                    let t = Instant::now();
                    let mut req = client.get(&url);
                    if let Some(k) = &key {
                        req = req.header("x-api-key", k);
                    }
                    match req.send().await {
                        Ok(r) if r.status() == StatusCode::OK => {
                            let _ = r.bytes().await;
                        }
                        _ => errors += 1,
                    }
                    lat.push(t.elapsed());
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    let mut errors = 0;
    for w in workers {
        let (lat, e) = w.await.expect("load worker");
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed();
    all.sort();
    let q = |p: f64| all[((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1];
    Run { p50: q(0.50), p99: q(0.99), rps: all.len() as f64 / elapsed.as_secs_f64(), errors }
}

/// A part of the benchmark that could not run: said on stderr, and the run fails.
fn fail(why: &str) -> ! {
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

async fn worker_throughput(events: usize) -> f64 {
    let dir = TempDir::new("bench-worker");
    let db = dir.0.join("tollgate.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).expect("sqlite"));
    let app = TestApp::on_store_without_worker(dir, store.clone()).await;
    app.register("worker@example.com").await;
    let user = app.stored_user("worker@example.com").await;
    let now = chrono::Utc::now();
    let messages: Vec<QueueMessage> = (0..events)
        .map(|i| {
            let e = UsageEvent {
                id: format!("req_bench{i}"),
                org_id: user.default_org_id.clone(),
                key_id: Id::from_string("key_bench"),
                endpoint_id: Id::from_string(if i % 2 == 0 { "ep_echo" } else { "ep_other" }),
                method: "GET".into(),
                path: "/api/v1/echo/x".into(),
                status: if i % 10 == 0 { 500 } else { 200 },
                latency_ms: (i % 300) as u32,
                cost_units: 1,
                ip: None,
                timestamp: now,
                period: tollgate_domain::Period::containing(now).key,
            };
            e.to_message()
        })
        .collect();
    for chunk in messages.chunks(500) {
        tollgate_domain::Queue::send(app.platform.queue.as_ref(), QueueName::Usage, chunk).await.expect("enqueue");
    }
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tollgate_local::workers::spawn_usage_worker(app.state.clone(), app.platform.queue.clone(), stopped);
    while app.platform.queue.depth(QueueName::Usage).await.expect("depth") > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = worker.await;
    rate
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

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let with_dynamodb = args.iter().any(|a| a == "--dynamodb");
    let with_cold_start = args.iter().any(|a| a == "--cold-start");
    let profile = if args.iter().any(|a| a == "--debug-binaries") { "debug" } else { "release" };
    let total = if quick { 400 } else { 4000 };

    let upstream =
        axum::Router::new().route("/{*rest}", axum::routing::get(|| async { axum::Json(json!({"ok": true})) }));
    let upstream_addr = serve(upstream).await;
    let app = TestApp::new().await;
    let key = tenant(&app, &format!("http://{upstream_addr}")).await;
    let gateway_addr = serve(app.router.clone()).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("client");

    println!("## Gateway overhead (local server, SQLite, loopback upstream; {total} requests per row)\n");
    println!("| concurrency | direct p50 ms | direct p99 ms | direct req/s | gateway p50 ms | gateway p99 ms | gateway req/s | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    let direct_url = format!("http://{upstream_addr}/x");
    let gateway_url = format!("http://{gateway_addr}/api/v1/bench/x");
    // Warm both paths (connections, caches).
    load(&client, &direct_url, None, 4, 40).await;
    load(&client, &gateway_url, Some(&key), 4, 40).await;
    let (calls0, reads0, writes0) = app.platform.gateway.stats.snapshot();
    let mut errors = 0;
    for concurrency in [1, 8, 32] {
        let d = load(&client, &direct_url, None, concurrency, total).await;
        let g = load(&client, &gateway_url, Some(&key), concurrency, total).await;
        println!(
            "| {concurrency} | {} | {} | {:.0} | {} | {} | {:.0} | {} |",
            ms(d.p50),
            ms(d.p99),
            d.rps,
            ms(g.p50),
            ms(g.p99),
            g.rps,
            d.errors + g.errors
        );
        errors += d.errors + g.errors;
    }
    if errors > 0 {
        fail(&format!("{errors} calls did not answer 200: the numbers above are not a clean run"));
    }
    let (calls, reads, writes) = app.platform.gateway.stats.snapshot();
    let n = (calls - calls0).max(1) as f64;
    println!("\n## Store round trips per gateway call (SQLite)\n");
    println!("| reads/call | conditional writes/call | calls |");
    println!("|---|---|---|");
    println!("| {:.4} | {:.4} | {} |", (reads - reads0) as f64 / n, (writes - writes0) as f64 / n, calls - calls0);

    let events = if quick { 2000 } else { 20000 };
    let rate = worker_throughput(events).await;
    println!("\n## Usage worker (SQLite queue -> logs + hourly/daily aggregates)\n");
    println!("| events | events/s |");
    println!("|---|---|");
    println!("| {events} | {rate:.0} |");

    let moto = (with_dynamodb || with_cold_start).then(start_moto);
    if let (true, Some(moto)) = (with_dynamodb, &moto) {
        println!("\n## DynamoDB (moto, single-threaded)\n");
        let c = dynamodb_calls_per_request(moto).await;
        println!("DynamoDB SDK calls per warm gateway call: {c:.2} (one conditional UpdateItem on the period counter)");
    }
    if let (true, Some(moto)) = (with_cold_start, &moto) {
        let starts = if quick { 3 } else { 10 };
        println!("\n## Lambda cold start ({profile} binaries, moto on loopback; {starts} starts each)\n");
        match cold_start::measure(moto, profile, starts).await {
            Ok(results) => {
                println!("| function | binary MiB | init median ms | init max ms |");
                println!("|---|---|---|---|");
                for r in results {
                    println!(
                        "| {} | {:.1} | {} | {} |",
                        r.function,
                        r.size_bytes as f64 / (1024.0 * 1024.0),
                        ms(r.median()),
                        ms(r.max())
                    );
                }
            }
            Err(e) => fail(&format!("cold start not measured: {e}")),
        }
    }
    println!(
        "\nmachine: {} cores; {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::env::consts::ARCH
    );
}
