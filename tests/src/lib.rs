//! Test support for the integration suites: opening either storage engine, and running the
//! whole API on a loopback port exactly as `atrack serve` does.
//!
//! DynamoDB means Amazon's DynamoDB Local, which `infra/test.sh` starts and points the SDK at
//! through `AWS_ENDPOINT_URL_DYNAMODB`. A test that needs it and finds no endpoint fails with a
//! message saying so; it never skips.

pub mod driver;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use atrack_shared::App;
use atrack_shared::domain::project::{Project, Scope};
use atrack_shared::domain::time::{SharedClock, SystemClock};
use atrack_shared::enrich::Enricher;
use atrack_shared::enrich::geo::Geo;
use atrack_shared::queue::AnyQueue;
use atrack_shared::queue::embedded::EmbeddedQueue;
use atrack_shared::queue::sqs::SqsQueue;
use atrack_shared::runtime::config::Config;
use atrack_shared::store::AnyTable;
use atrack_shared::store::engine::dynamo::DynamoTable;
use atrack_shared::store::engine::dynamo::capacity::CapacityMeter;
use atrack_shared::store::engine::embedded::EmbeddedTable;
use atrack_shared::streams::poller::{StreamPoller, streams_client};
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// The two storage engines every behaviour is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Embedded,
    Dynamo,
}

/// Generates one `#[tokio::test]` per engine for each named async test body
/// `async fn name(engine: Engine)`, in modules `embedded` and `dynamodb`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Engine::Embedded).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Engine::Dynamo).await
                }
            )*
        }
    };
}

/// A table on one engine, fresh for each test; the temporary directory of the embedded engine
/// lives as long as this value.
pub struct TestTable {
    pub table: AnyTable,
    pub engine: Engine,
    _dir: Option<TempDir>,
    /// On DynamoDB, the stream poller of [`TestTable::settle`], kept so each settle goes on
    /// where the last one stopped, as the `count` function does, instead of reading the shard
    /// again from its checkpoint.
    poller: tokio::sync::OnceCell<StreamPoller>,
}

/// The AWS SDK configuration for the local services, or a loud failure explaining how to get
/// them. Credentials and region are test values; nothing leaves loopback.
pub async fn local_aws(endpoint_var: &str) -> aws_config::SdkConfig {
    let endpoint = std::env::var(endpoint_var).unwrap_or_else(|_| {
        panic!(
            "{endpoint_var} is not set: this test needs the local AWS stand-ins. \
             Run the suite with infra/test.sh, which installs and starts them."
        )
    });
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "{endpoint_var}={endpoint} is not a loopback address; tests only talk to local services"
    );
    // SAFETY of the defaults: infra/services.sh exports test credentials and a region; set them
    // here too so a developer who exported only the endpoint is not sent to a credential chain.
    let credentials =
        aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests");
    let base = atrack_shared::runtime::aws::load_config().await;
    // DynamoDB Local is one JVM on a machine that is also compiling and running every other
    // test: it can take longer than production's 2 s per attempt (a bound that exists to
    // answer 503 inside a Lambda's timeout). A slow answer here is not the failure under test.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .operation_attempt_timeout(std::time::Duration::from_secs(10))
        .operation_timeout(std::time::Duration::from_secs(20))
        .build();
    base.into_builder()
        .timeout_config(timeouts)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .region(aws_config::Region::new("us-east-1"))
        .build()
}

/// A new, empty table on `engine`.
pub async fn open_table(engine: Engine) -> TestTable {
    open_table_via(engine, None).await
}

/// A new, empty table on `engine`; for DynamoDB, reached through `endpoint` (a [`CutProxy`])
/// rather than DynamoDB Local directly when given.
pub async fn open_table_via(engine: Engine, endpoint: Option<&str>) -> TestTable {
    open_table_metered(engine, endpoint, None).await
}

