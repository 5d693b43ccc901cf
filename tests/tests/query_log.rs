//! The query planner says which index it chose, in a debug line of the server's log
//! (`RUST_LOG=atrack_shared::service::query=debug`), on both engines: the device's partition
//! for `DeviceId eq`, the name's index for `EventType eq`, the time index otherwise, with the
//! time range it reads. A test binary of its own, as it installs the process's log subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use atrack_tests::{Engine, ServerOptions, TestServer};
use serde_json::json;
use uuid::Uuid;

/// Where the subscriber writes: a buffer the test reads.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn the_plan_is_logged_with_its_index_and_range() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("atrack_shared::service::query=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    for engine in [Engine::Embedded, Engine::Dynamo] {
        let server = TestServer::start(ServerOptions::new(engine)).await;
        let device = Uuid::new_v4().to_string();
        let name = format!("plan_probe_{}", Uuid::new_v4().simple());
        for (filter, line) in [
            (
                format!("DeviceId eq '{device}' and EventType eq '{name}'"),
                format!("index=device:{device} from=* to=*"),
            ),
            (
                format!("EventType eq '{name}' and EventTime ge 2026-01-02T03:04:05Z"),
                format!("index=name:{name} from=2026-01-02T03:04:05.000000Z to=*"),
            ),
            (
                "Value eq 'x' and EventTime lt 2026-01-02".to_owned(),
                "index=time from=* to=2026-01-01T23:59:59.999999Z".to_owned(),
            ),
        ] {
            let answer = server
                .secret("/event/query", &json!({"filter": filter}))
                .await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            let log = captured.text();
            assert!(
                log.lines()
                    .any(|l| l.contains("query plan") && l.contains(&format!("plan={line}"))),
                "{engine:?}: no plan line `{line}` for `{filter}` in the log:\n{log}"
            );
        }
    }
}
