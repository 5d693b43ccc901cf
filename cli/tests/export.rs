//! `atrack export` with the real binary, on the embedded store and on DynamoDB Local: the
//! range's events as JSON lines to a file or stdout, the same lines as `GET /export`'s; an
//! export stopped part way (by `--pages`, or by a crash that left half a page behind) resumes
//! from its cursor with neither duplicates nor gaps.

use std::process::Output;
use std::sync::Arc;

use atrack_shared::domain::commands::EventRequest;
use atrack_shared::domain::event::Source;
use atrack_shared::domain::project::Project;
use atrack_shared::domain::settings::ProjectSettings;
use atrack_shared::domain::time::{SystemClock, Timestamp};
use atrack_shared::domain::values::{Attributes, EventName, Limits, SessionUuid};
use atrack_shared::store::repo::Repo;
use atrack_shared::store::{AnyTable, StoreKind};

mod common;

use common::{command_once_unlocked, dynamodb_store, embedded_store, open, text};

const FROM: &str = "2026-04-12T00:00:00Z";
const TO: &str = "2026-04-12T23:59:59Z";
/// Events stored in the range (and one outside it).
const EVENTS: usize = 25;

/// Stores the events (over five sessions, one second apart) through the repository, then
/// lets the store go so the binary can open it.
async fn fill(table: AnyTable) {
    let repo = Repo::new(table, Arc::new(SystemClock));
    let project = Project::parse("default").unwrap();
    let sessions: Vec<SessionUuid> = (0..5).map(|_| SessionUuid::new_v4()).collect();
    let events = (0..=EVENTS)
        .map(|i| {
            // The last one falls after the range.
            let second = if i == EVENTS { 86_400 } else { i as i64 };
            EventRequest {
                uuid: sessions[i % 5],
                name: EventName::parse(&format!("step_{i}"), &Limits::default()).unwrap(),
                attributes: Attributes::parse(
                    &serde_json::json!({"i": i}),
                    "attributes",
                    &Limits::default(),
                )
                .unwrap(),
                label: None,
                category: Default::default(),
                priority: Default::default(),
                kind: Default::default(),
                source: Source::backend_http(),
                occurred_at: Timestamp::from_micros(1_775_952_000_000_000 + second * 1_000_000 + 7),
                stamped_by_client: true,
                event_id: None,
                ip_address: None,
                user_agent: None,
                page_url: None,
                referrer: None,
                place: None,
                device_id: None,
            }
        })
        .collect();
    let outcomes = repo
        .record_events(&project, events, &ProjectSettings::default())
        .await
        .unwrap();
    assert!(outcomes.iter().all(Result::is_ok));
}

/// `atrack export <args>` on the store.
async fn export(args: &[&str], store: &[String]) -> Output {
    command_once_unlocked(&[&["export"], args].concat(), store).await
}

/// The value after `--cursor ` in the binary's words.
fn cursor_in(output: &Output) -> String {
    let said = text(output);
    said.split("--cursor ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no cursor in: {said}"))
        .to_owned()
}

async fn exports(kind: StoreKind, store: &[String]) {
    fill(open(&kind).await).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();

    // Whole, to stdout and to a file: the same lines, the range's events in time order.
    let whole = export(&["--from", FROM, "--to", TO], store).await;
    assert!(whole.status.success(), "{}", text(&whole));
    let lines: Vec<serde_json::Value> = String::from_utf8(whole.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<String> = lines
        .iter()
        .map(|l| l["event_name"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..EVENTS).map(|i| format!("step_{i}")).collect();
    assert_eq!(names, expected);
    assert_eq!(lines[3]["inserted_at"], "2026-04-12T00:00:03.000007Z");
    assert_eq!(lines[3]["source"], "backend-http");
    let to_file = export(
        &["--from", FROM, "--to", TO, "--out", &path("all.ndjson")],
        store,
    )
    .await;
    assert!(to_file.status.success(), "{}", text(&to_file));
    assert!(text(&to_file).contains(&format!("exported {EVENTS} events")));
    let all = std::fs::read(path("all.ndjson")).unwrap();
    assert_eq!(all, whole.stdout);
    assert!(!std::path::Path::new(&path("all.ndjson.cursor")).exists());

    // In chunks: two pages of four, then the rest from the printed cursor.
    let part = export(
        &[
            "--from",
            FROM,
            "--to",
            TO,
            "--out",
            &path("chunks.ndjson"),
            "--page-size",
            "4",
            "--pages",
            "2",
        ],
        store,
    )
    .await;
    assert!(part.status.success(), "{}", text(&part));
    assert!(
        text(&part).contains("exported 8 events in 2 pages"),
        "{}",
        text(&part)
    );
    let cursor = cursor_in(&part);
    let rest = export(
        &[
            "--from",
            FROM,
            "--to",
            TO,
            "--out",
            &path("chunks.ndjson"),
            "--page-size",
            "4",
            "--cursor",
            &cursor,
        ],
        store,
    )
    .await;
    assert!(rest.status.success(), "{}", text(&rest));
    assert_eq!(std::fs::read(path("chunks.ndjson")).unwrap(), all);

    // A crash mid-page: the file holds a page and a half, the record says where the whole
    // page ended. Resuming from the recorded cursor cuts the half page and goes on.
    let part = export(
        &[
            "--from",
            FROM,
            "--to",
            TO,
            "--out",
            &path("crash.ndjson"),
            "--page-size",
            "5",
            "--pages",
            "1",
        ],
        store,
    )
    .await;
    assert!(part.status.success(), "{}", text(&part));
    let record = std::fs::read_to_string(path("crash.ndjson.cursor")).unwrap();
    let recorded = record.lines().next().unwrap().to_owned();
    assert_eq!(recorded, cursor_in(&part));
    let mut torn = std::fs::read(path("crash.ndjson")).unwrap();
    torn.extend_from_slice(b"{\"app_token\":\"default\",\"event_ty");
    std::fs::write(path("crash.ndjson"), torn).unwrap();
    let resumed = export(
        &[
            "--from",
            FROM,
            "--to",
            TO,
            "--out",
            &path("crash.ndjson"),
            "--page-size",
            "5",
            "--cursor",
            &recorded,
        ],
        store,
    )
    .await;
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert_eq!(std::fs::read(path("crash.ndjson")).unwrap(), all);

    // Bad input: a usage error, nothing written.
    for (args, says) in [
        (vec!["--from", TO, "--to", FROM], "must not be after"),
        (vec!["--from", "yesterday", "--to", TO], "RFC 3339"),
        (vec!["--from", FROM, "--to", TO, "--format", "csv"], "csv"),
        (
            vec!["--from", FROM, "--to", TO, "--cursor", "forged.cursor"],
            "cursor",
        ),
    ] {
        let refused = export(&args, store).await;
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            text(&refused).contains(says),
            "{args:?}: {}",
            text(&refused)
        );
    }
}

#[tokio::test]
async fn export_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kind) = embedded_store(&dir);
    exports(kind, &store).await;
}

#[tokio::test]
async fn export_on_dynamodb() {
    let (store, kind) = dynamodb_store();
    exports(kind, &store).await;
}
