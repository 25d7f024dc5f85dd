//! The embedded cache: in the runtime's memory, one scope per module.
//! Entries expire at their TTL; each scope is bounded by its module's quota
//! and the whole cache by its size, and the least recently used entries go
//! first when a bound is reached.

mod scope;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use scope::ENTRY_OVERHEAD_BYTES;
use scope::{Entry, Scope, size};

use crate::error::{CacheError, CacheResult};

struct Inner {
    /// A scope stays once made (empty, it is a few words): scopes are the
    /// runtime's modules, which no guest names.
    scopes: HashMap<String, Scope>,
    max_bytes: usize,
}

/// An LRU cache bounded by the bytes of its entries (keys, values and
/// [`ENTRY_OVERHEAD_BYTES`] each), in scopes
/// (one per module) with byte quotas of their own.
///
/// A write that would take its scope past the scope's quota first evicts
/// that scope's own least recently used entries, never another's. A write
/// that would then take the whole cache past its size evicts, one entry at
/// a time, the least recently used entry of the scope holding the largest
/// fraction of its own quota, counting the write (the writer's on a tie):
/// the scope furthest over a fair, quota-proportional share of the cache.
///
/// While the quotas of all scopes add up to at most the cache's size, every
/// scope staying within its quota means the cache is never full, so one
/// module's writes never evict another module's entries. The second rule
/// only acts when the quotas oversubscribe the cache; then the heaviest user
/// gives way, not the modules well within their quotas.
#[derive(Clone)]
pub struct EmbeddedCache {
    inner: Arc<Mutex<Inner>>,
}

/// When an entry given `ttl` now expires; `None` (never) past the clock's
/// range.
fn expiry(ttl: Duration) -> Option<Instant> {
    Instant::now().checked_add(ttl)
}

