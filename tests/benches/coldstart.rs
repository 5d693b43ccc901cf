//! Cold start of each Lambda function, measured: the release binary is started as Lambda would
//! start it, against a Lambda Runtime API played by this program on loopback, and timed from
//! process spawn to its first answered invocation. That span holds everything a cold start
//! runs on our side: process start, the AWS SDK configuration and clients, the GeoIP
//! databases' open, the first `invocation/next`, and the handler with its real DynamoDB Local
//! (and, for init, SQS) calls. Lambda's own sandbox start is not in it.
//!
//! Run with `infra/bench-coldstart.sh`, which builds the functions and starts the services.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atrack_shared::domain::project::{Project, Scope};
use atrack_shared::domain::time::SystemClock;
use atrack_shared::store::repo::Repo;
use atrack_tests::{Engine, geoip_dir, new_queue, open_table, sqs_client};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::mpsc;

const RUNS: usize = 20;
const RUNTIME: &str = "/2018-06-01/runtime";

/// What the fake runtime hands out and what it heard back.
struct Runtime {
    event: Mutex<Option<String>>,
    /// When the function first asked for work: the end of its own initialization.
    first_poll: Mutex<Option<Instant>>,
    answers: mpsc::UnboundedSender<Result<Value, String>>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> axum::response::Response {
    rt.first_poll
        .lock()
        .unwrap()
        .get_or_insert_with(Instant::now);
    let event = rt.event.lock().unwrap().take();
    match event {
        Some(event) => {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", "cold-1".parse().unwrap());
            headers.insert("lambda-runtime-deadline-ms", (deadline as u64).into());
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench"
                    .parse()
                    .unwrap(),
            );
            headers.insert("content-type", "application/json".parse().unwrap());
            (headers, event).into_response()
        }
        // One invocation per process: the next poll waits until the process is killed.
        None => std::future::pending().await,
    }
}

async fn response(State(rt): State<Arc<Runtime>>, body: String) -> &'static str {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = rt.answers.send(Ok(value));
    "{}"
}

async fn error(
    State(rt): State<Arc<Runtime>>,
    path: Option<Path<String>>,
    body: String,
) -> &'static str {
    let what = path.map_or("init".to_owned(), |Path(id)| format!("invocation {id}"));
    let _ = rt.answers.send(Err(format!("{what} error: {body}")));
    "{}"
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("release")
}

fn sample(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether a function answered as it should: a 2xx for HTTP functions; for the batch
/// consumers, a batch response failing exactly the records the sample makes fail (the enrich
/// sample holds one poison record on purpose).
fn succeeded(binary: &str, answer: &Value) -> bool {
    if binary == "sweep" {
        // The sweep function answers what it did.
        return answer["ended"].is_u64();
    }
    match answer.get("statusCode").and_then(Value::as_u64) {
        Some(status) => (200..300).contains(&status),
        None => {
            let expected = usize::from(binary == "enrich");
            answer["batchItemFailures"]
                .as_array()
                .is_some_and(|f| f.len() == expected)
        }
    }
}

#[tokio::main]
async fn main() {
    let table = open_table(Engine::Dynamo).await;
    let store = Repo::new(table.table.clone(), Arc::new(SystemClock));
    let project = Project::parse("default").unwrap();
    store
        .register_key(&project, Scope::Public, "pk_sample_public_key")
        .await
        .unwrap();
    store
        .register_key(&project, Scope::Secret, "sk_sample_secret_key")
        .await
        .unwrap();
    let atrack_shared::store::AnyTable::Dynamo(dynamo) = &table.table else {
        unreachable!("asked for DynamoDB")
    };
    let table_name = dynamo.name().to_owned();
    let queue_url = new_queue(&sqs_client().await).await;

    let (answers, mut heard) = mpsc::unbounded_channel();
    let runtime = Arc::new(Runtime {
        event: Mutex::new(None),
        first_poll: Mutex::new(None),
        answers,
    });
    let app = Router::new()
        .route(&format!("{RUNTIME}/invocation/next"), get(next))
        .route(
            &format!("{RUNTIME}/invocation/{{id}}/response"),
            post(response),
        )
        .route(&format!("{RUNTIME}/invocation/{{id}}/error"), post(error))
        .route(&format!("{RUNTIME}/init/error"), post(error))
        .with_state(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let functions = [
        ("init", "init.json"),
        ("attributes", "attributes.json"),
        ("event", "event.json"),
        ("session-show", "session-show.json"),
        ("event-show", "event-show.json"),
        ("enrich", "enrich-sqs-batch.json"),
        ("count", "count-stream-batch.json"),
        ("sweep", "sweep-schedule.json"),
    ];
    let geo = geoip_dir();
    let city = format!(
        "{},{}",
        geo.join("city-ipv4.mmdb").display(),
        geo.join("city-ipv6.mmdb").display()
    );
    let mut results = BTreeMap::new();
    for (binary, event) in functions {
        let path = target_dir().join(binary);
        assert!(
            path.exists(),
            "{} is missing: build the functions first (infra/bench-coldstart.sh does)",
            path.display()
        );
        let mut times = Vec::with_capacity(RUNS);
        let mut logged = Vec::with_capacity(RUNS);
        let mut inits = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            *runtime.event.lock().unwrap() = Some(sample(event));
            *runtime.first_poll.lock().unwrap() = None;
            let started = Instant::now();
            let mut child = std::process::Command::new(&path)
                .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
                .env("AWS_LAMBDA_FUNCTION_NAME", format!("atrack-{binary}"))
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .env(
                    "AWS_LAMBDA_LOG_GROUP_NAME",
                    format!("/aws/lambda/atrack-{binary}"),
                )
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
                .env("TABLE_NAME", &table_name)
                .env("QUEUE_URL", &queue_url)
                .env("GEOIP_CITY_DB", &city)
                .env("GEOIP_ASN_DB", geo.join("asn.mmdb"))
                // As template.yaml configures the functions.
                .env("RUST_LOG", "info")
                .env("LOG_FORMAT", "json")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
            let answer = tokio::time::timeout(Duration::from_secs(30), heard.recv())
                .await
                .unwrap_or_else(|_| panic!("{binary} did not answer within 30 s"))
                .expect("runtime channel");
            let elapsed = started.elapsed();
            let ready = runtime
                .first_poll
                .lock()
                .unwrap()
                .expect("polled before answering");
            inits.push(ready - started);
            child.kill().ok();
            let output = child
                .wait_with_output()
                .expect("collect the function's output");
            logged.push(output.stdout.len() + output.stderr.len());
            let answer = answer.unwrap_or_else(|e| panic!("{binary}: {e}"));
            assert!(succeeded(binary, &answer), "{binary} answered {answer}");
            times.push(elapsed);
        }
        times.sort();
        logged.sort();
        inits.sort();
        results.insert(binary, (times, inits[RUNS / 2], logged[RUNS / 2]));
    }

    println!(
        "| function | runs | init done, median ms | first answer: min ms | median ms | p90 ms | max ms | log bytes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let ms = |d: &Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    for (binary, _) in functions {
        let (t, init, log_bytes) = &results[binary];
        println!(
            "| {binary} | {} | {} | {} | {} | {} | {} | {log_bytes} |",
            t.len(),
            ms(init),
            ms(&t[0]),
            ms(&t[t.len() / 2]),
            ms(&t[t.len() * 9 / 10]),
            ms(&t[t.len() - 1]),
        );
    }
}