/// As [`open_table_via`]; on DynamoDB, every call's capacity units are added to `meter`.
pub async fn open_table_metered(
    engine: Engine,
    endpoint: Option<&str>,
    meter: Option<Arc<CapacityMeter>>,
) -> TestTable {
    match engine {
        Engine::Embedded => {
            let dir = TempDir::new().expect("temporary directory");
            let table = EmbeddedTable::open(&dir.path().join("atrack.redb")).expect("open redb");
            TestTable {
                table: AnyTable::Embedded(table),
                engine,
                _dir: Some(dir),
                poller: tokio::sync::OnceCell::new(),
            }
        }
        Engine::Dynamo => {
            let aws = local_aws("AWS_ENDPOINT_URL_DYNAMODB").await;
            let mut config = aws_sdk_dynamodb::config::Builder::from(&aws);
            if let Some(endpoint) = endpoint {
                config = config.endpoint_url(endpoint);
            }
            let client = aws_sdk_dynamodb::Client::from_conf(config.build());
            let name = format!("atrack-test-{}", uuid::Uuid::new_v4().simple());
            let mut table = DynamoTable::new(client, name);
            if let Some(meter) = meter {
                table = table.with_meter(meter);
            }
            let created = table
                .create_table()
                .await
                .expect("create DynamoDB Local table");
            assert!(created, "a fresh table name was already taken");
            TestTable {
                table: AnyTable::Dynamo(table),
                engine,
                _dir: None,
                poller: tokio::sync::OnceCell::new(),
            }
        }
    }
}

impl TestTable {
    /// Brings derived state up to date with every write made so far: on DynamoDB, reads the
    /// table's stream (what the `count` function does on AWS: counts, last activity); the
    /// embedded engine keeps both in its own writes already.
    pub async fn settle(&self) {
        if let AnyTable::Dynamo(table) = &self.table {
            let poller = self
                .poller
                .get_or_init(|| async {
                    let aws = local_aws("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").await;
                    StreamPoller::new(table.clone(), streams_client(&aws))
                })
                .await;
            poller.poll_once().await.expect("read the table's stream");
        }
    }
}

/// See [`TestTable::settle`].
pub async fn settle(table: &AnyTable) {
    if let AnyTable::Dynamo(table) = table {
        let aws = local_aws("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").await;
        let poller = StreamPoller::new(table.clone(), streams_client(&aws));
        poller.poll_once().await.expect("count the table's stream");
    }
}

/// Where `infra/fetch-geoip.sh` puts the free GeoIP databases.
pub fn geoip_dir() -> PathBuf {
    std::env::var_os("ATRACK_GEOIP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/geoip"))
}

/// The fetched GeoIP databases, or a loud failure saying how to fetch them.
pub fn geoip() -> Geo {
    let dir = geoip_dir();
    let city = ["city.mmdb", "city-ipv4.mmdb", "city-ipv6.mmdb"]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(",");
    let asn = dir.join("asn.mmdb");
    assert!(
        !city.is_empty() && asn.is_file(),
        "no GeoIP data in {}: run infra/fetch-geoip.sh (infra/test.sh does)",
        dir.display()
    );
    let geo = Geo::open(Some(std::path::Path::new(&city)), Some(&asn));
    assert!(
        geo.has_city() && geo.has_asn(),
        "GeoIP data in {} did not open",
        dir.display()
    );
    geo
}

/// How init enrichment runs in a test server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrichment {
    /// No queue: init always enriches in the request.
    Inline,
    /// The durable embedded queue with its in-process worker, as `atrack serve` runs it.
    EmbeddedWorker,
    /// The embedded queue with no worker, as a process that crashed leaves it: jobs wait until
    /// the test starts a worker (the next process).
    EmbeddedQueueOnly,
    /// Jobs go to this SQS queue (on the moto server); nothing consumes them until the test
    /// feeds them to the enrich handler.
    Sqs(String),
}

/// An SQS client for the local moto server.
pub async fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&local_aws("AWS_ENDPOINT_URL_SQS").await)
}

/// A new, empty queue on the moto server; returns its URL.
pub async fn new_queue(client: &aws_sdk_sqs::Client) -> String {
    let name = format!("atrack-test-{}", uuid::Uuid::new_v4().simple());
    let created = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create a queue on the moto server");
    created.queue_url().expect("queue url").to_owned()
}

/// Receives every message waiting on a queue of the moto server.
pub async fn drain(client: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut messages = Vec::new();
    loop {
        let received = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive from moto");
        let batch = received.messages().to_vec();
        if batch.is_empty() {
            return messages;
        }
        messages.extend(batch);
    }
}

