//! Segment's tracking API driven by the real client libraries, on both engines: Segment's
//! Python library (segment-analytics-python), RudderStack's (rudder-sdk-python, which gzips its
//! bodies and sends identify's traits in `context.traits`) and Segment's Node library
//! (@segment/analytics-node), each pointed at `atrack serve`'s router with the project's public
//! key as its write key. Each sends, through its own batching and transport, an identify, a
//! track, a page, a screen, a group, a track from a second anonymous id and an alias of that id
//! (`tests/segment-clients/send.py`, `send.mjs`); the test reads the result back over HTTP
//! (session/show with the public key, the rest with the secret one): the user with its
//! traits, company and both UUIDs, the company, the events with their names, types,
//! attributes and source, and the session's enrichment from the messages' context. Then the
//! driver runs again with the same messages (same messageIds,
//! same timestamps: what the libraries send when they retry; then with new ones), and nothing
//! is stored twice. A wrong write key fails each library at once: one request, a 401 none of
//! them retries (RudderStack's retries any 4xx whose body lacks Segment's `code` and
//! `message`), an error reported, nothing stored.
//!
//! `infra/test.sh` installs the libraries (`infra/install-segment-clients.sh`, pinned by
//! `tests/segment-clients/requirements.txt` and `package-lock.json`). A missing Python
//! virtualenv, Node or package fails the test, saying what to run; it never skips. On DynamoDB
//! event/show's totals and a company's `users_count` are kept by the table's stream consumer:
//! the test settles them (as the `count` function would) within a bound.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use atrack_tests::driver::{self, DriverRun};
use atrack_tests::{Engine, PUBLIC_KEY, ServerOptions, TestServer, on_both_engines};
use serde_json::{Value, json};
use uuid::Uuid;

on_both_engines!(
    segment_python_library_round_trip,
    rudderstack_python_library_round_trip,
    segment_node_library_round_trip,
    a_wrong_write_key_fails_each_library_at_once,
);

/// How long one run of a driver may take before it is killed: a bound for a hung library, not
/// a promise (a run takes about a second; two cores are shared with the rest of the suite).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long DynamoDB's stream-kept counts may take to catch up before the test fails.
const CATCH_UP: Duration = Duration::from_secs(30);

/// The namespace of the server's UUIDs for identifiers that are not UUIDs (a v5 of
/// `"<project>\n<id>"`), as the Segment mapping documents it.
const EXTERNAL_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_3c2e_9b7d_4e58_a0c4_1d2e_3f4a_5b6c);

/// The project the test server's keys belong to.
const PROJECT: &str = "default";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Library {
    SegmentPython,
    RudderPython,
    SegmentNode,
}

impl Library {
    /// The drivers' name for it, part of every id and name it sends.
    fn tag(self) -> &'static str {
        match self {
            Library::SegmentPython => "segment",
            Library::RudderPython => "rudder",
            Library::SegmentNode => "node",
        }
    }
}

async fn segment_python_library_round_trip(engine: Engine) {
    round_trip(engine, Library::SegmentPython).await;
}

async fn rudderstack_python_library_round_trip(engine: Engine) {
    round_trip(engine, Library::RudderPython).await;
}

async fn segment_node_library_round_trip(engine: Engine) {
    round_trip(engine, Library::SegmentNode).await;
}

/// What one driver run sends, named as the drivers name it.
struct Sent {
    user: String,
    group: String,
    /// The session UUIDs of the two anonymous ids (the first identified, the second aliased).
    anon: String,
    anon2: String,
    signed_up: String,
    browsed: String,
}

impl Sent {
    fn new(library: Library, run: &str) -> Sent {
        let tag = format!("{}-{run}", library.tag());
        Sent {
            user: format!("u-{tag}"),
            group: format!("acme-{tag}"),
            anon: external_uuid(&format!("anon-{tag}")),
            anon2: external_uuid(&format!("anon2-{tag}")),
            signed_up: format!("Signed Up {tag}"),
            browsed: format!("Browsed {tag}"),
        }
    }
}

/// The session UUID the server gives an anonymousId that is not a UUID.
fn external_uuid(id: &str) -> String {
    Uuid::new_v5(
        &EXTERNAL_ID_NAMESPACE,
        format!("{PROJECT}\n{id}").as_bytes(),
    )
    .to_string()
}

