//! `x-a-track-key` (or, for beacons, a public key in the body's `key`) → project and scope, through a per-process cache. Keys are looked up by
//! their SHA-256, so the raw key is never stored, compared or logged. Entries live at most
//! `ttl`, so a revoked key stops working within that time everywhere.

use std::future::Future;
use std::time::Duration;

use http::HeaderMap;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::store::Store;
use crate::store::repo::{KeyRecord, Project, Scope, hash_key};
use crate::ttl_cache::TtlCache;

pub const KEY_HEADER: &str = "x-a-track-key";
/// The body field that carries a public key where no header can be set (`navigator.sendBeacon`).
pub const KEY_FIELD: &str = "key";

/// Where a request's key came from.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    Header(&'a str),
    /// The body's `key` field: public keys only.
    Body(&'a str),
    Missing,
}

impl<'a> Credential<'a> {
    /// The `x-a-track-key` header when present (a header that is not text is an unknown key,
    /// never a reason to look in the body), else the body's `key` field.
    pub fn find(headers: &'a HeaderMap, body: Option<&'a Map<String, Value>>) -> Self {
        match headers.get(KEY_HEADER) {
            Some(value) => Credential::Header(value.to_str().unwrap_or("")),
            None => match body.and_then(|b| b.get(KEY_FIELD)).and_then(Value::as_str) {
                Some(key) => Credential::Body(key),
                None => Credential::Missing,
            },
        }
    }
}

/// Longest key text we even hash; anything longer is not a key of ours.
const MAX_KEY_LEN: usize = 256;
/// How long an unknown key is remembered as unknown: short, so a newly created key works
/// almost at once, but long enough that a flood of garbage keys does not reach storage.
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;

pub struct KeyCache {
    ttl: Duration,
    /// By key hash; `None` remembers an unknown key.
    entries: TtlCache<Option<KeyRecord>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        KeyCache {
            ttl,
            entries: TtlCache::new(MAX_ENTRIES),
        }
    }

    async fn lookup(&self, store: &Store, hash: String) -> Result<Option<KeyRecord>, Error> {
        let ttl = |record: &Option<KeyRecord>| {
            if record.is_some() {
                self.ttl
            } else {
                NEGATIVE_TTL
            }
        };
        if let Some(hit) = self.entries.get(&hash, ttl) {
            return Ok(hit);
        }
        let record = store.find_key_by_hash(&hash).await?;
        self.entries.insert(hash, record.clone());
        Ok(record)
    }

    /// Resolves the request's key and checks it may do what `needed` requires.
    pub async fn authorize(
        &self,
        store: &Store,
        credential: Credential<'_>,
        needed: Scope,
    ) -> Result<Project, Error> {
        let raw = match credential {
            Credential::Header(raw) | Credential::Body(raw) => raw.trim(),
            Credential::Missing => return Err(Error::Unauthorized("missing x-a-track-key header")),
        };
        if raw.is_empty() || raw.len() > MAX_KEY_LEN {
            return Err(Error::Unauthorized("unknown API key"));
        }
        let record = self
            .lookup(store, hash_key(raw))
            .await?
            .filter(|r| !r.revoked)
            .ok_or(Error::Unauthorized("unknown API key"))?;
        if matches!(credential, Credential::Body(_)) && record.scope != Scope::Public {
            // A body is logged, cached and replayed far more freely than a header: a secret key
            // that travelled in one is refused (and should be revoked by whoever sent it).
            return Err(Error::Forbidden(
                "a secret key is accepted only in the x-a-track-key header",
            ));
        }
        if needed == Scope::Secret && record.scope != Scope::Secret {
            return Err(Error::Forbidden("this endpoint needs a secret key"));
        }
        Ok(record.project)
    }
}