/// The event Lambda hands the enrich function for these messages (and for `extra` records of
/// id and body, to play poison), built as JSON in the wire format of an SQS event source
/// mapping, so the handler is fed what it gets in production.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message], extra: &[(&str, &str)]) -> SqsEvent {
    let record = |id: &str, body: &str, handle: &str| {
        json!({
            "messageId": id,
            "receiptHandle": handle,
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1775958755156",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1775958755160"
            },
            "messageAttributes": {},
            "md5OfBody": "0",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:atrack-enrich",
            "awsRegion": "us-east-1"
        })
    };
    let mut records: Vec<Value> = messages
        .iter()
        .map(|m| {
            record(
                m.message_id().unwrap(),
                m.body().unwrap(),
                m.receipt_handle().unwrap(),
            )
        })
        .collect();
    records.extend(
        extra
            .iter()
            .map(|(id, body)| record(id, body, "poison-handle")),
    );
    serde_json::from_value(json!({"Records": records})).expect("an SQS event")
}

/// How to build a test server.
pub struct ServerOptions {
    pub engine: Engine,
    /// Reach DynamoDB through this endpoint (a [`CutProxy`]) instead of directly.
    pub dynamodb_endpoint: Option<String>,
    pub enrichment: Enrichment,
    pub geo: bool,
    pub clock: SharedClock,
    pub config: Config,
    /// On DynamoDB, add the capacity units of every call to this meter.
    pub meter: Option<Arc<CapacityMeter>>,
    /// Browser origins allowed by CORS, as `atrack serve --cors-origin` takes them (none: no
    /// cross-origin browser access).
    pub cors_origins: Vec<String>,
    /// Project `default` records automatic visit events, as a project created now does. Off
    /// by default: most suites check what their own requests store, event by event.
    pub auto_events: bool,
}

impl ServerOptions {
    pub fn new(engine: Engine) -> Self {
        ServerOptions {
            engine,
            dynamodb_endpoint: None,
            enrichment: Enrichment::Inline,
            geo: false,
            clock: Arc::new(SystemClock),
            config: Config::default(),
            meter: None,
            cors_origins: Vec::new(),
            auto_events: false,
        }
    }
}

pub const PUBLIC_KEY: &str = "pk_test_public_key_for_the_suite";
pub const SECRET_KEY: &str = "sk_test_secret_key_for_the_suite";

/// The whole API on a loopback port, with a known key pair for project `default`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    stop_worker: watch::Sender<bool>,
    _table: TestTable,
}

