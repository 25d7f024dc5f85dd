//! modhost's cache.
//!
//! Guests get and set byte values under string keys, with TTLs. Each module
//! reaches the cache through a [`ScopedCache`]: every key it passes is put
//! under `<prefix>:<tenant>:<module>:`, which no key can escape (tenant and
//! module names hold no `:`), and its quotas (value size, calls per second)
//! are enforced there, the same for both backends: [`EmbeddedCache`] (the
//! runtime's memory, LRU-bounded) and [`RedisCache`]. The quota on the bytes
//! a module holds applies to the embedded cache only (see
//! [`Quotas::max_bytes`]).

mod embedded;
mod error;
mod rate;
mod redis_cache;

use std::time::Duration;

pub use embedded::{ENTRY_OVERHEAD_BYTES, EmbeddedCache};
pub use error::{CacheError, CacheResult};
pub use redis_cache::RedisCache;

use rate::RateLimiter;

/// The longest key a guest may pass, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// The longest TTL a guest may give: ten years. Longer ones are refused
/// rather than clamped (a guest asking for more is confused, and Redis
/// would read a huge millisecond count as negative and delete the key).
pub const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The cache a runtime serves its guests from.
#[derive(Clone)]
pub enum CacheStore {
    /// In the runtime's memory.
    Embedded(EmbeddedCache),
    /// In Redis.
    Redis(RedisCache),
}

impl CacheStore {
    /// Whether the cache answers: always in memory; a PING within
    /// `cache.timeout_ms` on Redis.
    pub async fn ping(&self) -> CacheResult<()> {
        match self {
            CacheStore::Embedded(_) => Ok(()),
            CacheStore::Redis(cache) => cache.ping().await,
        }
    }
}

/// Limits on one module's use of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// The largest value, in bytes.
    pub max_value_bytes: usize,
    /// The most bytes the module's live entries may hold (keys, as the
    /// module names them, and values), in the embedded cache. A write that
    /// would pass it evicts the module's own least recently used entries,
    /// never another module's (the rules are on [`EmbeddedCache`]); a write
    /// larger than the whole quota is refused with
    /// [`CacheError::ValueTooLarge`], as is an `incr` that would make a new
    /// key that does not fit.
    ///
    /// On Redis this quota does not apply: Redis has no memory limit per
    /// key prefix, so what bounds a module there is the operator's Redis
    /// `maxmemory` and eviction policy, shared by every module.
    pub max_bytes: usize,
    /// The most calls per second (a key of a `get-many` or `set-many`
    /// counts as one call).
    pub max_ops_per_second: u32,
}

/// One module's view of the cache: its own keys, under its own quotas.
pub struct ScopedCache {
    store: CacheStore,
    prefix: String,
    quotas: Quotas,
    rate: RateLimiter,
}

impl ScopedCache {
    /// The cache of `module` under `tenant`, with keys under
    /// `<prefix>:<tenant>:<module>:`. Names are the runtime's checked names
    /// (`a-z 0-9 _ -`); a name with anything else is refused.
    pub fn new(
        store: CacheStore,
        prefix: &str,
        tenant: &str,
        module: &str,
        quotas: Quotas,
    ) -> Result<ScopedCache, String> {
        for (what, name) in [("prefix", prefix), ("tenant", tenant), ("module", module)] {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !ok {
                return Err(format!(
                    "cache {what} {name:?} is not valid: use a-z, 0-9, '_' and '-'"
                ));
            }
        }
        Ok(ScopedCache {
            store,
            prefix: format!("{prefix}:{tenant}:{module}:"),
            rate: RateLimiter::new(quotas.max_ops_per_second),
            quotas,
        })
    }

    /// Refuses a key that is empty or too long.
    fn check_ttl(ttl: Duration) -> CacheResult<()> {
        if ttl > MAX_TTL {
            return Err(CacheError::InvalidTtl(format!(
                "a TTL may be at most {} ms (ten years), this one is {} ms; pass no TTL for an entry that never expires",
                MAX_TTL.as_millis(),
                ttl.as_millis()
            )));
        }
        Ok(())
    }

