//! `atrack keys create|revoke`.

use std::sync::Arc;

use atrack_shared::clock::SystemClock;
use atrack_shared::store::repo::{Project, Repo};
use clap::Subcommand;

use crate::store_args::StoreArgs;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a public/secret key pair for a project and print it.
    Create {
        /// Project name: a-z, 0-9, '-' and '_'.
        #[arg(long)]
        project: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key (raw key or its SHA-256); servers stop accepting it within a minute.
    Revoke {
        key: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create { project, store } => {
            let project = Project::parse(&project).map_err(anyhow::Error::msg)?;
            let repo = Repo::new(store.open().await?, Arc::new(SystemClock));
            let pair = repo.create_key_pair(&project).await?;
            println!("project:    {}", project.as_str());
            println!("public key: {}", pair.public_key);
            println!("secret key: {}", pair.secret_key);
            Ok(())
        }
        KeysCommand::Revoke { key, store } => {
            let repo = Repo::new(store.open().await?, Arc::new(SystemClock));
            if repo.revoke_key(key.trim()).await? {
                println!("revoked");
                Ok(())
            } else {
                anyhow::bail!("no such key")
            }
        }
    }
}
