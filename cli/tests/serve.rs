//! The real `atrack` binary, as a newcomer and an operator run it: `serve` on the embedded
//! store (keys generated once and shown again, data surviving `kill -9`), `keys create`, and
//! `table create` + `serve --store dynamodb` against DynamoDB Local.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ATRACK: &str = env!("CARGO_BIN_EXE_atrack");

/// A running `atrack serve`, killed (SIGKILL) when dropped.
struct Served {
    child: Child,
    base: String,
    public: String,
    secret: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `atrack serve` on a free loopback port and reads the address and keys it prints.
fn serve(args: &[&str], envs: &[(&str, &str)]) -> Served {
    let mut command = Command::new(ATRACK);
    command
        .arg("serve")
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env_remove("ATRACK_PUBLIC_KEY")
        .env_remove("ATRACK_SECRET_KEY")
        // These tests need no GeoIP data; without this, a first start would download it
        // into the working directory (cli/data/geoip).
        .env("ATRACK_NO_GEOIP_FETCH", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn atrack serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut base, mut public, mut secret) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while base.is_none() || public.is_none() || secret.is_none() {
        assert!(Instant::now() < deadline, "atrack serve did not start");
        let line = lines
            .next()
            .expect("atrack serve exited before it was listening")
            .expect("read stdout");
        if let Some(url) = line.strip_prefix("atrack listening on ") {
            base = Some(url.trim().to_owned());
        } else if line.contains("public key") {
            public = line.split_whitespace().last().map(str::to_owned);
        } else if line.contains("secret key") {
            secret = line.split_whitespace().last().map(str::to_owned);
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        base: base.unwrap(),
        public: public.unwrap(),
        secret: secret.unwrap(),
    }
}

async fn post(served: &Served, path: &str, key: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", served.base))
        .header("x-a-track-key", key)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

#[tokio::test]
async fn serve_generates_keys_once_and_keeps_acknowledged_data_through_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let first = serve(&["--data-dir", data_dir], &[]);
    assert!(first.public.starts_with("pk_") && first.secret.starts_with("sk_"));
    let (status, init) = post(&first, "/init", &first.public, json!({"context": {}})).await;
    assert_eq!(status, 200, "{init}");
    let uuid = init["uuid"].as_str().unwrap().to_owned();
    for i in 0..20 {
        let (status, body) = post(
            &first,
            "/event",
            &first.public,
            json!({"uuid": uuid, "event": "tick", "attributes": {"i": i}}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, page) = post(
        &first,
        "/event/show",
        &first.secret,
        json!({"name": "tick", "per_page": 5}),
    )
    .await;
    let cursor = page["meta"]["next_cursor"].as_str().unwrap().to_owned();
    let (public, secret) = (first.public.clone(), first.secret.clone());
    drop(first); // SIGKILL: no graceful shutdown.

    // The second start shows the same keys, and every acknowledged write is there.
    let second = serve(&["--data-dir", data_dir], &[]);
    assert_eq!(
        (second.public.as_str(), second.secret.as_str()),
        (public.as_str(), secret.as_str())
    );
    let (status, shown) = post(&second, "/session/show", &public, json!({"uuid": uuid})).await;
    assert_eq!(status, 200, "{shown}");
    // The twenty ticks and the init's session.start: a project created now records its
    // visits' automatic events.
    assert_eq!(shown["data"]["meta"]["events_count"], 21);
    let (_, listed) = post(&second, "/event/show", &secret, json!({"name": "tick"})).await;
    assert_eq!(listed["meta"]["total"], 20);
    // The cursor secret lives beside the data, so a cursor outlives the process that made it.
    let (status, next) = post(
        &second,
        "/event/show",
        &secret,
        json!({"name": "tick", "per_page": 5, "cursor": cursor}),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["meta"]["current_page"], 2);
    // The queued init was enriched, before the kill or by the worker at restart.
    let mut enriched = false;
    for _ in 0..100 {
        let (_, shown) = post(&second, "/session/show", &public, json!({"uuid": uuid})).await;
        if shown["data"]["session"]["source"] == "direct" {
            enriched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        enriched,
        "the init queued before the kill was never enriched"
    );
}

#[tokio::test]
async fn serve_registers_the_given_keys_and_keys_create_adds_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    // `keys create` while no server holds the store.
    let output = Command::new(ATRACK)
        .args([
            "keys",
            "create",
            "--project",
            "shop",
            "--data-dir",
            data_dir,
        ])
        .output()
        .expect("run atrack keys create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let shop_public = text
        .lines()
        .find(|l| l.starts_with("public key:"))
        .and_then(|l| l.split_whitespace().last())
        .expect("a public key line")
        .to_owned();
    let bad = Command::new(ATRACK)
        .args([
            "keys",
            "create",
            "--project",
            "Not Valid!",
            "--data-dir",
            data_dir,
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let served = serve(
        &["--data-dir", data_dir],
        &[
            ("ATRACK_PUBLIC_KEY", "pk_known_dev"),
            ("ATRACK_SECRET_KEY", "sk_known_dev"),
        ],
    );
    assert_eq!(
        (served.public.as_str(), served.secret.as_str()),
        ("pk_known_dev", "sk_known_dev")
    );
    let uuid = uuid::Uuid::new_v4().to_string();
    let (status, _) = post(
        &served,
        "/event",
        "pk_known_dev",
        json!({"uuid": uuid, "event": "a"}),
    )
    .await;
    assert_eq!(status, 200);
    // The other project's key works, and sees nothing of project `default`.
    let (status, body) = post(
        &served,
        "/session/show",
        &shop_public,
        json!({"uuid": uuid}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn serve_runs_the_api_on_dynamodb_local() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL_DYNAMODB is not set: run the suite with infra/test.sh, which starts DynamoDB Local")
    });
    let table = format!("atrack-cli-{}", uuid::Uuid::new_v4().simple());
    let envs = [
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let created = Command::new(ATRACK)
        .args(["table", "create", "--table", &table])
        .envs(envs)
        .output()
        .expect("run atrack table create");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(String::from_utf8_lossy(&created.stdout).contains("created table"));
    let again = Command::new(ATRACK)
        .args(["table", "create", "--table", &table])
        .envs(envs)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already exists"));

    let dir = tempfile::tempdir().unwrap();
    let served = serve(
        &[
            "--store",
            "dynamodb",
            "--table",
            &table,
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--public-key",
            "pk_ddb",
            "--secret-key",
            "sk_ddb",
            "--count-from-stream",
        ],
        &envs,
    );
    let (status, init) = post(
        &served,
        "/init",
        "pk_ddb",
        json!({"synchronous": true, "context": {"url": {"href": "https://x.test/?utm_source=cli"}}}),
    )
    .await;
    assert_eq!(status, 200, "{init}");
    let uuid = init["uuid"].as_str().unwrap();
    let (status, shown) = post(&served, "/session/show", "pk_ddb", json!({"uuid": uuid})).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["data"]["session"]["source"], "cli");

    // Totals come from the table's stream, counted in the background by this process: they
    // reach the number of events written, and stay there.
    for i in 0..5 {
        let (status, _) = post(
            &served,
            "/event",
            "pk_ddb",
            json!({"uuid": uuid, "event": "tick", "attributes": {"i": i}}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let mut total = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, listed) = post(&served, "/event/show", "sk_ddb", json!({"name": "tick"})).await;
        total = listed["meta"]["total"].clone();
        if total == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(total, 5, "the stream poller never brought the total to 5");
}
