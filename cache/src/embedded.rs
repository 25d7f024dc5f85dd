//! The embedded cache: in the runtime's memory, entries expire at their TTL
//! and the least recently used go first when the configured size is full.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::error::{CacheError, CacheResult};

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

struct Inner {
    entries: LruCache<String, Entry>,
    bytes: usize,
    max_bytes: usize,
}

/// An LRU cache bounded by the bytes of its keys and values.
#[derive(Clone)]
pub struct EmbeddedCache {
    inner: Arc<Mutex<Inner>>,
}

fn expiry(ttl: Option<Duration>) -> Option<Instant> {
    ttl.map(|ttl| Instant::now() + ttl)
}

impl EmbeddedCache {
    /// A cache holding at most `max_bytes` of keys and values.
    pub fn new(max_bytes: usize) -> EmbeddedCache {
        EmbeddedCache {
            inner: Arc::new(Mutex::new(Inner {
                entries: LruCache::unbounded(),
                bytes: 0,
                max_bytes,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the map consistent (every
        // change is one call on it), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The live value of `key`.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut inner = self.lock();
        inner.live(key).map(|entry| entry.value.clone())
    }

    /// Stores `value` under `key`, expiring after `ttl` if given.
    pub fn set(&self, key: &str, value: Vec<u8>, ttl: Option<Duration>) {
        let mut inner = self.lock();
        inner.put(key, value, expiry(ttl));
    }

    /// Removes `key`; says whether it was there.
    pub fn delete(&self, key: &str) -> bool {
        let mut inner = self.lock();
        let live = inner.live(key).is_some();
        inner.remove(key);
        live
    }

    /// Adds `delta` to the integer at `key` (0 when missing), keeping its TTL.
    pub fn incr(&self, key: &str, delta: i64) -> CacheResult<i64> {
        let mut inner = self.lock();
        let (current, expires) = match inner.live(key) {
            None => (0, None),
            Some(entry) => {
                let text = std::str::from_utf8(&entry.value).ok();
                let number = text
                    .and_then(|t| t.parse::<i64>().ok())
                    .ok_or_else(|| CacheError::NotANumber("the value is not an integer".into()))?;
                (number, entry.expires)
            }
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| CacheError::NotANumber("incr would overflow a 64-bit integer".into()))?;
        inner.put(key, next.to_string().into_bytes(), expires);
        Ok(next)
    }

    /// Sets the TTL of an existing key; says whether it exists.
    pub fn expire(&self, key: &str, ttl: Duration) -> bool {
        let mut inner = self.lock();
        match inner.live(key) {
            Some(entry) => {
                entry.expires = Some(Instant::now() + ttl);
                true
            }
            None => false,
        }
    }
}

impl Inner {
    /// The entry at `key` if it has not expired; an expired one is dropped.
    fn live(&mut self, key: &str) -> Option<&mut Entry> {
        let expired = self
            .entries
            .peek(key)
            .is_some_and(|entry| entry.expires.is_some_and(|at| at <= Instant::now()));
        if expired {
            self.remove(key);
            return None;
        }
        self.entries.get_mut(key)
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.entries.pop(key) {
            self.bytes -= key.len() + old.value.len();
        }
    }

    fn put(&mut self, key: &str, value: Vec<u8>, expires: Option<Instant>) {
        self.remove(key);
        self.bytes += key.len() + value.len();
        self.entries.put(key.to_string(), Entry { value, expires });
        while self.bytes > self.max_bytes {
            let Some((old_key, old)) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= old_key.len() + old.value.len();
        }
    }
}