/// A response: status and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl TestServer {
    pub async fn start(options: ServerOptions) -> TestServer {
        let table = open_table_metered(
            options.engine,
            options.dynamodb_endpoint.as_deref(),
            options.meter.clone(),
        )
        .await;
        let geo = if options.geo {
            geoip()
        } else {
            Geo::disabled()
        };
        let embedded_queue = EmbeddedQueue::new(table.table.clone());
        let queue = match &options.enrichment {
            Enrichment::Inline => None,
            Enrichment::EmbeddedWorker | Enrichment::EmbeddedQueueOnly => {
                Some(AnyQueue::Embedded(embedded_queue.clone()))
            }
            Enrichment::Sqs(url) => Some(AnyQueue::Sqs(SqsQueue::new(sqs_client().await, url))),
        };
        let app = Arc::new(App::new(
            options.config,
            table.table.clone(),
            queue,
            Enricher::new(geo),
            options.clock,
        ));
        let project = Project::parse("default").expect("project name");
        app.store
            .register_key(&project, Scope::Public, PUBLIC_KEY)
            .await
            .expect("register public key");
        app.store
            .register_key(&project, Scope::Secret, SECRET_KEY)
            .await
            .expect("register secret key");
        // Registering the keys gave the project a new project's settings (automatic events
        // on); the suite asked for its own.
        let mut settings = app
            .store
            .project_settings(&project)
            .await
            .expect("settings");
        if settings.auto_events != options.auto_events {
            settings.auto_events = options.auto_events;
            app.store
                .set_project_settings(&project, &settings)
                .await
                .expect("set settings");
        }

        let (stop_worker, stop_rx) = watch::channel(false);
        if options.enrichment == Enrichment::EmbeddedWorker {
            let app = app.clone();
            tokio::spawn(async move {
                atrack_shared::runtime::worker::run_embedded(&app, &embedded_queue, stop_rx).await;
            });
        }

        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let router = atrack_shared::runtime::server::app_router(app.clone(), &options.cors_origins)
            .expect("router (are the CORS origins valid header values?)");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            atrack_shared::runtime::server::run(listener, router, shutdown)
                .await
                .expect("server");
        });
        TestServer {
            addr,
            app,
            http: reqwest::Client::new(),
            stop: Some(stop),
            stop_worker,
            _table: table,
        }
    }

    /// Changes a project's settings in the server's store, as `atrack projects set` does.
    pub async fn update_settings(
        &self,
        project: &str,
        change: impl FnOnce(&mut atrack_shared::domain::settings::ProjectSettings),
    ) {
        let project = Project::parse(project).expect("project name");
        let mut settings = self
            .app
            .store
            .project_settings(&project)
            .await
            .expect("settings");
        change(&mut settings);
        self.app
            .store
            .set_project_settings(&project, &settings)
            .await
            .expect("set settings");
    }

    /// The table the server stores into.
    pub fn table(&self) -> &AnyTable {
        &self._table.table
    }

    /// See [`TestTable::settle`]: call before reading event/show's totals.
    pub async fn settle(&self) {
        self._table.settle().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a JSON body with a key (`None`: no key header).
    pub async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Answer {
        self.post_raw(
            path,
            key,
            serde_json::to_vec(body).expect("json"),
            "application/json",
        )
        .await
    }

    /// POSTs raw bytes with the given content type.
    pub async fn post_raw(
        &self,
        path: &str,
        key: Option<&str>,
        body: Vec<u8>,
        content_type: &str,
    ) -> Answer {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.header("x-a-track-key", key);
        }
        answer(request.send().await.expect("request")).await
    }

    /// POSTs with the public key.
    pub async fn public(&self, path: &str, body: &Value) -> Answer {
        self.post(path, Some(PUBLIC_KEY), body).await
    }

    /// POSTs with the secret key.
    pub async fn secret(&self, path: &str, body: &Value) -> Answer {
        self.post(path, Some(SECRET_KEY), body).await
    }

    /// A request with `Authorization: Bearer <key>` (the analytics API's routes): a GET when
    /// `body` is `None`, else a POST of it as JSON.
    pub async fn bearer(&self, path: &str, key: Option<&str>, body: Option<&Value>) -> Answer {
        let mut request = match body {
            None => self.http.get(self.url(path)),
            Some(body) => self
                .http
                .post(self.url(path))
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).expect("json")),
        };
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        answer(request.send().await.expect("request")).await
    }

    /// session/show's `data`, asserting success.
    pub async fn session(&self, uuid: &str) -> Value {
        let answer = self
            .public("/session/show", &serde_json::json!({"uuid": uuid}))
            .await;
        assert_eq!(answer.status, 200, "session/show failed: {}", answer.body);
        answer.body["data"].clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop_worker.send(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Reads a response as status and JSON, failing the test if the body is not JSON: every answer
/// of the API, errors included, is JSON.
pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("response body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "status {status}: body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    Answer { status, body }
}

/// Asserts an error envelope with the status and code.
pub fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        answer.status, status,
        "unexpected status, body {}",
        answer.body
    );
    assert_eq!(
        answer.body["success"],
        Value::Bool(false),
        "{}",
        answer.body
    );
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
    assert!(
        answer.body["error"]["message"].is_string(),
        "{}",
        answer.body
    );
    assert!(
        answer.body["error"]["details"].is_array(),
        "{}",
        answer.body
    );
}

/// A TCP proxy on loopback in front of a local service, which a test can cut and restore to
/// play an outage: while cut, every connection, open or new, is dropped at once.
pub struct CutProxy {
    pub addr: SocketAddr,
    cut: watch::Sender<bool>,
}

impl CutProxy {
    /// Proxies a fresh loopback port to `target` (`127.0.0.1:PORT`).
    pub async fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (cut, cut_rx) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *cut_rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut cut_rx = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        CutProxy { addr, cut }
    }

    /// The proxy's URL, for an SDK endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every connection from now on, like a backend that went away.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

/// DynamoDB Local's address, from the endpoint `infra/test.sh` exports.
pub fn dynamodb_local_addr() -> SocketAddr {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB is not set: run the suite with infra/test.sh");
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("AWS_ENDPOINT_URL_DYNAMODB is http://127.0.0.1:PORT")
}
