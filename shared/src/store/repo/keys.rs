//! API keys: stored by their SHA-256 only, registered once, revoked, never deleted.

use rand::RngCore;

use super::{Repo, now_attr};
use crate::domain::project::{KeyPair, KeyRecord, KeyRegistration, Project, Scope, hash_key};
use crate::store::item::{Attr, Item, get_s};
use crate::store::keys::{self, PK, SK};
use crate::store::table::{Condition, Key, Read, StoreError, StoreResult, Table, Update, UpdateOp};

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

impl<T: Table> Repo<T> {
    /// Stores a key (by hash) for a project and scope, unless the key is stored already: then
    /// nothing changes, and the answer says what is there (the same registration, another
    /// project's or scope's, or a revoked key, which stays revoked).
    pub async fn register_key(
        &self,
        project: &Project,
        scope: Scope,
        raw: &str,
    ) -> StoreResult<KeyRegistration> {
        let now = self.now();
        let hash = hash_key(raw);
        let item = Item::from([
            (PK.into(), Attr::S(keys::key_pk(&hash))),
            (SK.into(), Attr::s(keys::KEY_SK)),
            ("project".into(), Attr::s(project.as_str())),
            ("scope".into(), Attr::s(scope.as_str())),
            ("created_at".into(), now_attr(now)),
        ]);
        match self.table.put(item, Some(Condition::NotExists)).await {
            Ok(()) => {
                // A project gets its first settings with its first key: a new project's.
                self.ensure_project_settings(project).await?;
                return Ok(KeyRegistration::Registered);
            }
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
        // Key items are never deleted, so the one that refused the write is there to read.
        // Consistent: the item that refused the write may be moments old.
        let existing = self.read_key(&hash, true).await?.ok_or_else(|| {
            StoreError::Unavailable("the key exists but cannot be read back yet; try again".into())
        })?;
        Ok(if existing.revoked {
            KeyRegistration::Revoked
        } else if existing.project == *project && existing.scope == scope {
            KeyRegistration::AlreadyRegistered
        } else {
            KeyRegistration::Conflict {
                project: existing.project,
                scope: existing.scope,
            }
        })
    }

    /// Generates and stores a new public/secret key pair.
    pub async fn create_key_pair(&self, project: &Project) -> StoreResult<KeyPair> {
        let pair = KeyPair {
            project: project.clone(),
            public_key: random_token("pk_"),
            secret_key: random_token("sk_"),
        };
        self.register_key(project, Scope::Public, &pair.public_key)
            .await?;
        self.register_key(project, Scope::Secret, &pair.secret_key)
            .await?;
        Ok(pair)
    }

    /// Looks a key up by the hash of its raw text.
    pub async fn find_key_by_hash(&self, hash: &str) -> StoreResult<Option<KeyRecord>> {
        self.read_key(hash, false).await
    }

    /// The key item by hash; `consistent` where a decision must see the latest write.
    async fn read_key(&self, hash: &str, consistent: bool) -> StoreResult<Option<KeyRecord>> {
        let key = Key::new(keys::key_pk(hash), keys::KEY_SK);
        let mut read = Read::new(&key);
        if consistent {
            read = read.consistent();
        }
        let Some(item) = self.table.read(read).await? else {
            return Ok(None);
        };
        let project = get_s(&item, "project").and_then(|p| Project::parse(p).ok());
        let scope = match get_s(&item, "scope") {
            Some("public") => Some(Scope::Public),
            Some("secret") => Some(Scope::Secret),
            _ => None,
        };
        match (project, scope) {
            (Some(project), Some(scope)) => Ok(Some(KeyRecord {
                project,
                scope,
                revoked: item.contains_key("revoked_at"),
            })),
            _ => Err(StoreError::Internal("malformed key item".into())),
        }
    }

    /// Marks a key revoked (by raw key or by its hash). Returns false for an unknown key.
    pub async fn revoke_key(&self, raw_or_hash: &str) -> StoreResult<bool> {
        let hash = if raw_or_hash.len() == 64 && raw_or_hash.bytes().all(|b| b.is_ascii_hexdigit())
        {
            raw_or_hash.to_ascii_lowercase()
        } else {
            hash_key(raw_or_hash)
        };
        let update = Update {
            key: Key::new(keys::key_pk(&hash), keys::KEY_SK),
            ops: vec![UpdateOp::Set("revoked_at".into(), now_attr(self.now()))],
            condition: Some(Condition::Exists),
        };
        match self.table.update(update).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