    fn check_key(key: &str) -> CacheResult<()> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(CacheError::InvalidKey(format!(
                "a cache key must be 1 to {MAX_KEY_BYTES} bytes, this one is {}",
                key.len()
            )));
        }
        Ok(())
    }

    /// `key` as stored in Redis, under the scope's prefix. The embedded
    /// cache keeps each scope apart and takes the prefix as the scope.
    fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn admit(&self, calls: usize) -> CacheResult<()> {
        if self.rate.take(calls) {
            Ok(())
        } else {
            Err(CacheError::QuotaExceeded(format!(
                "more than {} cache calls in one second (cache.max_ops_per_second); slow down or raise the quota",
                self.quotas.max_ops_per_second
            )))
        }
    }

    fn check_value(&self, value: &[u8]) -> CacheResult<()> {
        if value.len() > self.quotas.max_value_bytes {
            return Err(CacheError::ValueTooLarge(format!(
                "the value is {} bytes; the limit is {} (cache.max_value_bytes)",
                value.len(),
                self.quotas.max_value_bytes
            )));
        }
        Ok(())
    }

    /// The value of `key`, if set and not expired.
    pub async fn get(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        let mut values = self.get_many(&[key.to_string()]).await?;
        Ok(values.pop().flatten())
    }

    /// The values of `keys`, in order.
    pub async fn get_many(&self, keys: &[String]) -> CacheResult<Vec<Option<Vec<u8>>>> {
        for key in keys {
            Self::check_key(key)?;
        }
        self.admit(keys.len())?;
        match &self.store {
            CacheStore::Embedded(cache) => {
                Ok(keys.iter().map(|k| cache.get(&self.prefix, k)).collect())
            }
            CacheStore::Redis(cache) => {
                let keys: Vec<String> = keys.iter().map(|k| self.redis_key(k)).collect();
                cache.get_many(&keys).await
            }
        }
    }

    /// Stores `value` under `key`, expiring after `ttl` if given.
    pub async fn set(&self, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> CacheResult<()> {
        self.set_many(vec![(key.to_string(), value)], ttl).await
    }

    /// Stores every entry (all or, on a refused one, none) with one TTL.
    pub async fn set_many(
        &self,
        entries: Vec<(String, Vec<u8>)>,
        ttl: Option<Duration>,
    ) -> CacheResult<()> {
        if let Some(ttl) = ttl {
            Self::check_ttl(ttl)?;
        }
        for (key, value) in &entries {
            self.check_value(value)?;
            Self::check_key(key)?;
        }
        self.admit(entries.len())?;
        match &self.store {
            CacheStore::Embedded(cache) => {
                cache.set_many(&self.prefix, self.quotas.max_bytes, entries, ttl)
            }
            CacheStore::Redis(cache) => {
                let entries: Vec<_> = entries
                    .into_iter()
                    .map(|(key, value)| (self.redis_key(&key), value))
                    .collect();
                cache.set_many(&entries, ttl).await
            }
        }
    }

    /// Removes `key`; says whether it was there.
    pub async fn delete(&self, key: &str) -> CacheResult<bool> {
        Self::check_key(key)?;
        self.admit(1)?;
        match &self.store {
            CacheStore::Embedded(cache) => Ok(cache.delete(&self.prefix, key)),
            CacheStore::Redis(cache) => cache.delete(&self.redis_key(key)).await,
        }
    }

    /// Adds `delta` to the integer (as decimal text) at `key`, atomically;
    /// a missing key counts from 0.
    pub async fn incr(&self, key: &str, delta: i64) -> CacheResult<i64> {
        Self::check_key(key)?;
        self.admit(1)?;
        match &self.store {
            CacheStore::Embedded(cache) => {
                cache.incr(&self.prefix, self.quotas.max_bytes, key, delta)
            }
            CacheStore::Redis(cache) => cache.incr(&self.redis_key(key), delta).await,
        }
    }

    /// Makes an existing key expire after `ttl`; says whether it exists.
    pub async fn expire(&self, key: &str, ttl: Duration) -> CacheResult<bool> {
        Self::check_ttl(ttl)?;
        Self::check_key(key)?;
        self.admit(1)?;
        match &self.store {
            CacheStore::Embedded(cache) => Ok(cache.expire(&self.prefix, key, ttl)),
            CacheStore::Redis(cache) => cache.expire(&self.redis_key(key), ttl).await,
        }
    }

    /// The bytes (keys, values and overhead) of the module's live entries in the
    /// embedded cache, which count against [`Quotas::max_bytes`]; `None` on
    /// Redis, which does not count them per module.
    pub fn used_bytes(&self) -> Option<usize> {
        match &self.store {
            CacheStore::Embedded(cache) => Some(cache.used_bytes(&self.prefix)),
            CacheStore::Redis(_) => None,
        }
    }
}