impl EmbeddedCache {
    /// A cache holding at most `max_bytes` of entries in all.
    pub fn new(max_bytes: usize) -> EmbeddedCache {
        EmbeddedCache {
            inner: Arc::new(Mutex::new(Inner {
                scopes: HashMap::new(),
                max_bytes,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing done under the lock is expected to panic, and the maps
        // stay safe to use if something did, so a poisoned lock is used
        // rather than failing every module's calls from then on.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The live value of `key` in `scope`.
    pub fn get(&self, scope: &str, key: &str) -> Option<Vec<u8>> {
        let mut inner = self.lock();
        let entry = inner.scope(scope)?.get(key)?;
        Some(entry.value.clone())
    }

    /// Stores every entry in `scope`, whose quota is `max_bytes`, expiring
    /// after `ttl` if given. Entries whose sizes (keys, values and overhead)
    /// add up to more
    /// than the quota (or the cache's size) are refused, all of them, with
    /// [`CacheError::ValueTooLarge`].
    pub fn set_many(
        &self,
        scope: &str,
        max_bytes: usize,
        entries: Vec<(String, Vec<u8>)>,
        ttl: Option<Duration>,
    ) -> CacheResult<()> {
        let mut inner = self.lock();
        inner.put(scope, max_bytes, entries, ttl.and_then(expiry))
    }

    /// Removes `key` from `scope`; says whether it was there.
    pub fn delete(&self, scope: &str, key: &str) -> bool {
        let mut inner = self.lock();
        inner.scope(scope).is_some_and(|scope| scope.remove(key))
    }

    /// Adds `delta` to the integer at `key` in `scope` (0 when missing),
    /// keeping its TTL. A new key counts against the quota `max_bytes` like
    /// any entry.
    pub fn incr(&self, scope: &str, max_bytes: usize, key: &str, delta: i64) -> CacheResult<i64> {
        let mut inner = self.lock();
        let (current, expires) = match inner.scope(scope).and_then(|scope| scope.get(key)) {
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
        let entry = (key.to_string(), next.to_string().into_bytes());
        inner.put(scope, max_bytes, vec![entry], expires)?;
        Ok(next)
    }

    /// Sets the TTL of an existing key in `scope`; says whether it exists.
    pub fn expire(&self, scope: &str, key: &str, ttl: Duration) -> bool {
        let mut inner = self.lock();
        inner
            .scope(scope)
            .is_some_and(|scope| scope.set_expiry(key, expiry(ttl)))
    }

    /// The bytes (keys, values and overhead) of the live entries in `scope`: what
    /// counts against its quota.
    pub fn used_bytes(&self, scope: &str) -> usize {
        let mut inner = self.lock();
        inner.scope(scope).map_or(0, |scope| scope.bytes())
    }
}

impl Inner {
    /// The scope `id`, if it has ever held entries, without its expired
    /// ones.
    fn scope(&mut self, id: &str) -> Option<&mut Scope> {
        let scope = self.scopes.get_mut(id)?;
        scope.drop_expired(Instant::now());
        Some(scope)
    }

    /// The scope `id`, made if new, with the quota `max_bytes`.
    fn scope_to_write(&mut self, id: &str, max_bytes: usize) -> &mut Scope {
        let scope = self
            .scopes
            .entry(id.to_string())
            .or_insert_with(|| Scope::new(max_bytes));
        scope.max_bytes = max_bytes;
        scope
    }

    /// Stores `entries` in scope `id` with the quota `max_bytes`, making
    /// room by the rules on [`EmbeddedCache`], or refuses them all.
    fn put(
        &mut self,
        id: &str,
        max_bytes: usize,
        entries: Vec<(String, Vec<u8>)>,
        expires: Option<Instant>,
    ) -> CacheResult<()> {
        let bytes: usize = entries.iter().map(|(key, value)| size(key, value)).sum();
        let limit = max_bytes.min(self.max_bytes);
        if bytes > limit {
            return Err(CacheError::ValueTooLarge(format!(
                "this write counts for {bytes} bytes (keys, values and {ENTRY_OVERHEAD_BYTES} per entry); this module's cache holds at most {limit} bytes"
            )));
        }
        let now = Instant::now();
        let scope = self.scope_to_write(id, max_bytes);
        scope.drop_expired(now);
        for (key, _) in &entries {
            scope.remove(key);
        }
        scope.shrink_to(max_bytes - bytes);
        self.make_room(id, bytes, now);
        let scope = self.scope_to_write(id, max_bytes);
        for (key, value) in entries {
            scope.insert(&key, Entry { value, expires });
        }
        Ok(())
    }

    /// Evicts until `pending` more bytes for scope `writer` fit in the
    /// cache's size: expired entries first, then by the fair-share rule.
    fn make_room(&mut self, writer: &str, pending: usize, now: Instant) {
        let held =
            |scopes: &HashMap<String, Scope>| -> usize { scopes.values().map(Scope::bytes).sum() };
        let mut bytes = held(&self.scopes);
        if bytes + pending <= self.max_bytes {
            return;
        }
        for scope in self.scopes.values_mut() {
            scope.drop_expired(now);
        }
        bytes = held(&self.scopes);
        while bytes + pending > self.max_bytes {
            let Some(victim) = self.most_over_share(writer, pending) else {
                break;
            };
            let before = victim.bytes();
            victim.remove_least_recently_used();
            bytes -= before - victim.bytes();
        }
    }

    /// The non-empty scope holding the largest fraction of its quota,
    /// counting `pending` bytes for `writer`; `writer` on a tie.
    fn most_over_share(&mut self, writer: &str, pending: usize) -> Option<&mut Scope> {
        let load = |id: &str, scope: &Scope| {
            let pending = if id == writer { pending } else { 0 };
            (scope.bytes() + pending) as u128
        };
        // a/qa > b/qb as a*qb > b*qa: exact, and a quota of 0 is no trap.
        self.scopes
            .iter_mut()
            .filter(|(_, scope)| !scope.is_empty())
            .max_by(|(a_id, a), (b_id, b)| {
                let a_share = load(a_id, a) * b.max_bytes as u128;
                let b_share = load(b_id, b) * a.max_bytes as u128;
                a_share
                    .cmp(&b_share)
                    .then((*a_id == writer).cmp(&(*b_id == writer)))
            })
            .map(|(_, scope)| scope)
    }
}
