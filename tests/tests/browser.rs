//! A real browser against the API, on both engines: headless Chromium opens a page served from
//! another origin (a second loopback port), which calls the API with `fetch` (a CORS
//! preflighted request, key in the header) and `navigator.sendBeacon` (no headers: the public
//! key in the body's `key`). The test then reads what was stored back through the API.
//!
//! Chromium is Debian's (`/usr/bin/chromium`, or `ATRACK_CHROMIUM`); `infra/test.sh` installs it
//! through `infra/install-chromium.sh`. A missing or crashing browser fails the test with its
//! stderr; it never skips.
//!
//! How the browser is driven: it is started headless on the page's URL, with no DevTools
//! protocol and no extra crate. The page does its work and POSTs what it saw (statuses,
//! answers, any JS error) back to its own origin at `/result`; the test waits for that with a
//! bounded wait, watching that Chromium is still alive. Beacons leave the page asynchronously,
//! so the test then polls session/show for them, also bounded. Chromium stays up until then
//! (a beacon still queued when the browser exits may be dropped) and is killed, with its whole
//! process group, when the guard drops, however the test ends.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atrack_tests::{Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer, on_both_engines};
use axum::Router;
use axum::response::Html;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

on_both_engines!(a_page_on_another_origin_tracks_through_fetch_and_sendbeacon);

/// The page Chromium opens; it takes the API's address and the keys from its query string.
const PAGE: &str = include_str!("browser/page.html");

/// How long Chromium gets to start, load the page and report. Generous: two cores are shared
/// with the rest of the suite, and a cold Chromium start alone can take seconds there.
const PAGE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a queued beacon gets to reach the server.
const BEACON_TIMEOUT: Duration = Duration::from_secs(10);
/// After the public-key beacon is stored, how much longer the secret-key one (sent before it)
/// gets to be wrongly stored before we check that it was not.
const SECRET_BEACON_GRACE: Duration = Duration::from_secs(1);

