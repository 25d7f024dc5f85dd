//! The `cache` interface's calls, on the module's own keys. Keys and values
//! of a batch are measured against `max_host_call_bytes` before the cache
//! sees them.

use std::time::Duration;

use modhost_cache::ScopedCache;

use super::CacheView;
use crate::bindings::modhost::module::cache::{self as wit, CacheError};
use crate::grants::Grant;
use crate::metrics::{Backend, metered};

type CacheResult<T> = std::result::Result<T, CacheError>;

impl wit::Host for CacheView<'_> {
    async fn get(&mut self, key: String) -> CacheResult<Option<Vec<u8>>> {
        let who = (self.tenant, self.module);
        metered(Backend::Cache, who, "get", async {
            Ok(self.cache()?.get(&key).await?)
        })
        .await
    }

    async fn get_many(&mut self, keys: Vec<String>) -> CacheResult<Vec<Option<Vec<u8>>>> {
        let who = (self.tenant, self.module);
        metered(Backend::Cache, who, "get_many", async {
            self.admit(keys.iter().map(String::len))?;
            Ok(self.cache()?.get_many(&keys).await?)
        })
        .await
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> CacheResult<()> {
        self.set_many(vec![(key, value)], ttl_ms).await
    }

    async fn set_many(
        &mut self,
        entries: Vec<(String, Vec<u8>)>,
        ttl_ms: Option<u64>,
    ) -> CacheResult<()> {
        let who = (self.tenant, self.module);
        metered(Backend::Cache, who, "set_many", async {
            self.admit(entries.iter().map(|(key, value)| key.len() + value.len()))?;
            let ttl = ttl_ms.map(Duration::from_millis);
            Ok(self.cache()?.set_many(entries, ttl).await?)
        })
        .await
    }

    async fn delete(&mut self, key: String) -> CacheResult<bool> {
        let who = (self.tenant, self.module);
        metered(Backend::Cache, who, "delete", async {
            Ok(self.cache()?.delete(&key).await?)
        })
        .await
    }

    async fn incr(&mut self, key: String, delta: i64) -> CacheResult<i64> {
        let who = (self.tenant, self.module);
        metered(Backend::Cache, who, "incr", async {
            Ok(self.cache()?.incr(&key, delta).await?)
        })
        .await
    }

    async fn expire(&mut self, key: String, ttl_ms: u64) -> CacheResult<bool> {
        let who = (self.tenant, self.module);
        metered(Backend::Cache, who, "expire", async {
            let ttl = Duration::from_millis(ttl_ms);
            Ok(self.cache()?.expire(&key, ttl).await?)
        })
        .await
    }
}

impl CacheView<'_> {
    /// The module's keys; an error when it is not granted `cache`.
    fn cache(&self) -> CacheResult<&ScopedCache> {
        self.cache
            .ok_or_else(|| CacheError::NotGranted(Grant::Cache.missing(self.tenant, self.module)))
    }

    /// Whether what the guest passed fits the module's `max_host_call_bytes`.
    fn admit(&self, sizes: impl Iterator<Item = usize>) -> CacheResult<()> {
        self.cache()?;
        self.limits
            .admit_host_call(sizes)
            .map_err(CacheError::ValueTooLarge)
    }
}
