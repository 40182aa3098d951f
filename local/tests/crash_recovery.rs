//! Crash safety of the local server: `kill -9` under load, restart on the same data
//! directory, and every counted call's usage event is there. "Nothing counted is lost": the
//! call log and the aggregates end equal to the period counter, and the counter holds at
//! least every call that was answered 200.

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN_PASSWORD: &str = "admin-pass-123";
const PASSWORD: &str = "correct-horse-42";
/// Calls answered 200 before the kill.
const ANSWERED_BEFORE_KILL: u64 = 200;
const CLIENTS: usize = 16;

/// A data directory removed on drop.
struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `tollgate` binary on `addr` with `data` as its data directory.
struct Server(Child);

impl Server {
    fn start(data: &Path, addr: SocketAddr) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .env("HOST", addr.ip().to_string())
            .env("PORT", addr.port().to_string())
            .env("DATA_DIR", data)
            .env("ADMIN_EMAIL", "ops@example.com")
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            // A short upstream timeout makes the held events of the killed calls due sooner.
            .env("GATEWAY_UPSTREAM_TIMEOUT_MS", "1000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tollgate");
        Server(child)
    }

    /// SIGKILL: no shutdown code runs, in-memory state is gone.
    fn kill_hard(&mut self) {
        self.0.kill().expect("kill -9");
        self.0.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.http.get(format!("{}/health", self.base)).send().await.is_err() {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn json(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    /// (counter, log entries, aggregated calls) of the user's organization this period.
    async fn usage(&self, token: &str) -> (u64, u64, u64) {
        let used = self.json(reqwest::Method::GET, "/api/user/usage/summary", Some(token), None).await["used"]
            .as_u64()
            .expect("used");
        let mut logged = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut path = "/api/user/usage/detailed?limit=1000".to_string();
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.json(reqwest::Method::GET, &path, Some(token), None).await;
            logged += page["data"].as_array().expect("data").len() as u64;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let by_endpoint = self.json(reqwest::Method::GET, "/api/user/usage/by-endpoint", Some(token), None).await;
        let aggregated =
            by_endpoint["data"].as_array().expect("data").iter().map(|e| e["count"].as_u64().unwrap()).sum();
        (used, logged, aggregated)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_crash_under_load_loses_no_counted_call() {
    let data = DataDir(std::env::temp_dir().join(format!("tollgate-crash-{}", std::process::id())));
    let addr = free_addr();
    let mut server = Server::start(&data.0, addr);
    let client = Arc::new(Client {
        http: tollgate_outbound::https::client_builder().build().expect("client"),
        base: format!("http://{addr}"),
    });
    client.wait_healthy().await;

    // A user on Business (3,000 calls a minute) with a key.
    let post = reqwest::Method::POST;
    client
        .json(
            post.clone(),
            "/api/user/auth/register",
            None,
            Some(
                json!({"email": "crash@example.com", "password": PASSWORD, "first_name": "Crash", "last_name": "Test"}),
            ),
        )
        .await;
    let login = json!({"email": "crash@example.com", "password": PASSWORD});
    let token = client.json(post.clone(), "/api/user/auth/login", None, Some(login)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let admin_login = json!({"email": "ops@example.com", "password": ADMIN_PASSWORD});
    let admin = client.json(post.clone(), "/api/admin/auth/login", None, Some(admin_login)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let user_id = client.json(reqwest::Method::GET, "/api/user/account/profile", Some(&token), None).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let subs = client
        .json(reqwest::Method::GET, &format!("/api/admin/subscriptions?user_id={user_id}"), Some(&admin), None)
        .await;
    let sub_id = subs["data"][0]["id"].as_str().expect("the user's subscription").to_string();
    let path = format!("/api/admin/subscriptions/{sub_id}");
    client.json(reqwest::Method::PUT, &path, Some(&admin), Some(json!({"plan_id": "plan_business"}))).await;
    let key = client.json(post, "/api/user/api-keys", Some(&token), Some(json!({"name": "load"}))).await["secret"]
        .as_str()
        .unwrap()
        .to_string();

    // 16 clients call the gateway until the server dies; it is killed once 200 calls have
    // been answered, with calls in flight.
    let answered = Arc::new(AtomicU64::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, key, answered, dead) = (client.clone(), key.clone(), answered.clone(), dead.clone());
            tokio::spawn(async move {
                let url = format!("{}/api/v1/echo/crash", client.base);
                while !dead.load(Ordering::SeqCst) {
                    match client.http.get(&url).header("x-api-key", &key).send().await {
                        Ok(r) if r.status() == reqwest::StatusCode::OK => {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => panic!("unexpected answer {}", r.status()),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < ANSWERED_BEFORE_KILL {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill_hard();
    dead.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("client task");
    }
    let answered = answered.load(Ordering::SeqCst);

    // Restart on the same data directory; the worker drains what the crash left queued
    // (held events of calls cut off mid-flight come due after the upstream timeout + 10 s).
    let _server = Server::start(&data.0, addr);
    client.wait_healthy().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (used, logged, aggregated) = loop {
        let (used, logged, aggregated) = client.usage(&token).await;
        if (logged, aggregated) == (used, used) || Instant::now() > deadline {
            break (used, logged, aggregated);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(used >= answered, "the counter ({used}) holds every answered call ({answered})");
    assert_eq!(logged, used, "log entries = counter after the crash ({answered} answered)");
    assert_eq!(aggregated, used, "aggregated calls = counter after the crash");
}
