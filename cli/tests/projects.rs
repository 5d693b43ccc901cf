//! `atrack projects set|show` with the real binary, on the embedded store and on DynamoDB
//! Local: the tracking plan is set, kept across calls that change other settings, shown with
//! the count of dropped events, and applied by `atrack serve`; bad input (an unknown naming, a
//! malformed list, an entry no name could match) exits with code 2, says why, and changes
//! nothing. The visit settings (automatic events, session timeout) likewise, and `atrack
//! serve` starts visits at init and its sweeper ends them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ATRACK: &str = env!("CARGO_BIN_EXE_atrack");

/// Where a command's store is: the embedded one in a directory, or a DynamoDB Local table
/// (with a directory of its own for what `serve` writes beside the data, its cursor secret).
enum Store {
    Embedded(tempfile::TempDir),
    Dynamo {
        table: String,
        endpoint: String,
        dir: tempfile::TempDir,
    },
}

impl Store {
    fn embedded() -> Store {
        Store::Embedded(tempfile::tempdir().unwrap())
    }

    /// A new table on DynamoDB Local, made with `atrack table create`.
    fn dynamo() -> Store {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
            panic!("AWS_ENDPOINT_URL_DYNAMODB is not set: run the suite with infra/test.sh, which starts DynamoDB Local")
        });
        let store = Store::Dynamo {
            table: format!("atrack-cli-{}", uuid::Uuid::new_v4().simple()),
            endpoint,
            dir: tempfile::tempdir().unwrap(),
        };
        let created = store.run(&["table", "create"]);
        assert!(created.status.success(), "{}", text(&created));
        store
    }

    fn args(&self) -> Vec<String> {
        match self {
            Store::Embedded(dir) => {
                vec!["--data-dir".into(), dir.path().to_str().unwrap().to_owned()]
            }
            Store::Dynamo { table, dir, .. } => vec![
                "--store".into(),
                "dynamodb".into(),
                "--table".into(),
                table.clone(),
                "--data-dir".into(),
                dir.path().to_str().unwrap().to_owned(),
            ],
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ATRACK);
        command
            .args(args)
            .args(self.args())
            .env_remove("ATRACK_PUBLIC_KEY")
            .env_remove("ATRACK_SECRET_KEY")
            .env_remove("ATRACK_STORE")
            .env_remove("TABLE_NAME")
            .env("RUST_LOG", "warn");
        if let Store::Dynamo { endpoint, .. } = self {
            command
                .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
                .env("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", endpoint)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_REGION", "us-east-1");
        }
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run atrack")
    }

    /// `projects show NAME`, asserting success: its lines as `field: value` pairs.
    fn show(&self, project: &str) -> Vec<(String, String)> {
        let shown = self.run(&["projects", "show", project]);
        assert!(shown.status.success(), "{}", text(&shown));
        fields(&shown)
    }

    /// `projects set NAME ARGS…`, asserting success: what it printed, as pairs.
    fn set(&self, project: &str, args: &[&str]) -> Vec<(String, String)> {
        let mut all = vec!["projects", "set", project];
        all.extend_from_slice(args);
        let set = self.run(&all);
        assert!(set.status.success(), "{args:?}: {}", text(&set));
        fields(&set)
    }

    /// `atrack serve` on this store with a known key pair, settings cached for a second.
    fn serve(&self) -> Served {
        self.serve_with(&[])
    }

    /// [`Store::serve`] with more options.
    fn serve_with(&self, extra: &[&str]) -> Served {
        let mut all = vec!["serve", "--addr", "127.0.0.1:0"];
        all.extend_from_slice(extra);
        let mut command = self.command(&all);
        command
            .args(["--public-key", PUBLIC, "--secret-key", SECRET])
            .env("ATRACK_NO_GEOIP_FETCH", "1")
            .env("ATRACK_KEY_CACHE_TTL_SECS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("spawn atrack serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            assert!(Instant::now() < deadline, "atrack serve did not start");
            let line = lines
                .next()
                .expect("atrack serve exited before it was listening")
                .expect("read stdout");
            if let Some(url) = line.strip_prefix("atrack listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Served { child, base }
    }
}

const PUBLIC: &str = "pk_cli_projects_public";
const SECRET: &str = "sk_cli_projects_secret";

/// A running `atrack serve`, killed when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// POSTs with the public key, asserting 200.
    async fn public(&self, path: &str, body: &Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header("x-a-track-key", PUBLIC)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json body");
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn event(&self, name: &str) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/event", self.base))
            .header("x-a-track-key", PUBLIC)
            .json(&json!({"uuid": "9e108d31-bfc1-488b-99b3-435ab1f4fa8a", "event": name}))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json body");
        assert_eq!(status, 200, "{name}: {body}");
        body
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn fields(output: &Output) -> Vec<(String, String)> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
}

/// The plan part of what `projects show|set` print.
fn plan_of(fields: &[(String, String)]) -> [&str; 3] {
    [
        field(fields, "naming"),
        field(fields, "allow"),
        field(fields, "deny"),
    ]
}

/// Setting, keeping and clearing a plan, and every kind of bad input, on one store.
fn plans_are_set_kept_and_refused_when_malformed(store: &Store) {
    // Never set: free naming, every name allowed, nothing denied, nothing dropped.
    let fresh = store.show("shop");
    assert_eq!(plan_of(&fresh), ["free", "(every name)", "(none)"]);
    assert_eq!(field(&fresh, "dropped_events"), "0");

    let set = store.set(
        "shop",
        &[
            "--naming",
            "activity",
            "--allow",
            "product.*, page.visit",
            "--deny",
            "debug.*",
        ],
    );
    let expected = ["activity", "page.visit,product.*", "debug.*"];
    assert_eq!(plan_of(&set), expected);
    assert_eq!(plan_of(&store.show("shop")), expected);
    // Another project is untouched.
    assert_eq!(
        plan_of(&store.show("blog")),
        ["free", "(every name)", "(none)"]
    );

    // Changing another setting keeps the plan.
    let set = store.set("shop", &["--anonymize-ip", "true"]);
    assert_eq!(field(&set, "anonymize_ip"), "true");
    assert_eq!(plan_of(&set), expected);

    // Bad input: exit code 2, a message saying what is wrong, nothing changed.
    for (args, says) in [
        (
            vec!["--naming", "strict"],
            "possible values: free, activity",
        ),
        (vec!["--allow", "a*b"], "'*' may only end an entry"),
        (vec!["--deny", "debug.*,,x.y"], "entry 2 is empty"),
        (vec!["--deny", "x.y,"], "entry 2 is empty"),
        (vec!["--allow", "bad\u{1}name"], "control character"),
        // Under the activity naming in effect, an entry no name can match.
        (vec!["--allow", "Checkout Started"], "can never match"),
        (vec!["--deny", ".hidden*"], "can never match"),
        // The naming this call sets, checked against the lists it keeps.
        (
            vec!["--naming", "activity", "--allow", "checkout"],
            "can never match",
        ),
    ] {
        let mut all = vec!["projects", "set", "shop"];
        all.extend_from_slice(&args);
        let refused = store.run(&all);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&refused)
        );
        assert!(
            text(&refused).contains(says),
            "{args:?} should say {says:?}: {}",
            text(&refused)
        );
        assert_eq!(plan_of(&store.show("shop")), expected, "{args:?}");
    }

    // Lists that are fine under free naming; then `--naming activity` alone is refused,
    // because the kept allow list could never match.
    let set = store.set(
        "shop",
        &["--naming", "free", "--allow", "Checkout Started,page.*"],
    );
    assert_eq!(
        plan_of(&set),
        ["free", "Checkout Started,page.*", "debug.*"]
    );
    let refused = store.run(&["projects", "set", "shop", "--naming", "activity"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("'Checkout Started'"),
        "{}",
        text(&refused)
    );

    // '' empties a list.
    let cleared = store.set("shop", &["--allow", "", "--deny", ""]);
    assert_eq!(plan_of(&cleared), ["free", "(every name)", "(none)"]);
}

