//! `x-a-track-key` → project and scope, through a per-process cache. Keys are looked up by
//! their SHA-256, so the raw key is never stored, compared or logged. Entries live at most
//! `ttl`, so a revoked key stops working within that time everywhere.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderMap;

use crate::error::Error;
use crate::store::Store;
use crate::store::repo::{KeyRecord, Project, Scope, hash_key};

pub const KEY_HEADER: &str = "x-a-track-key";

/// Longest key text we even hash; anything longer is not a key of ours.
const MAX_KEY_LEN: usize = 256;
/// How long an unknown key is remembered as unknown: short, so a newly created key works
/// almost at once, but long enough that a flood of garbage keys does not reach storage.
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;

pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Option<KeyRecord>, Instant)>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        KeyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, hash: &str) -> Option<Option<KeyRecord>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (record, at) = entries.get(hash)?;
        let ttl = if record.is_some() {
            self.ttl
        } else {
            NEGATIVE_TTL
        };
        (at.elapsed() < ttl).then(|| record.clone())
    }

    async fn lookup(&self, store: &Store, hash: String) -> Result<Option<KeyRecord>, Error> {
        if let Some(hit) = self.cached(&hash) {
            return Ok(hit);
        }
        let record = store.find_key_by_hash(&hash).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (record.clone(), Instant::now()));
        Ok(record)
    }

    /// Resolves the request's key and checks it may do what `needed` requires.
    pub async fn authorize(
        &self,
        store: &Store,
        headers: &HeaderMap,
        needed: Scope,
    ) -> Result<Project, Error> {
        let raw = headers
            .get(KEY_HEADER)
            .map(|v| v.to_str().map(str::trim))
            .ok_or(Error::Unauthorized("missing x-a-track-key header"))?
            .map_err(|_| Error::Unauthorized("unknown API key"))?;
        if raw.is_empty() || raw.len() > MAX_KEY_LEN {
            return Err(Error::Unauthorized("unknown API key"));
        }
        let record = self
            .lookup(store, hash_key(raw))
            .await?
            .filter(|r| !r.revoked)
            .ok_or(Error::Unauthorized("unknown API key"))?;
        if needed == Scope::Secret && record.scope != Scope::Secret {
            return Err(Error::Forbidden("this endpoint needs a secret key"));
        }
        Ok(record.project)
    }
}
