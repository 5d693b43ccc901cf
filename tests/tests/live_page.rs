//! The live events page (`GET /`) in a real browser, on both engines. `atrack serve`'s router
//! on a loopback port; headless Chromium (Debian's, as `tests/tests/browser.rs` uses it) driven
//! through playwright-core by `tests/browser-live/live.mjs`, which plays a person: a public
//! key refused with its message, an unknown key, the secret key, an event sent after the page
//! opened listed within five seconds, the filters (a malformed one answered inline), an
//! event's details with its session, hostile names rendered as text, pause and resume, an
//! unreachable server, both widths, and no console error or uncaught exception throughout.
//!
//! `infra/test.sh` installs the driver's one package (`infra/install-node-deps.sh`) and
//! Chromium. A missing Node, package or browser fails the test, saying what to run; it never
//! skips. The screenshots land in `tests/browser-live/screenshots/<engine>/` (git-ignored).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use atrack_tests::driver::{self, DriverRun};
use atrack_tests::{Engine, PUBLIC_KEY, SECRET_KEY, ServerOptions, TestServer, on_both_engines};
use serde_json::Value;

on_both_engines!(
    the_page_is_served_with_a_strict_policy,
    a_person_watches_events_arrive_in_the_live_page
);

/// How long the whole browser run may take before it is killed: a bound for a hung browser,
/// not a promise (it takes about 20 s; two cores are shared with the rest of the suite).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(180);

/// One browser at a time: the two engines' runs would otherwise share two cores between two
/// Chromiums, and the page's five-second promise is about the page, not about contention.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn the_page_is_served_with_a_strict_policy(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    for (path, content_type, needle) in [
        ("/", "text/html; charset=utf-8", r#"<script src="live.js""#),
        ("/live.js", "text/javascript; charset=utf-8", "event/query"),
        ("/live.css", "text/css; charset=utf-8", "@media"),
    ] {
        let response = server.http.get(server.url(path)).send().await.expect("GET");
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("cache-control"), "no-cache", "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        let etag = header("etag");
        assert!(etag.starts_with('"'), "{path}: etag {etag:?}");
        let body = response.text().await.expect("body");
        assert!(body.contains(needle), "{path}");

        // Unchanged since the last load: 304, no body.
        let again = server
            .http
            .get(server.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("GET");
        assert_eq!(again.status(), 304, "{path}");
    }
    // The page's routes take GET only; anything else is the API's envelope, never a page.
    let posted = server.post("/", None, &serde_json::json!({})).await;
    atrack_tests::assert_error(&posted, 405, "method_not_allowed");
    let unknown = server.http.get(server.url("/live.map")).send().await;
    let unknown = atrack_tests::answer(unknown.expect("GET")).await;
    atrack_tests::assert_error(&unknown, 404, "not_found");
}

async fn a_person_watches_events_arrive_in_the_live_page(engine: Engine) {
    let mut options = ServerOptions::new(engine);
    // The visitor's address is placed in a country, for the summary and the country filter.
    options.geo = true;
    let server = TestServer::start(options).await;
    let shots = screenshots_dir(engine);
    let _one = ONE_BROWSER.lock().await;
    let started = Instant::now();
    let run = tokio::task::spawn_blocking({
        let url = format!("http://{}", server.addr);
        let shots = shots.clone();
        move || run_driver(&url, &shots)
    })
    .await
    .expect("the driver's thread");
    let report = run.report();
    assert!(
        run.success && report["ok"] == true,
        "the live page's browser run failed ({}) after {:.1}s\n--- stdout ---\n{}\n--- stderr \
         ---\n{}\n(screenshots in {})",
        run.status,
        started.elapsed().as_secs_f64(),
        run.stdout,
        run.stderr,
        shots.display()
    );
    for shot in [
        "desktop.png",
        "desktop-details.png",
        "phone.png",
        "phone-details.png",
    ] {
        let size = std::fs::metadata(shots.join(shot)).map_or(0, |m| m.len());
        assert!(size > 1000, "{shot} was not written ({size} bytes)");
    }
    let appeared = report["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == "appears"))
        .map(|s| s["appearedAfterMs"].clone())
        .unwrap_or(Value::Null);
    eprintln!(
        "live page on {engine:?}: browser run {:.1}s, event listed {appeared} ms after it was sent",
        started.elapsed().as_secs_f64()
    );
}

fn screenshots_dir(engine: Engine) -> PathBuf {
    let name = match engine {
        Engine::Embedded => "embedded",
        Engine::Dynamo => "dynamodb",
    };
    driver_dir().join("screenshots").join(name)
}

fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser-live")
}

/// Runs `node live.mjs` against `url`, killed with its browser (its whole process group)
/// past [`DRIVER_TIMEOUT`].
fn run_driver(url: &str, shots: &Path) -> DriverRun {
    let dir = driver_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "{}/node_modules is missing: run infra/install-node-deps.sh (infra/test.sh does)",
        dir.display()
    );
    let chromium = std::env::var("ATRACK_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "{chromium} not found: the live page test needs Debian's Chromium. Run \
         infra/install-chromium.sh (infra/test.sh does), or set ATRACK_CHROMIUM."
    );
    std::fs::create_dir_all(shots).expect("the screenshots folder");
    let mut command = Command::new("node");
    command
        .arg("live.mjs")
        .current_dir(&dir)
        .env("ATRACK_URL", url)
        .env("ATRACK_PUBLIC_KEY", PUBLIC_KEY)
        .env("ATRACK_SECRET_KEY", SECRET_KEY)
        .env("ATRACK_SCREENSHOTS", shots)
        .env("ATRACK_CHROMIUM", &chromium);
    driver::run(
        command,
        DRIVER_TIMEOUT,
        "the live page test needs Node.js 20 or later",
    )
}