/// The dropped count `projects show` prints.
fn dropped_shown(store: &Store, project: &str) -> u64 {
    field(&store.show(project), "dropped_events")
        .parse()
        .expect("a number")
}

#[test]
fn projects_set_and_show_a_tracking_plan_on_the_embedded_store() {
    plans_are_set_kept_and_refused_when_malformed(&Store::embedded());
}

#[test]
fn projects_set_and_show_a_tracking_plan_on_dynamodb_local() {
    plans_are_set_kept_and_refused_when_malformed(&Store::dynamo());
}

#[tokio::test]
async fn serve_applies_the_plan_and_projects_show_counts_its_drops_on_the_embedded_store() {
    let store = Store::embedded();
    // redb lets one process open the store: the plan is set with the server stopped.
    store.set("default", &["--naming", "activity", "--deny", "debug.*"]);
    {
        let served = store.serve();
        assert_eq!(served.event("debug.trace").await["dropped"], true);
        assert_eq!(served.event("debug.more").await["dropped"], true);
        assert!(served.event("product.buy").await.get("dropped").is_none());
    }
    assert_eq!(dropped_shown(&store, "default"), 2);
}

#[tokio::test]
async fn a_plan_set_on_dynamodb_reaches_a_running_server_and_its_drops_are_shown() {
    let store = Store::dynamo();
    let served = store.serve();
    assert!(served.event("debug.trace").await.get("dropped").is_none());

    store.set("default", &["--deny", "debug.*"]);
    // The server's settings cache lives a second here (ATRACK_KEY_CACHE_TTL_SECS).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut drops = 0;
    while drops == 0 {
        assert!(
            Instant::now() < deadline,
            "the plan never reached the server"
        );
        if served.event("debug.trace").await["dropped"] == true {
            drops += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(served.event("debug.again").await["dropped"], true);
    assert_eq!(dropped_shown(&store, "default"), drops + 1);
}

/// The visit settings: shown, set, kept, and refused out of range with exit code 2.
fn visit_settings_are_set_and_refused_out_of_range(store: &Store) {
    // A project that never set anything keeps the behaviour it had: no automatic events.
    let fresh = store.show("shop");
    assert_eq!(field(&fresh, "auto_events"), "false");
    assert_eq!(field(&fresh, "session_timeout"), "1800s");
    for (args, says) in [
        (vec!["--session-timeout", "59"], "--allow-short-timeout"),
        (vec!["--session-timeout", "0"], "60 to 604800 seconds"),
        (vec!["--session-timeout", "604801"], "60 to 604800 seconds"),
        (
            vec!["--session-timeout", "604801", "--allow-short-timeout"],
            "1 to 604800 seconds",
        ),
        (vec!["--session-timeout", "soon"], "invalid value"),
        (vec!["--auto-events", "maybe"], "invalid value"),
    ] {
        let mut all = vec!["projects", "set", "shop"];
        all.extend_from_slice(&args);
        let refused = store.run(&all);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&refused)
        );
        assert!(
            text(&refused).contains(says),
            "{args:?} should say {says:?}: {}",
            text(&refused)
        );
        let kept = store.show("shop");
        assert_eq!(field(&kept, "session_timeout"), "1800s", "{args:?}");
    }
    let set = store.set(
        "shop",
        &["--auto-events", "true", "--session-timeout", "600"],
    );
    assert_eq!(field(&set, "auto_events"), "true");
    assert_eq!(field(&set, "session_timeout"), "600s");
    // Kept by a call that changes something else.
    let kept = store.set("shop", &["--naming", "activity"]);
    assert_eq!(field(&kept, "auto_events"), "true");
    assert_eq!(field(&kept, "session_timeout"), "600s");
    let short = store.set("shop", &["--session-timeout", "5", "--allow-short-timeout"]);
    assert_eq!(field(&short, "session_timeout"), "5s");
}

