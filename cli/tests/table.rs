//! `atrack table backfill-time-index` with the real binary, on the embedded store and on
//! DynamoDB Local: events an earlier version stored (without the time index's keys) are put
//! into the time index once, a deleted one is not, and a second run finds nothing to do.

use std::process::Output;
use std::sync::Arc;

use atrack_shared::domain::commands::EventRequest;
use atrack_shared::domain::project::Project;
use atrack_shared::domain::settings::ProjectSettings;
use atrack_shared::domain::time::{SystemClock, Timestamp};
use atrack_shared::domain::values::{EventName, Limits, SessionUuid};
use atrack_shared::store::item::get_s;
use atrack_shared::store::keys::{GSI2_PK, GSI2_SK, PK, SK};
use atrack_shared::store::repo::{EventIndex, EventScan, Repo};
use atrack_shared::store::table::{Key, Table, Update, UpdateOp};
use atrack_shared::store::{AnyTable, StoreKind};

mod common;

use common::{command_once_unlocked, dynamodb_store, embedded_store, open, text};

/// Six events as an earlier version stored them (no time index keys), one of them deleted
/// since. Returns the project.
async fn old_events(table: AnyTable) -> Project {
    let repo = Repo::new(table.clone(), Arc::new(SystemClock));
    let project = Project::parse("shop").unwrap();
    let uuid = SessionUuid::new_v4();
    let settings = ProjectSettings::default();
    for i in 0..6 {
        let event = EventRequest {
            uuid,
            name: EventName::parse("checkout", &Limits::default()).unwrap(),
            attributes: Default::default(),
            label: None,
            category: Default::default(),
            priority: Default::default(),
            kind: Default::default(),
            source: atrack_shared::domain::event::Source::backend_http(),
            occurred_at: Timestamp::from_micros(1_775_958_000_000_000 + i * 1_000_000),
            stamped_by_client: true,
            event_id: None,
            ip_address: None,
            user_agent: None,
            page_url: None,
            referrer: None,
            place: None,
            device_id: None,
        };
        repo.record_event(&project, event, &settings).await.unwrap();
    }
    let session = repo
        .session_with_events(&project, &uuid)
        .await
        .unwrap()
        .unwrap();
    for event in &session.events {
        table
            .update(Update {
                key: Key::new(get_s(event, PK).unwrap(), get_s(event, SK).unwrap()),
                ops: vec![
                    UpdateOp::Remove(GSI2_PK.into()),
                    UpdateOp::Remove(GSI2_SK.into()),
                ],
                condition: None,
            })
            .await
            .unwrap();
    }
    let deleted = get_s(&session.events[0], SK).unwrap();
    assert!(repo.delete_event(&project, &uuid, deleted).await.unwrap());
    project
}

/// How many events a query without a device or a name sees.
async fn on_the_time_index(table: AnyTable, project: &Project) -> usize {
    let repo = Repo::new(table, Arc::new(SystemClock));
    let mut reader = repo.read_events(
        project,
        EventScan {
            index: EventIndex::Time,
            from: None,
            to: None,
            descending: false,
            expect: 100,
            after: None,
        },
    );
    let mut seen = 0;
    loop {
        let chunk = reader.next_chunk().await.unwrap();
        if chunk.is_empty() {
            return seen;
        }
        seen += chunk.len();
    }
}

/// `atrack table backfill-time-index` on the store.
async fn backfill(store: &[String]) -> Output {
    command_once_unlocked(&["table", "backfill-time-index"], store).await
}

async fn backfills(kind: StoreKind, store: &[String]) {
    let project = old_events(open(&kind).await).await;
    assert_eq!(on_the_time_index(open(&kind).await, &project).await, 0);

    let run = backfill(store).await;
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("put 5 events into the time index"),
        "{}",
        text(&run)
    );
    assert_eq!(on_the_time_index(open(&kind).await, &project).await, 5);

    let again = backfill(store).await;
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("put 0 events into the time index"),
        "{}",
        text(&again)
    );
}

#[tokio::test]
async fn backfill_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let (store, kind) = embedded_store(&dir);
    backfills(kind, &store).await;
}

#[tokio::test]
async fn backfill_on_dynamodb() {
    let (store, kind) = dynamodb_store();
    backfills(kind, &store).await;
}