async fn round_trip(engine: Engine, library: Library) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    // Unique per test, so that nothing the two engines or three libraries send can meet.
    let run = format!("{engine:?}-{}", Uuid::new_v4().simple()).to_lowercase();
    let sent = Sent::new(library, &run);
    // Every message's timestamp, fixed so that the second run is a retry of the first: a
    // minute ago, plus 100 ms per message.
    let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .expect("an RFC 3339 time");

    drive(&server, library, &run, Some(&at)).await;
    let first = check(&server, engine, &sent, library).await;

    // The same messages again: what a library sends when it did not see the first answer.
    drive(&server, library, &run, Some(&at)).await;
    let retried = check(&server, engine, &sent, library).await;
    assert_eq!(
        first, retried,
        "{library:?}: re-sending the same messages (same messageIds and timestamps) changed what \
         is stored"
    );

    // And once more with the library's own timestamps: Segment deduplicates on messageId
    // alone, so a message sent again later is still the one message.
    drive(&server, library, &run, None).await;
    let restamped = check(&server, engine, &sent, library).await;
    assert_eq!(
        first, restamped,
        "{library:?}: re-sending the same messageIds with new timestamps changed what is stored"
    );
}

/// Runs the library's driver against the server (messages stamped from `at`, or by the
/// library) and fails the test with its output unless it reports every message delivered.
async fn drive(server: &TestServer, library: Library, run: &str, at: Option<&str>) {
    let (outcome, summary) = spawn_driver(server, library, PUBLIC_KEY, run, at).await;
    assert!(
        outcome.success && summary["ok"] == true,
        "{library:?} driver failed: {outcome}"
    );
}

/// Runs the library's driver with `write_key` on a blocking thread; its run and the JSON
/// summary it printed last (`null` when none).
async fn spawn_driver(
    server: &TestServer,
    library: Library,
    write_key: &str,
    run: &str,
    at: Option<&str>,
) -> (DriverRun, Value) {
    let url = format!("http://{}", server.addr);
    let (key, run, at) = (write_key.to_owned(), run.to_owned(), at.map(str::to_owned));
    let outcome =
        tokio::task::spawn_blocking(move || run_driver(library, &url, &key, &run, at.as_deref()))
            .await
            .expect("the driver's thread");
    let summary = outcome.report();
    (outcome, summary)
}

