//! `atrack table create`: the DynamoDB table from the one definition in `store::keys`;
//! `atrack table backfill-time-index`: events from before the time index put into it.

use std::sync::Arc;

use atrack_shared::domain::time::SystemClock;
use atrack_shared::store::AnyTable;
use atrack_shared::store::repo::Repo;
use clap::Subcommand;

use crate::store_args::{Engine, StoreArgs};

#[derive(Subcommand)]
pub enum TableCommand {
    /// Create the table (on-demand, GSI1 and the time index GSI2, TTL) if it does not exist.
    Create {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Put the events stored before the time index existed into it (a scan of the whole
    /// table; safe to run again, and alongside traffic), so queries without a device or a
    /// name see them. Run once after upgrading a store that holds events.
    BackfillTimeIndex {
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(cmd: TableCommand) -> anyhow::Result<()> {
    match cmd {
        TableCommand::Create { mut store } => {
            store.store = Engine::Dynamodb;
            let AnyTable::Dynamo(table) = store.open().await? else {
                unreachable!("the engine was set to DynamoDB above");
            };
            if table.create_table().await? {
                println!("created table {}", table.name());
            } else {
                println!("table {} already exists", table.name());
            }
            Ok(())
        }
        TableCommand::BackfillTimeIndex { store } => {
            let repo = Repo::new(store.open().await?, Arc::new(SystemClock));
            let done = repo
                .backfill_time_index(|so_far| {
                    eprintln!("scanned {}, indexed {}", so_far.scanned, so_far.indexed);
                })
                .await?;
            println!(
                "scanned {} items, put {} events into the time index",
                done.scanned, done.indexed
            );
            Ok(())
        }
    }
}