async fn a_page_on_another_origin_tracks_through_fetch_and_sendbeacon(engine: Engine) {
    // The page's origin: its own loopback port, bound first so the API can allow it by name.
    let page_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the page server");
    let page_origin = format!(
        "http://{}",
        page_listener.local_addr().expect("page server addr")
    );

    let mut options = ServerOptions::new(engine);
    options.cors_origins = vec![page_origin.clone()];
    let server = TestServer::start(options).await;
    let api = format!("http://{}", server.addr);
    assert_ne!(api, page_origin, "the page must be on another origin");

    let (mut results, _page_server) = serve_page(page_listener);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let url = format!(
        "{page_origin}/?api={api}&pk={PUBLIC_KEY}&sk={SECRET_KEY}&run={run}",
        api = encode(&api)
    );

    let started = Instant::now();
    let mut chromium = Chromium::launch(&url);
    let result = chromium.wait_for_report(&mut results).await;
    let reported_after = started.elapsed();
    let failed = |what: &str| -> String {
        format!(
            "{what}\npage result: {}\nChromium stderr (last lines):\n{}",
            serde_json::to_string_pretty(&result).unwrap_or_default(),
            chromium.stderr_tail()
        )
    };

    // What the page saw.
    assert!(result["error"].is_null(), "{}", failed("the page threw"));
    assert_eq!(
        result["run"],
        json!(run),
        "{}",
        failed("another run's page")
    );
    let steps = &result["steps"];
    let init = &steps["init"];
    assert_eq!(init["status"], 200, "{}", failed("init via fetch failed"));
    assert_eq!(
        init["body"]["queued"],
        false,
        "{}",
        failed("init not synchronous")
    );
    let uuid = result["uuid"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", failed("no uuid from init")))
        .to_owned();
    assert_eq!(
        steps["fetch_event"]["status"],
        200,
        "{}",
        failed("the preflighted fetch of /event failed")
    );
    assert_eq!(
        steps["unlisted_header"]["blocked"],
        true,
        "{}",
        failed("a header the server does not allow went through: is CORS enforced?")
    );
    let secret = &steps["secret_key_in_body"];
    assert!(
        matches!(secret["status"].as_u64(), Some(401 | 403)),
        "{}",
        failed("a secret key in the body was not refused")
    );
    for queued in ["beacon_queued", "beacon_secret_queued"] {
        assert_eq!(
            steps[queued],
            true,
            "{}",
            failed("sendBeacon did not queue")
        );
    }

    // What the API stored, read back through the API. The beacon may still be on its way.
    wait_for_event(&server, &uuid, "beacon_sent")
        .await
        .unwrap_or_else(|last| {
            panic!(
                "{}",
                failed(&format!(
                    "the beacon with the public key in its body was not stored within \
                     {BEACON_TIMEOUT:?}; session/show: {last}"
                ))
            )
        });
    let beacon_stored_after = started.elapsed();
    tokio::time::sleep(SECRET_BEACON_GRACE).await;
    let session = server.session(&uuid).await;

    assert_eq!(
        session["session"]["query_params"]["run"],
        json!(run),
        "init's landing URL: {session}"
    );
    let events = session["events"].as_array().expect("session/show events");
    let by_name = |name: &str| {
        events
            .iter()
            .filter(|e| e["name"] == name)
            .collect::<Vec<_>>()
    };
    let fetched = by_name("fetch_sent");
    assert_eq!(fetched.len(), 1, "fetch_sent once: {session}");
    assert_eq!(
        fetched[0]["attributes"],
        json!({"via": "fetch", "run": run, "cart_value": 129.99, "items": ["a", "b"]}),
        "{session}"
    );
    let beacons = by_name("beacon_sent");
    assert_eq!(beacons.len(), 1, "beacon_sent once: {session}");
    assert_eq!(
        beacons[0]["attributes"],
        json!({"via": "beacon", "run": run, "scroll_depth": 0.75, "consent": true}),
        "{session}"
    );
    for refused in ["beacon_secret_key", "fetch_secret_key", "unlisted_header"] {
        assert!(
            by_name(refused).is_empty(),
            "{refused} must not be stored: {session}"
        );
    }
    assert_eq!(
        session["meta"]["events_count"], 2,
        "only the two accepted events: {session}"
    );
    // Refused as a secret key out of its header (not merely as a missing header).
    assert_eq!(
        (&secret["status"], &secret["body"]["error"]["code"]),
        (&json!(403), &json!("forbidden")),
        "{}",
        failed("a secret key in the body was not refused as forbidden")
    );

    // event/show with the secret key: each accepted event under its name, with what the
    // browser sent; nothing under the refused names.
    server.settle().await;
    for (name, via) in [("fetch_sent", "fetch"), ("beacon_sent", "beacon")] {
        let rows = event_rows(&server, name).await;
        assert_eq!(rows.len(), 1, "event/show {name}: {rows:?}");
        let row = &rows[0];
        assert_eq!(row["uuid"], json!(uuid), "{row}");
        assert_eq!(row["attributes"]["via"], via, "{row}");
        assert_eq!(row["attributes"]["run"], json!(run), "{row}");
        // Stamped from the request's own User-Agent: it really came from Chromium.
        let agent = row["user_agent"].as_str().unwrap_or_default();
        assert!(
            agent.contains("Chrome/"),
            "{name} user_agent {agent:?}: {row}"
        );
    }
    for refused in ["beacon_secret_key", "fetch_secret_key"] {
        let rows = event_rows(&server, refused).await;
        assert!(rows.is_empty(), "event/show {refused}: {rows:?}");
    }

    eprintln!(
        "browser test on {engine:?}: page reported after {:.1}s, beacon stored after {:.1}s",
        reported_after.as_secs_f64(),
        beacon_stored_after.as_secs_f64()
    );
}

/// Polls session/show until it lists an event named `name`, for at most [`BEACON_TIMEOUT`];
/// on timeout, the last answer.
async fn wait_for_event(server: &TestServer, uuid: &str, name: &str) -> Result<(), Value> {
    let deadline = Instant::now() + BEACON_TIMEOUT;
    loop {
        let answer = server.public("/session/show", &json!({"uuid": uuid})).await;
        let found = answer.status == 200
            && answer.body["data"]["events"]
                .as_array()
                .is_some_and(|events| events.iter().any(|e| e["name"] == name));
        if found {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(answer.body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// event/show's rows for `name`, with the secret key.
async fn event_rows(server: &TestServer, name: &str) -> Vec<Value> {
    let answer = server
        .secret("/event/show", &json!({"name": name, "per_page": 100}))
        .await;
    assert_eq!(answer.status, 200, "event/show {name}: {}", answer.body);
    answer.body["data"]
        .as_array()
        .expect("event/show data")
        .clone()
}

/// Percent-encodes a query parameter value (the API's URL has ':' and '/').
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Stops the page server when dropped.
struct PageServer(tokio::task::JoinHandle<()>);

impl Drop for PageServer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves the page at `/` and takes its report at `/result`; reports arrive on the receiver.
fn serve_page(listener: TcpListener) -> (mpsc::Receiver<String>, PageServer) {
    let (sender, receiver) = mpsc::channel::<String>(4);
    let router = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/result",
            post(move |body: String| {
                let sender = sender.clone();
                async move {
                    let _ = sender.send(body).await;
                    "ok"
                }
            }),
        );
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("page server");
    });
    (receiver, PageServer(task))
}

/// Headless Chromium on one URL, killed with its whole process group when dropped.
struct Chromium {
    child: Child,
    stderr: PathBuf,
    // Dropped after the process is gone (fields drop after `Drop::drop`).
    _profile: TempDir,
}

impl Chromium {
    fn binary() -> PathBuf {
        std::env::var_os("ATRACK_CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
    }

    fn launch(url: &str) -> Chromium {
        let binary = Self::binary();
        assert!(
            binary.is_file(),
            "{} not found: the browser test needs Debian's Chromium. Run \
             infra/install-chromium.sh (infra/test.sh does), or set ATRACK_CHROMIUM.",
            binary.display()
        );
        let profile = TempDir::new().expect("Chromium profile directory");
        let stderr = profile.path().join("chromium-stderr.log");
        let child = Command::new(&binary)
            .args([
                "--headless",
                // Running as root in a container: no user namespaces for the sandbox.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                // This machine's network is closed: without these, Chromium keeps trying to
                // reach Google's services at start.
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-crash-reporter",
                "--mute-audio",
            ])
            .arg(format!(
                "--user-data-dir={}",
                profile.path().join("profile").display()
            ))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).expect("Chromium stderr file"))
            // Its own process group, so the guard can kill the renderers and helpers too.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display()));
        Chromium {
            child,
            stderr,
            _profile: profile,
        }
    }

    /// The page's report, waiting at most [`PAGE_TIMEOUT`]; fails at once if Chromium exits.
    async fn wait_for_report(&mut self, results: &mut mpsc::Receiver<String>) -> Value {
        let deadline = tokio::time::Instant::now() + PAGE_TIMEOUT;
        loop {
            tokio::select! {
                report = results.recv() => {
                    let report = report.expect("page server stopped");
                    return serde_json::from_str(&report).unwrap_or_else(|e| {
                        panic!("the page's report is not JSON ({e}): {report}")
                    });
                }
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            if let Some(status) = self.child.try_wait().expect("poll Chromium") {
                panic!(
                    "Chromium exited ({status}) before the page reported. Its stderr:\n{}",
                    self.stderr_tail()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "the page did not report within {PAGE_TIMEOUT:?}. Chromium's stderr:\n{}",
                    self.stderr_tail()
                );
            }
        }
    }

    /// The last lines Chromium wrote to stderr.
    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // The group's id is the browser's pid (process_group(0)); SIGKILL reaches the
        // renderer, GPU and utility processes it started too.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
