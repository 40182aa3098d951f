//! The real `tollgate` binary as a separate process, so its CPU time and resident memory are
//! its own (the load generator runs in the bench process).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tollgate_domain::QueueName;
use tollgate_embedded::SqliteQueue;
use tollgate_tests::app::TempDir;

/// A running `tollgate` on a data directory prepared by the caller.
pub struct Server {
    child: Child,
    pub base: String,
    queue: SqliteQueue,
    /// Kept until the server is gone.
    _data: TempDir,
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

impl Server {
    /// Starts `binary` on `data` (its `tollgate.db` already seeded), logging at `info` as an
    /// operator would run it (the log goes to a file in `data`), and waits for `/health`.
    pub async fn start(binary: &Path, data: TempDir) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let log = std::fs::File::create(data.0.join("server.log")).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .env("PORT", port.to_string())
            .env("DATA_DIR", &data.0)
            .env("ADMIN_EMAIL", "ops@example.com")
            .env("ADMIN_PASSWORD", "admin-pass-123")
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let queue = SqliteQueue::open(&data.0.join(tollgate_local::DB_FILE)).map_err(|e| e.to_string())?;
        let mut server = Server { child, base: format!("http://127.0.0.1:{port}"), queue, _data: data };
        let client = tollgate_outbound::https::client_builder().build().expect("client");
        for _ in 0..200 {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("tollgate exited with {status}"));
            }
            if client.get(format!("{}/health", server.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("tollgate did not answer /health within 10 s".into())
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(PathBuf::from(format!("/proc/{}/{name}", self.child.id()))).unwrap_or_default()
    }

    /// User + system CPU time the server has used so far.
    pub fn cpu(&self) -> Duration {
        let stat = self.proc_file("stat");
        // Fields after the command name (which may hold spaces) start at `state`: utime and
        // stime are the 12th and 13th of them.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
        Duration::from_secs_f64(ticks / clock_ticks())
    }

    /// Resident memory (MiB).
    pub fn rss_mib(&self) -> f64 {
        let status = self.proc_file("status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }

    /// Waits until the usage queue is empty: every counted call logged and aggregated.
    pub async fn drained(&self) {
        loop {
            match self.queue.depth(QueueName::Usage).await {
                Ok(0) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => super::fail(&format!("queue depth: {e}")),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
