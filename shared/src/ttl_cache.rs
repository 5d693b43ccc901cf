//! A per-process cache whose entries expire. Keys and project settings are read through it, so
//! a change in storage reaches every process within an entry's lifetime, and requests in between
//! pay no read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
    max_entries: usize,
}

impl<V: Clone> TtlCache<V> {
    /// A cache that starts over once it holds `max_entries`: a bound against floods of
    /// distinct keys, not an eviction policy.
    pub fn new(max_entries: usize) -> Self {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
            max_entries,
        }
    }

    /// The value cached for `key`, if it was stored less than `ttl(value)` ago.
    pub fn get(&self, key: &str, ttl: impl Fn(&V) -> Duration) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (value, at) = entries.get(key)?;
        (at.elapsed() < ttl(value)).then(|| value.clone())
    }

    pub fn insert(&self, key: String, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }
}