#[test]
fn visit_settings_on_the_embedded_store() {
    visit_settings_are_set_and_refused_out_of_range(&Store::embedded());
}

#[test]
fn visit_settings_on_dynamodb_local() {
    visit_settings_are_set_and_refused_out_of_range(&Store::dynamo());
}

/// `atrack serve` records a new UUID's start and page visit at its init, and its sweeper
/// (`--sweep-interval`) ends the visit once it has been idle past the project's timeout.
async fn serve_starts_and_ends_visits(store: &Store, wait: Duration) {
    store.set(
        "default",
        &[
            "--auto-events",
            "true",
            "--session-timeout",
            "1",
            "--allow-short-timeout",
        ],
    );
    let served = store.serve_with(&["--sweep-interval", "1"]);
    let uuid = uuid::Uuid::new_v4().to_string();
    served
        .public(
            "/init",
            &json!({"uuid": uuid, "synchronous": true,
                    "context": {"url": {"href": "https://shop.test/", "path": "/"}}}),
        )
        .await;
    let names = |data: &Value| -> Vec<String> {
        let mut names: Vec<String> = data["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let data = served.public("/session/show", &json!({"uuid": uuid})).await;
    assert_eq!(names(&data), ["page.visit", "session.start"], "{data}");
    let deadline = Instant::now() + wait;
    loop {
        let data = served.public("/session/show", &json!({"uuid": uuid})).await;
        if names(&data).contains(&"session.end".to_owned()) {
            assert_eq!(
                names(&data),
                ["page.visit", "session.end", "session.start"],
                "{data}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no session.end: {data}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn serve_starts_and_ends_visits_on_the_embedded_store() {
    let store = Store::embedded();
    serve_starts_and_ends_visits(&store, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn serve_starts_and_ends_visits_on_dynamodb_local() {
    // The sweeper waits ten seconds past a deadline there, for the stream's consumer.
    let store = Store::dynamo();
    serve_starts_and_ends_visits(&store, Duration::from_secs(25)).await;
}
