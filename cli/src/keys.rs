//! `atrack keys create|revoke`.

use std::sync::Arc;

use atrack_shared::clock::SystemClock;
use atrack_shared::store::repo::{KeyPair, Project, Repo, Scope};
use clap::Subcommand;

use crate::store_args::StoreArgs;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a public/secret key pair for a project and print it.
    Create {
        /// Project name: a-z, 0-9, '-' and '_'.
        #[arg(long)]
        project: String,
        /// Register this public key instead of generating one (with --secret-key).
        #[arg(long, requires = "secret_key")]
        public_key: Option<String>,
        /// Register this secret key instead of generating one (with --public-key).
        #[arg(long, requires = "public_key")]
        secret_key: Option<String>,
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
        KeysCommand::Create {
            project,
            public_key,
            secret_key,
            store,
        } => {
            let project = Project::parse(&project).map_err(anyhow::Error::msg)?;
            let repo = Repo::new(store.open().await?, Arc::new(SystemClock));
            let pair = match (public_key, secret_key) {
                (Some(public_key), Some(secret_key)) => {
                    repo.register_key(&project, Scope::Public, &public_key)
                        .await?;
                    repo.register_key(&project, Scope::Secret, &secret_key)
                        .await?;
                    KeyPair {
                        project: project.clone(),
                        public_key,
                        secret_key,
                    }
                }
                _ => repo.create_key_pair(&project).await?,
            };
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
