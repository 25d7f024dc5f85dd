//! The module's own cache: bytes under string keys, with TTLs.
//!
//! The cache is a shortcut, never the record: every call can fail (the
//! cache server may be down), so read through it to the database with
//! [`read_through`], which falls back to loading when the cache fails:
//!
//! ```no_run
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize)]
//! # struct User { name: String }
//! # fn load_user(id: &str) -> modhost_sdk::Result<User> { Ok(User { name: id.into() }) }
//! # fn handler(id: &str) -> modhost_sdk::Result<()> {
//! use std::time::Duration;
//! let user = modhost_sdk::cache::read_through(&format!("user:{id}"), Duration::from_secs(300), || load_user(id))?;
//! // user.value is the User; user.from_cache says where it came from.
//! # Ok(())
//! # }
//! ```
//!
//! and invalidate with [`delete`] whenever the record changes.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::modhost::module::cache as host;
pub use crate::bindings::modhost::module::cache::CacheError;
use crate::error::HostError;

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The value of `key`, if set and not expired.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, CacheError> {
    host::get(key)
}

/// The values of several keys, in order.
pub fn get_many(keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    host::get_many(&keys)
}

/// Stores `value` under `key`, expiring after `ttl` if given.
pub fn set(key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
    host::set(key, value, ttl.map(millis))
}

/// Stores several entries at once, with one TTL for all.
pub fn set_many(entries: &[(&str, &[u8])], ttl: Option<Duration>) -> Result<(), CacheError> {
    let entries: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    host::set_many(&entries, ttl.map(millis))
}

/// Removes `key`; true when it was there.
pub fn delete(key: &str) -> Result<bool, CacheError> {
    host::delete(key)
}

/// Adds `delta` to the integer at `key` (0 when missing), atomically.
pub fn incr(key: &str, delta: i64) -> Result<i64, CacheError> {
    host::incr(key, delta)
}

/// Makes an existing key expire after `ttl`; true when it exists.
pub fn expire(key: &str, ttl: Duration) -> Result<bool, CacheError> {
    host::expire(key, millis(ttl))
}

/// The JSON value at `key`; a value that does not decode as `T` is a miss.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, CacheError> {
    Ok(get(key)?.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Stores `value` as JSON under `key`.
pub fn set_json<T: Serialize + ?Sized>(
    key: &str,
    value: &T,
    ttl: Option<Duration>,
) -> Result<(), CacheError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|err| CacheError::InvalidKey(format!("could not encode the value: {err}")))?;
    set(key, &bytes, ttl)
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached<T> {
    /// The value.
    pub value: T,
    /// True when the cache had it; false when it was loaded.
    pub from_cache: bool,
}

/// Cache-aside: the value at `key` if the cache has it, else `load()`'s,
/// which is then cached for `ttl`. When the cache fails, the loaded value
/// is returned all the same (and the failure logged): the cache can make
/// a request faster, never make it fail. An error of `load` is returned
/// and nothing is cached.
pub fn read_through<T, E>(
    key: &str,
    ttl: Duration,
    load: impl FnOnce() -> Result<T, E>,
) -> Result<Cached<T>, E>
where
    T: Serialize + DeserializeOwned,
{
    let cache_up = match get_json::<T>(key) {
        Ok(Some(value)) => {
            return Ok(Cached {
                value,
                from_cache: true,
            });
        }
        Ok(None) => true,
        Err(err) => {
            crate::warn!(
                "cache read of {key} failed, loading instead: {}",
                err.message()
            );
            !matches!(err, CacheError::Unavailable(_))
        }
    };
    let value = load()?;
    if cache_up && let Err(err) = set_json(key, &value, Some(ttl)) {
        crate::warn!("could not cache {key}: {}", err.message());
    }
    Ok(Cached {
        value,
        from_cache: false,
    })
}

/// Forgets `key` after a change to what it caches; a failure is logged,
/// and the entry's TTL bounds how long it may be stale.
pub fn invalidate(key: &str) {
    if let Err(err) = delete(key) {
        crate::warn!("could not invalidate {key}: {}", err.message());
    }
}

/// A cache failure as an HTTP answer: 503 when the cache is unavailable,
/// 429 over the module's call rate, 413 for a value too large, else 500.
impl HostError for CacheError {
    fn message(&self) -> &str {
        match self {
            CacheError::Unavailable(why)
            | CacheError::InvalidKey(why)
            | CacheError::ValueTooLarge(why)
            | CacheError::QuotaExceeded(why)
            | CacheError::NotANumber(why)
            | CacheError::InvalidTtl(why)
            | CacheError::NotGranted(why) => why,
        }
    }

    fn status(&self) -> u16 {
        match self {
            CacheError::Unavailable(_) => 503,
            CacheError::QuotaExceeded(_) => 429,
            CacheError::ValueTooLarge(_) => 413,
            _ => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cache_error_has_its_status_and_message() {
        let why = || "why".to_string();
        let cases = [
            (CacheError::Unavailable(why()), 503),
            (CacheError::QuotaExceeded(why()), 429),
            (CacheError::ValueTooLarge(why()), 413),
            (CacheError::InvalidKey(why()), 500),
            (CacheError::NotANumber(why()), 500),
            (CacheError::InvalidTtl(why()), 500),
            (CacheError::NotGranted(why()), 500),
        ];
        crate::error::assert_statuses(cases);
    }
}
