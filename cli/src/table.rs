//! `atrack table create`: the DynamoDB table from the one definition in `store::keys`.

use atrack_shared::store::AnyTable;
use clap::Subcommand;

use crate::store_args::{Engine, StoreArgs};

#[derive(Subcommand)]
pub enum TableCommand {
    /// Create the table (on-demand, GSI1 and the time index GSI2, TTL) if it does not exist.
    Create {
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
    }
}
