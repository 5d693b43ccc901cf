//! What the CLI suites share: running the real binary against a store, and the stores
//! themselves (a temporary embedded one, or a fresh table on DynamoDB Local).

use std::process::{Command, Output};

use atrack_shared::store::{AnyTable, StoreKind};

pub const ATRACK: &str = env!("CARGO_BIN_EXE_atrack");

/// Runs `atrack <args> <store>` with the environment DynamoDB Local needs and a fixed cursor
/// secret (so the binary's cursors are good across its runs).
pub fn command(args: &[&str], store: &[String]) -> Output {
    let mut command = Command::new(ATRACK);
    command
        .args(args)
        .args(store)
        .env_remove("ATRACK_STORE")
        .env_remove("TABLE_NAME")
        .env("RUST_LOG", "warn")
        .env(
            "ATRACK_CURSOR_SECRET",
            "a-cursor-secret-of-this-test-suite-0123456789",
        )
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    command.output().expect("run atrack")
}

/// What a run printed, stdout then stderr.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Opens the store. The embedded engine's file is released when its writer thread, told by
/// the last handle's drop, has stopped: moments after, so a reopen may wait for it.
pub async fn open(kind: &StoreKind) -> AnyTable {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match kind.open().await {
            Ok(table) => return table,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot open the store: {e}"),
        }
    }
}

/// [`command`], again while the embedded file is still held by this process's last handle
/// (released moments after its drop), never otherwise. The CLI reports redb's lock error in
/// words ("Database already open"), not by its name.
pub async fn command_once_unlocked(args: &[&str], store: &[String]) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let run = command(args, store);
        if run.status.success()
            || !text(&run).to_lowercase().contains("already open")
            || std::time::Instant::now() > deadline
        {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A store in `dir`: its command-line options and how to open it here.
pub fn embedded_store(dir: &tempfile::TempDir) -> (Vec<String>, StoreKind) {
    let store = vec![
        "--data-dir".to_owned(),
        dir.path().to_str().unwrap().to_owned(),
    ];
    (store, StoreKind::Embedded(dir.path().join("atrack.redb")))
}

/// A new table on DynamoDB Local, made by `atrack table create`: its options and its kind.
pub fn dynamodb_store() -> (Vec<String>, StoreKind) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL_DYNAMODB is not set: run the suite with infra/test.sh, which starts DynamoDB Local")
    });
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let table = format!("atrack-cli-{}", uuid::Uuid::new_v4().simple());
    let store = vec![
        "--store".to_owned(),
        "dynamodb".to_owned(),
        "--table".to_owned(),
        table.clone(),
    ];
    let created = command(&["table", "create"], &store);
    assert!(created.status.success(), "{}", text(&created));
    (store, StoreKind::Dynamo { table })
}
