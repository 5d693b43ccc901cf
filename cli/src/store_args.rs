//! The storage options every subcommand shares.

use std::path::PathBuf;

use atrack_shared::store::{AnyTable, StoreKind};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    Embedded,
    Dynamodb,
}

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Storage engine.
    #[arg(long, env = "ATRACK_STORE", value_enum, default_value = "embedded")]
    pub store: Engine,
    /// DynamoDB table name (with --store dynamodb).
    #[arg(long, env = "TABLE_NAME")]
    pub table: Option<String>,
    /// Directory of the embedded store (and of the generated default keys).
    #[arg(long, env = "ATRACK_DATA_DIR", default_value = "./.atrack")]
    pub data_dir: PathBuf,
}

impl StoreArgs {
    pub fn kind(&self) -> anyhow::Result<StoreKind> {
        Ok(match self.store {
            Engine::Embedded => StoreKind::Embedded(self.data_dir.join("atrack.redb")),
            Engine::Dynamodb => StoreKind::Dynamo {
                table: self
                    .table
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("--store dynamodb needs --table NAME"))?,
            },
        })
    }

    pub async fn open(&self) -> anyhow::Result<AnyTable> {
        Ok(self.kind()?.open().await?)
    }

    /// See [`StoreKind::open_for_a_pass`].
    pub async fn open_for_a_pass(&self) -> anyhow::Result<AnyTable> {
        Ok(self.kind()?.open_for_a_pass().await?)
    }
}
