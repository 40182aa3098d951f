//! A moto server on loopback for adapter tests, run single-threaded (see
//! `scripts/moto_single.py` for why) and killed when the guard drops.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// How long moto may take to start accepting connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running moto server; the process is killed on drop.
pub struct MotoServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl MotoServer {
    /// Starts `python3 scripts/moto_single.py <port>` on a free loopback port and waits until
    /// it accepts connections. Panics with an install hint if moto is missing.
    pub fn start() -> Self {
        let port = free_port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/moto_single.py");
        let log = std::env::temp_dir().join(format!("tollgate-moto-{port}.log"));
        // The request log goes to a file: a pipe nobody reads would fill up and block moto.
        let log_file = std::fs::File::create(&log).expect("create moto log file");
        let child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log file handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run python3 {}: {e}; moto needs Python 3 with `pip install 'moto[server]'`",
                    script.display()
                )
            });
        let mut server = MotoServer { child, port, log };
        server.wait_until_ready();
        server
    }

    /// A server shared by the tests that run at the same time: started by the first caller,
    /// killed when the last handle drops (a later caller starts a new one). For tests that
    /// count no requests and work on their own table, such as the contract cases.
    pub fn shared() -> Arc<Self> {
        static SHARED: Mutex<Weak<MotoServer>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = shared.upgrade() {
            return server;
        }
        let server = Arc::new(MotoServer::start());
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
                    "moto exited during startup ({status}). Is moto installed? Run `pip install 'moto[server]'`.\n{log}"
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "moto did not accept connections on {addr} within {STARTUP_TIMEOUT:?}; \
                     check that `python3 -c 'import moto.server'` works (`pip install 'moto[server]'`). Log: {}",
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many AWS API requests (POSTs) moto has served so far, from its request log.
    ///
    /// moto writes a request's log line just after sending the response, so a count read
    /// right after a call can miss it. moto runs single-threaded: once a sentinel GET has
    /// been answered, every earlier request has finished, log line included. The sentinel
    /// itself is a GET, which the count leaves out.
    pub fn request_count(&self) -> usize {
        use std::io::{Read, Write};
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to moto");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
        stream
            .write_all(b"GET /moto-api/data.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .expect("sentinel request");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        // Not `"POST `: werkzeug wraps the request line of 4xx answers (every failed
        // conditional write) in colour codes.
        log.lines().filter(|l| l.contains("POST / HTTP")).count()
    }

    /// The SDK's configuration for this server (region us-east-1, static test credentials),
    /// loaded afresh: clients made from it share nothing with earlier ones but the process's
    /// HTTPS client.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "static"))
            .load()
            .await
    }

    /// A DynamoDB client for this server (region us-east-1, static test credentials).
    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "static"))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// Creates a uniquely named table with the store's schema and returns a store on it.
    pub async fn dynamo_store(&self) -> tollgate_store_dynamodb::DynamoStore {
        let client = self.dynamodb_client();
        let table = format!("tollgate-test-{}", tollgate_domain::id::random_base62(10));
        tollgate_store_dynamodb::create_table(&client, &table).await.expect("create the test table on moto");
        tollgate_store_dynamodb::DynamoStore::new(client, table)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A port that was free a moment ago (bind to port 0, read it, release it).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("bind a loopback port").port()
}
