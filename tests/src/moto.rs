//! A moto server on loopback for adapter tests, run single-threaded (see
//! `scripts/moto_single.py` for why) and killed when the guard drops.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The region and the (dummy) access key the tests use against moto.
const REGION: &str = "us-east-1";
const ACCESS_KEY: &str = "test";

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

    /// The AWS configuration for this server (region us-east-1, static test credentials),
    /// for any SDK client.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                ACCESS_KEY, ACCESS_KEY, None, None, "static",
            )))
            .build()
    }

    /// A DynamoDB client for this server.
    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config())
    }

    /// The environment template.yaml gives a deployed function, with what it names created
    /// on this server (a fresh table, the app secret holding a JWT signing key, the usage
    /// and notifications queues), and the AWS variables that point the SDK here.
    pub async fn deployed_environment(&self) -> Vec<(&'static str, String)> {
        let aws = self.sdk_config();
        let store = self.dynamo_store().await;
        let secret = aws_sdk_secretsmanager::Client::new(&aws)
            .create_secret()
            .name(format!("tollgate-{}", tollgate_domain::id::random_base62(8)))
            .secret_string(format!(r#"{{"jwt_signing_key":"{}"}}"#, tollgate_domain::id::random_base62(48)))
            .send()
            .await
            .expect("create the app secret on moto");
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let mut env = vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", ACCESS_KEY.to_string()),
            ("TABLE_NAME", store.table().to_string()),
            ("SECRET_ARN", secret.arn().expect("secret arn").to_string()),
            ("MAIL_FROM", "noreply@example.com".to_string()),
            ("PUBLIC_BASE_URL", "https://app.example.com".to_string()),
        ];
        for (name, var) in [("usage", "USAGE_QUEUE_URL"), ("notifications", "NOTIFICATIONS_QUEUE_URL")] {
            let queue = sqs.create_queue().queue_name(name).send().await.expect("create a queue on moto");
            env.push((var, queue.queue_url().expect("queue url").to_string()));
        }
        env
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