async fn a_wrong_write_key_fails_each_library_at_once(engine: Engine) {
    let server = TestServer::start(ServerOptions::new(engine)).await;
    let run = format!("{engine:?}-{}", Uuid::new_v4().simple()).to_lowercase();
    for library in [
        Library::SegmentPython,
        Library::RudderPython,
        Library::SegmentNode,
    ] {
        let (outcome, summary) =
            spawn_driver(&server, library, "pk_not_a_key_of_this_server", &run, None).await;
        assert!(
            !outcome.success && summary["ok"] == false,
            "{library:?}: a wrong write key must fail the driver\n{outcome}"
        );
        // Refused with a 401 the library does not retry: rudder retries any 4xx whose JSON
        // lacks top-level `code` and `message`, as if the network had failed.
        let statuses: Vec<&Value> = summary["requests"]
            .as_array()
            .map(|requests| requests.iter().map(|r| &r["status"]).collect())
            .unwrap_or_default();
        assert_eq!(
            statuses,
            [&json!(401)],
            "{library:?}: want one request, refused with 401\n{outcome}"
        );
        assert!(
            summary["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{library:?}: the library reported no error\n{outcome}"
        );
        let sent = Sent::new(library, &run);
        let listing = event_show(&server, &sent.signed_up).await;
        assert_eq!(listing["data"], json!([]), "{library:?}: {listing}");
    }
}

/// What the two runs must leave the same: every read the test makes, as a comparable value.
#[derive(Debug, PartialEq)]
struct Stored {
    /// (name, total, the rows' event ids) for each event name the driver caused.
    events: Vec<(String, Value, Vec<Value>)>,
    user_uuids: Value,
    user_traits: Value,
    company_traits: Value,
    /// The names of the events session/show lists for each of the two UUIDs.
    anon_events: Vec<Value>,
    anon2_events: Vec<Value>,
}

/// Reads back everything the driver's messages should have made, asserting the mapping.
async fn check(server: &TestServer, engine: Engine, sent: &Sent, library: Library) -> Stored {
    let who = format!("{library:?} on {engine:?}");

    // The events, one each; event/show's totals on DynamoDB once the stream caught up.
    let signed_up = one_event(server, engine, &sent.signed_up, &who).await;
    assert_eq!(signed_up["type"], "track", "{who}: {signed_up}");
    assert_eq!(signed_up["source"], "backend-segment", "{who}: {signed_up}");
    assert_eq!(signed_up["uuid"], sent.anon.as_str(), "{who}: {signed_up}");
    assert_eq!(
        signed_up["user_id"],
        sent.user.as_str(),
        "{who}: {signed_up}"
    );
    assert_eq!(
        signed_up["attributes"],
        json!({"plan": "pro", "seats": 3}),
        "{who}: track's properties are its attributes"
    );

    // page: "<category> <name>"; sent with a userId only, so on the user's UUID.
    let page = one_event(server, engine, "Docs Pricing", &who).await;
    assert_eq!(page["type"], "page_view", "{who}: {page}");
    assert_eq!(page["source"], "backend-segment", "{who}: {page}");
    assert_eq!(page["uuid"], sent.anon.as_str(), "{who}: {page}");
    assert_eq!(page["user_id"], sent.user.as_str(), "{who}: {page}");
    assert_eq!(page["attributes"]["path"], "/pricing", "{who}: {page}");
    assert_eq!(
        page["attributes"]["url"],
        "https://example.com/pricing?utm_source=news&utm_medium=email&utm_campaign=spring",
        "{who}: {page}"
    );

    let screen = one_event(server, engine, "Home", &who).await;
    assert_eq!(screen["type"], "page_view", "{who}: {screen}");
    assert_eq!(screen["source"], "backend-segment", "{who}: {screen}");
    assert_eq!(screen["uuid"], sent.anon.as_str(), "{who}: {screen}");
    assert_eq!(screen["user_id"], sent.user.as_str(), "{who}: {screen}");

    // identify's identify_user event, the only one on the identified UUID (a group records
    // identify_company alone, an alias nothing), with the traits.
    let identified = rows_where(
        &settled_rows(server, engine, "identify_user", &who).await,
        |row| row["uuid"] == sent.anon.as_str(),
    );
    assert!(
        identified
            .iter()
            .all(|row| row["attributes"] == traits(sent)),
        "{who}: {identified:?}"
    );
    assert_eq!(
        identified.len(),
        1,
        "{who}: want one identify_user event with identify's traits on the identified UUID: \
         {identified:?}"
    );
    assert_eq!(identified[0]["type"], "identify_user", "{who}");
    assert_eq!(identified[0]["user_id"], sent.user.as_str(), "{who}");
    assert_eq!(identified[0]["source"], "backend-segment", "{who}");

    // group's identify_company event, with the group's traits.
    let grouped = rows_where(
        &settled_rows(server, engine, "identify_company", &who).await,
        |row| row["uuid"] == sent.anon.as_str() && row["company_id"] == sent.group.as_str(),
    );
    assert_eq!(
        grouped.len(),
        1,
        "{who}: want one identify_company event for the group on the identified UUID: \
         {grouped:?}"
    );
    assert_eq!(grouped[0]["type"], "identify_company", "{who}");
    assert_eq!(
        grouped[0]["attributes"],
        json!({"name": "Acme", "employees": 50}),
        "{who}: {}",
        grouped[0]
    );

    // The second anonymous id's track, on its own UUID.
    let browsed = one_event(server, engine, &sent.browsed, &who).await;
    assert_eq!(browsed["type"], "track", "{who}: {browsed}");
    assert_eq!(browsed["source"], "backend-segment", "{who}: {browsed}");
    assert_eq!(browsed["uuid"], sent.anon2.as_str(), "{who}: {browsed}");
    // Its user_id is not checked: the server applies a request's aliases before its events, so
    // it names the user when the alias came in the same batch and not when the library sent
    // it in an earlier one, which is the library's timing to choose.
    assert_eq!(
        browsed["attributes"],
        json!({"step": 1}),
        "{who}: {browsed}"
    );

    let mut events = Vec::new();
    for name in [
        sent.signed_up.as_str(),
        "Docs Pricing",
        "Home",
        "identify_user",
        "identify_company",
        sent.browsed.as_str(),
    ] {
        let listing = event_show(server, name).await;
        let ids = listing["data"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| row["event_id"].clone())
            .collect();
        events.push((name.to_owned(), listing["meta"]["total"].clone(), ids));
    }

    // The user: identify's traits (rudder sends them in context.traits only), the group's
    // company, and both anonymous ids' UUIDs (the second through alias).
    let user = server
        .secret("/user/show", &json!({"user_id": sent.user}))
        .await;
    assert_eq!(user.status, 200, "{who}: user/show {}", user.body);
    let user = &user.body["data"]["user"];
    assert_eq!(user["user_id"], sent.user.as_str(), "{who}: {user}");
    for (name, value) in traits(sent).as_object().expect("traits") {
        assert_eq!(
            &user["traits"][name], value,
            "{who}: identify's trait {name}: {user}"
        );
    }
    assert_eq!(user["company_id"], sent.group.as_str(), "{who}: {user}");
    let mut uuids = vec![sent.anon.clone(), sent.anon2.clone()];
    uuids.sort();
    assert_eq!(
        user["uuids"],
        json!(uuids),
        "{who}: the user's UUIDs are the identified anonymousId's and the aliased one's, no other"
    );

    // The company: group's traits and its one user (stream-kept on DynamoDB).
    let company = company_with_users(server, engine, &sent.group, 1, &who).await;
    assert_eq!(company["traits"]["name"], "Acme", "{who}: {company}");
    assert_eq!(company["traits"]["employees"], 50, "{who}: {company}");
    assert_eq!(company["user_ids"], json!([sent.user]), "{who}: {company}");

    // The identified UUID's session: whose it is, and the enrichment of its messages'
    // contexts together (the IP and the desktop Chrome user agent every message carries, the
    // page call's URL).
    let anon = server.session(&sent.anon).await;
    let session = &anon["session"];
    assert_eq!(
        session["user"]["user_id"],
        sent.user.as_str(),
        "{who}: {session}"
    );
    assert_eq!(
        session["user"]["company_id"],
        sent.group.as_str(),
        "{who}: {session}"
    );
    assert_eq!(session["ip_address"], "8.8.8.8", "{who}: {session}");
    assert_eq!(session["ip_data"]["ip"], "8.8.8.8", "{who}: {session}");
    // The page call's URL is the device's page: its campaign is the session's.
    assert_eq!(
        session["utm_data"]["utm_source"], "news",
        "{who}: {session}"
    );
    assert_eq!(
        session["utm_data"]["utm_campaign"], "spring",
        "{who}: {session}"
    );
    let device = &session["device_data"];
    assert_eq!(device["client"]["name"], "Chrome", "{who}: {session}");
    assert_eq!(device["os"]["name"], "Windows", "{who}: {session}");
    assert_eq!(device["is_desktop"], true, "{who}: {session}");
    let anon_events = names_of(&anon["events"]);
    for name in [
        "identify_user",
        sent.signed_up.as_str(),
        "Docs Pricing",
        "Home",
        "identify_company",
    ] {
        assert!(
            anon_events.iter().any(|n| n == name),
            "{who}: {name} is not among the identified UUID's events {anon_events:?}"
        );
    }

    // The aliased UUID's session: now the user's, with its one event.
    let anon2 = server.session(&sent.anon2).await;
    assert_eq!(
        anon2["session"]["user"]["user_id"],
        sent.user.as_str(),
        "{who}: alias joined the second anonymousId's UUID to the user: {}",
        anon2["session"]
    );
    let anon2_events = names_of(&anon2["events"]);
    assert!(
        anon2_events.iter().any(|n| n == sent.browsed.as_str()),
        "{who}: {} is not among the aliased UUID's events {anon2_events:?}",
        sent.browsed
    );

    Stored {
        events,
        user_uuids: user["uuids"].clone(),
        user_traits: user["traits"].clone(),
        company_traits: company["traits"].clone(),
        anon_events,
        anon2_events,
    }
}

fn names_of(events: &Value) -> Vec<Value> {
    events
        .as_array()
        .expect("session/show's events")
        .iter()
        .map(|event| event["name"].clone())
        .collect()
}

async fn event_show(server: &TestServer, name: &str) -> Value {
    let answer = server
        .secret("/event/show", &json!({"name": name, "per_page": 100}))
        .await;
    assert_eq!(answer.status, 200, "event/show {name}: {}", answer.body);
    answer.body
}

/// The traits the drivers' identify sends.
fn traits(sent: &Sent) -> Value {
    let tag = sent.user.trim_start_matches("u-");
    json!({"name": format!("Ada {tag}"), "email": format!("ada-{tag}@example.com"), "plan": "pro"})
}

fn rows_where(rows: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<Value> {
    rows.iter().filter(|row| keep(row)).cloned().collect()
}

/// event/show's rows named `name` (at most 100) once its total counts them all: at once on
/// the embedded store, after the stream consumer caught up on DynamoDB (bounded). One more
/// pass of the stream must leave the total where it is.
async fn settled_rows(server: &TestServer, engine: Engine, name: &str, who: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        server.settle().await;
        let body = event_show(server, name).await;
        let rows = body["data"].as_array().expect("rows").clone();
        if !rows.is_empty() && body["meta"]["total"] == rows.len() {
            server.settle().await;
            let again = event_show(server, name).await;
            assert_eq!(
                again["meta"]["total"],
                rows.len(),
                "{who}: {name}'s total went past its rows: {again}"
            );
            return rows;
        }
        assert!(
            engine == Engine::Dynamo && tokio::time::Instant::now() < deadline,
            "{who}: event/show's total of {name} is not its rows: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// event/show's one row named `name`, failing if there is none or more.
async fn one_event(server: &TestServer, engine: Engine, name: &str, who: &str) -> Value {
    let rows = settled_rows(server, engine, name, who).await;
    assert_eq!(rows.len(), 1, "{who}: want one {name} event: {rows:?}");
    rows[0].clone()
}

/// company/show's data once its `users_count` is `users`: at once on the embedded store,
/// after the stream consumer caught up on DynamoDB (bounded).
async fn company_with_users(
    server: &TestServer,
    engine: Engine,
    company_id: &str,
    users: u64,
    who: &str,
) -> Value {
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        server.settle().await;
        let answer = server
            .secret("/company/show", &json!({"company_id": company_id}))
            .await;
        assert_eq!(answer.status, 200, "{who}: company/show {}", answer.body);
        let data = answer.body["data"].clone();
        if data["users_count"] == users {
            return data;
        }
        assert!(
            engine == Engine::Dynamo && tokio::time::Instant::now() < deadline,
            "{who}: want users_count {users}, company/show answered {data}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("segment-clients")
}

/// Runs the library's driver with `url`, `write_key`, `run` and the fixed
/// timestamp `at` (`None`: the library stamps each message); killed (its whole process
/// group) past [`DRIVER_TIMEOUT`].
fn run_driver(
    library: Library,
    url: &str,
    write_key: &str,
    run: &str,
    at: Option<&str>,
) -> DriverRun {
    let dir = clients_dir();
    let install = "run infra/install-segment-clients.sh (infra/test.sh does)";
    let mut command = match library {
        Library::SegmentPython | Library::RudderPython => {
            let python = dir.join("../../.tools/venv-segment/bin/python");
            assert!(
                python.is_file(),
                "{} is missing: {install}",
                python.display()
            );
            let mut command = Command::new(python);
            command.arg("send.py").arg(library.tag());
            command
        }
        Library::SegmentNode => {
            assert!(
                dir.join("node_modules/@segment/analytics-node").is_dir(),
                "{}/node_modules/@segment/analytics-node is missing: {install}",
                dir.display()
            );
            let mut command = Command::new("node");
            command.arg("send.mjs");
            command
        }
    };
    command
        .args([url, write_key, run])
        .args(at)
        .current_dir(&dir);
    driver::run(
        command,
        DRIVER_TIMEOUT,
        &format!(
            "the {library:?} driver needs Python 3.11 (the virtualenv) or Node.js 20 or later; \
             {install}"
        ),
    )
}
