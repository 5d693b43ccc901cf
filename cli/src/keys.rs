//! `atrack keys create|revoke`.

use std::sync::Arc;

use atrack_shared::domain::project::{
    KeyPair, KeyRecord, KeyRegistration, Project, Scope, hash_key,
};
use atrack_shared::domain::time::SystemClock;
use atrack_shared::store::AnyTable;
use atrack_shared::store::repo::Repo;
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
                    register_given(&repo, &project, public_key, secret_key).await?
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

/// What a registration found, said for the option that named the key; `None` when the key is
/// now registered as asked.
pub fn refusal(option: &str, project: &Project, outcome: &KeyRegistration) -> Option<String> {
    match outcome {
        KeyRegistration::Registered => None,
        KeyRegistration::AlreadyRegistered => Some(format!(
            "{option}: this key is already registered for project {}; nothing was changed",
            project.as_str()
        )),
        KeyRegistration::Conflict { project, scope } => Some(format!(
            "{option}: this key belongs to project {} as its {} key; nothing was changed",
            project.as_str(),
            scope.as_str()
        )),
        KeyRegistration::Revoked => Some(format!(
            "{option}: this key is revoked, and a revoked key cannot be registered again; \
             choose another key"
        )),
    }
}

/// What registering `record`'s key for `project` and `scope` would find.
fn outcome_for(record: KeyRecord, project: &Project, scope: Scope) -> KeyRegistration {
    if record.revoked {
        KeyRegistration::Revoked
    } else if record.project == *project && record.scope == scope {
        KeyRegistration::AlreadyRegistered
    } else {
        KeyRegistration::Conflict {
            project: record.project,
            scope: record.scope,
        }
    }
}

/// Registers a given pair, both keys or neither: either key already stored (for whichever
/// project, revoked or not) refuses the pair before anything is written.
async fn register_given(
    repo: &Repo<AnyTable>,
    project: &Project,
    public_key: String,
    secret_key: String,
) -> anyhow::Result<KeyPair> {
    if public_key == secret_key {
        anyhow::bail!("--public-key and --secret-key must differ: one key cannot be both");
    }
    let given = [
        ("--public-key", Scope::Public, &public_key),
        ("--secret-key", Scope::Secret, &secret_key),
    ];
    let mut refused = Vec::new();
    for (option, scope, key) in given {
        if let Some(record) = repo.find_key_by_hash(&hash_key(key)).await?
            && let Some(why) = refusal(option, project, &outcome_for(record, project, scope))
        {
            refused.push(why);
        }
    }
    // Registering reports the same things should another process have stored a key since.
    if refused.is_empty() {
        for (option, scope, key) in given {
            let outcome = repo.register_key(project, scope, key).await?;
            refused.extend(refusal(option, project, &outcome));
        }
    }
    if !refused.is_empty() {
        anyhow::bail!(
            "no new key pair was registered:\n  {}",
            refused.join("\n  ")
        );
    }
    Ok(KeyPair {
        project: project.clone(),
        public_key,
        secret_key,
    })
}
