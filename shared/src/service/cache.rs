//! A per-process cache whose entries expire. Keys and project settings are read through it, so
//! a change in storage reaches every process within an entry's lifetime, and requests in between
//! pay no read.
//!
//! It holds a bounded number of entries and evicts by quick_cache's policy (CLOCK-PRO, close to
//! S3-FIFO): an entry read again since it was stored outlives entries stored once and never read
//! again, so a flood of distinct one-off keys (a scan of random API keys) cycles through the
//! cold part of the cache and leaves the keys in use where they are. Concurrent misses for one
//! key wait for a single load and take its value: a burst of requests with a new key is one
//! storage read, not one per request.

use std::future::Future;
use std::time::{Duration, Instant};

use quick_cache::sync::{Cache, EntryAction, EntryResult};

pub struct TtlCache<V> {
    /// Each value with when it was loaded.
    entries: Cache<String, (V, Instant)>,
}

impl<V: Clone> TtlCache<V> {
    /// A cache of about `max_entries` entries.
    pub fn new(max_entries: usize) -> Self {
        TtlCache {
            entries: Cache::new(max_entries),
        }
    }

    /// The value cached for `key` if it was loaded less than `ttl(value)` ago; otherwise the
    /// value `load` reads, which is cached. While one caller loads a key, other callers for it
    /// wait and share the result; if the load fails, nothing is cached, the caller gets the
    /// error and a waiting caller loads in turn.
    pub async fn get_or_load<E, Fut>(
        &self,
        key: &str,
        ttl: impl Fn(&V) -> Duration,
        load: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        let fresh = |(value, at): &(V, Instant)| at.elapsed() < ttl(value);
        // The common case, a fresh hit, under a shared lock.
        if let Some(entry) = self.entries.get(key)
            && fresh(&entry)
        {
            return Ok(entry.0);
        }
        // Missing or stale: keep an entry another caller refreshed meanwhile, else take the
        // key's placeholder (or wait for the caller that holds it, then look again).
        let guard = match self
            .entries
            .entry_async(key, |_, entry| {
                if fresh(entry) {
                    EntryAction::Retain(entry.0.clone())
                } else {
                    EntryAction::ReplaceWithGuard
                }
            })
            .await
        {
            EntryResult::Retained(value) => return Ok(value),
            EntryResult::Replaced(guard, _) | EntryResult::Vacant(guard) => Some(guard),
            // Neither happens (the callback never removes, and only the blocking `entry` gives
            // up waiting); were one to, the value is loaded and not cached, never a panic.
            EntryResult::Removed(..) | EntryResult::Timeout => None,
        };
        let value = load().await?;
        // Refused only if the entry was replaced meanwhile (it cannot be: we hold its
        // placeholder); the value is returned either way.
        if let Some(guard) = guard {
            let _ = guard.insert((value.clone(), Instant::now()));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_stale_entry_is_loaded_again_and_a_fresh_one_is_not() {
        let cache: TtlCache<u32> = TtlCache::new(16);
        let loads = AtomicUsize::new(0);
        let load = |value: u32| {
            loads.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, ()>(value) }
        };
        let forever = |_: &u32| Duration::MAX;
        let never = |_: &u32| Duration::ZERO;
        assert_eq!(cache.get_or_load("k", forever, || load(1)).await, Ok(1));
        assert_eq!(cache.get_or_load("k", forever, || load(2)).await, Ok(1));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // Past its lifetime the entry is replaced by a new load.
        assert_eq!(cache.get_or_load("k", never, || load(3)).await, Ok(3));
        assert_eq!(cache.get_or_load("k", forever, || load(4)).await, Ok(3));
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_bound_holds_under_a_flood() {
        let cache: TtlCache<usize> = TtlCache::new(100);
        for i in 0..10_000 {
            let _ = cache
                .get_or_load(
                    &i.to_string(),
                    |_| Duration::MAX,
                    || async move { Ok::<_, ()>(i) },
                )
                .await;
        }
        assert!(cache.entries.len() <= 200, "{}", cache.entries.len());
    }
}
