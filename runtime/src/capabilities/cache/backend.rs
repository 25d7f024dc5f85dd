//! The cache the config asks for: in memory or Redis.

use std::time::Duration;

use anyhow::{Result, anyhow};
use modhost_cache::{CacheStore, EmbeddedCache, RedisCache};

use crate::config::{CacheBackend, RuntimeConfig};

/// Opens the cache `config` asks for. A Redis that is down is no error
/// here: calls fail until it is up.
pub(super) fn open(config: &RuntimeConfig) -> Result<CacheStore> {
    let file = config.source.display();
    let cache = &config.cache;
    match cache.backend {
        CacheBackend::Embedded => Ok(CacheStore::Embedded(EmbeddedCache::new(cache.max_bytes))),
        CacheBackend::Redis => {
            let url = cache.url.as_deref().unwrap_or_default();
            let timeout = Duration::from_millis(cache.timeout_ms);
            let redis =
                RedisCache::connect(url, timeout).map_err(|why| anyhow!("{file}: {why}"))?;
            tracing::info!("the cache is kept in Redis");
            Ok(CacheStore::Redis(redis))
        }
    }
}
