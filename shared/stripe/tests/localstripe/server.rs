//! A localstripe server on loopback for the adapter's tests, killed when the guard drops
//! (the style of the workspace's moto harness, `tests/src/moto.rs`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// How long localstripe may take to start accepting connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running localstripe; the process is killed on drop.
pub struct LocalStripe {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl LocalStripe {
    /// Starts `scripts/localstripe_loopback.py <port>` on a free loopback port with the repo's
    /// `.venv` Python (where `scripts/setup-test-tools.sh` installs localstripe), else the
    /// `python3` on PATH, and waits until it accepts connections. Panics with an install hint
    /// if localstripe is missing.
    pub fn start() -> Self {
        let port = free_port();
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let script = repo.join("scripts/localstripe_loopback.py");
        let venv_python = repo.join(".venv/bin/python3");
        let python = if venv_python.exists() { venv_python } else { PathBuf::from("python3") };
        let log = std::env::temp_dir().join(format!("tollgate-localstripe-{port}.log"));
        // The server's output goes to a file: a pipe nobody reads would fill up and block it.
        let log_file = std::fs::File::create(&log).expect("create localstripe log file");
        let child = Command::new(&python)
            .arg(&script)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log file handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} {}: {e}; localstripe needs Python 3 (`bash scripts/setup-test-tools.sh`)",
                    python.display(),
                    script.display()
                )
            });
        let mut server = LocalStripe { child, port, log };
        server.wait_until_ready();
        server
    }

    /// A server shared by the tests that run at the same time: started by the first caller,
    /// killed when the last handle drops. The tests work on customers of their own.
    pub fn shared() -> Arc<Self> {
        static SHARED: Mutex<Weak<LocalStripe>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = shared.upgrade() {
            return server;
        }
        let server = Arc::new(LocalStripe::start());
        *shared = Arc::downgrade(&server);
        server
    }

    fn wait_until_ready(&mut self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!(
                    "localstripe exited during startup ({status}). Is it installed? Run `bash scripts/setup-test-tools.sh`.\n{log}"
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "localstripe did not accept connections on {addr} within {STARTUP_TIMEOUT:?}. Log: {}",
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:<port>`: the adapter's `api_base`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A port that was free a moment ago (bind to port 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("bind a loopback port").port()
}
