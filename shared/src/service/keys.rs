//! API keys → project and scope, through a per-process cache. Keys are looked up by their
//! SHA-256, so the raw key is never stored, compared or logged. Entries live at most `ttl`, so
//! a revoked key stops working within that time everywhere.

use std::future::Future;
use std::time::Duration;

use super::cache::TtlCache;
use crate::domain::project::{KeyRecord, hash_key};
use crate::error::Error;
use crate::store::Store;

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
        Ok(self
            .lookup_with(&hash, || store.find_key_by_hash(&hash))
            .await?)
    }

    /// The record cached for `hash`, or else the one `read` finds in storage, cached (a miss
    /// for [`NEGATIVE_TTL`]).
    async fn lookup_with<E, Fut>(
        &self,
        hash: &str,
        read: impl FnOnce() -> Fut,
    ) -> Result<Option<KeyRecord>, E>
    where
        Fut: Future<Output = Result<Option<KeyRecord>, E>>,
    {
        let ttl = |record: &Option<KeyRecord>| {
            if record.is_some() {
                self.ttl
            } else {
                NEGATIVE_TTL
            }
        };
        self.entries.get_or_load(hash, ttl, read).await
    }

    /// The live (not revoked) key behind `raw`, if any.
    pub async fn find(&self, store: &Store, raw: &str) -> Result<Option<KeyRecord>, Error> {
        if raw.is_empty() || raw.len() > MAX_KEY_LEN {
            return Ok(None);
        }
        Ok(self
            .lookup(store, hash_key(raw))
            .await?
            .filter(|r| !r.revoked))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::domain::project::{Project, Scope};

    fn record() -> KeyRecord {
        KeyRecord {
            project: Project::parse("shop").unwrap(),
            scope: Scope::Public,
            revoked: false,
        }
    }

    /// A storage stand-in that counts its reads: `valid` is a known key, any other unknown.
    struct Storage {
        reads: AtomicUsize,
    }

    impl Storage {
        async fn read(&self, hash: &str) -> Result<Option<KeyRecord>, Error> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            // A real read awaits the network: let other lookups run meanwhile.
            tokio::task::yield_now().await;
            Ok((hash == "valid").then(record))
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn a_flood_of_unknown_keys_does_not_push_out_a_key_in_use() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let storage = Storage {
            reads: AtomicUsize::new(0),
        };
        for _ in 0..3 {
            let found = cache
                .lookup_with("valid", || storage.read("valid"))
                .await
                .unwrap();
            assert_eq!(found, Some(record()));
        }
        assert_eq!(storage.reads(), 1);
        // Twice the cache's bound in distinct garbage keys, each a miss read once.
        for i in 0..2 * MAX_ENTRIES {
            let garbage = format!("garbage-{i}");
            let found = cache
                .lookup_with(&garbage, || storage.read(&garbage))
                .await
                .unwrap();
            assert_eq!(found, None);
        }
        assert_eq!(storage.reads(), 1 + 2 * MAX_ENTRIES);
        let found = cache
            .lookup_with("valid", || storage.read("valid"))
            .await
            .unwrap();
        assert_eq!(found, Some(record()));
        assert_eq!(
            storage.reads(),
            1 + 2 * MAX_ENTRIES,
            "the key in use was read again"
        );
    }

    #[tokio::test]
    async fn concurrent_misses_for_one_key_share_one_read() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let storage = Storage {
            reads: AtomicUsize::new(0),
        };
        // All lookups start before the first read finishes (each read yields once).
        let lookups = (0..32).map(|_| cache.lookup_with("valid", || storage.read("valid")));
        let found = futures::future::join_all(lookups).await;
        assert!(found.iter().all(|f| f.as_ref().unwrap() == &Some(record())));
        assert_eq!(storage.reads(), 1);
        // Unknown keys too: a burst of one garbage key is one read.
        let lookups = (0..32).map(|_| cache.lookup_with("garbage", || storage.read("garbage")));
        let found = futures::future::join_all(lookups).await;
        assert!(found.iter().all(|f| f.as_ref().unwrap().is_none()));
        assert_eq!(storage.reads(), 2);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_cached() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let failed: Result<Option<KeyRecord>, &str> =
            cache.lookup_with("valid", || async { Err("down") }).await;
        assert_eq!(failed, Err("down"));
        let storage = Storage {
            reads: AtomicUsize::new(0),
        };
        let found = cache
            .lookup_with("valid", || storage.read("valid"))
            .await
            .unwrap();
        assert_eq!(found, Some(record()));
        assert_eq!(storage.reads(), 1);
    }

    #[tokio::test]
    async fn a_known_key_lives_at_most_ttl_and_an_unknown_one_negative_ttl() {
        // A zero lifetime for known keys: each lookup reads again, as after `ttl` passed.
        let cache = KeyCache::new(Duration::ZERO);
        let storage = Storage {
            reads: AtomicUsize::new(0),
        };
        for _ in 0..2 {
            cache
                .lookup_with("valid", || storage.read("valid"))
                .await
                .unwrap();
        }
        assert_eq!(storage.reads(), 2);
        // An unknown key is remembered for NEGATIVE_TTL whatever `ttl` is.
        for _ in 0..2 {
            cache
                .lookup_with("garbage", || storage.read("garbage"))
                .await
                .unwrap();
        }
        assert_eq!(storage.reads(), 3);
    }
}
