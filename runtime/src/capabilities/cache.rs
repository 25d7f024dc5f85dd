//! `cache`: the module's own keys. The module's [`ScopedCache`] puts every
//! key under its tenant and module and enforces its quotas.
//!
//! [`ScopedCache`]: modhost_cache::ScopedCache

use std::time::Duration;

use modhost_cache::CacheError as StoreError;
use wasmtime::Result;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::modhost::module::cache::{self, CacheError};
use crate::host_state::HostState;

/// Links the `cache` interface.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    cache::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

type CacheResult<T> = std::result::Result<T, CacheError>;

// Each call clones the module's context first: the store's state is not
// shared across threads, so none of it is held across the wait.
impl cache::Host for HostState {
    async fn get(&mut self, key: String) -> CacheResult<Option<Vec<u8>>> {
        let module = self.module.clone();
        module.cache.get(&key).await.map_err(wit_error)
    }

    async fn get_many(&mut self, keys: Vec<String>) -> CacheResult<Vec<Option<Vec<u8>>>> {
        let module = self.module.clone();
        module
            .limits
            .admit_host_call(keys.iter().map(String::len))
            .map_err(CacheError::ValueTooLarge)?;
        module.cache.get_many(&keys).await.map_err(wit_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> CacheResult<()> {
        self.set_many(vec![(key, value)], ttl_ms).await
    }

    async fn set_many(
        &mut self,
        entries: Vec<(String, Vec<u8>)>,
        ttl_ms: Option<u64>,
    ) -> CacheResult<()> {
        let module = self.module.clone();
        let sizes = entries.iter().map(|(key, value)| key.len() + value.len());
        module
            .limits
            .admit_host_call(sizes)
            .map_err(CacheError::ValueTooLarge)?;
        let ttl = ttl_ms.map(Duration::from_millis);
        module.cache.set_many(entries, ttl).await.map_err(wit_error)
    }

    async fn delete(&mut self, key: String) -> CacheResult<bool> {
        let module = self.module.clone();
        module.cache.delete(&key).await.map_err(wit_error)
    }

    async fn incr(&mut self, key: String, delta: i64) -> CacheResult<i64> {
        let module = self.module.clone();
        module.cache.incr(&key, delta).await.map_err(wit_error)
    }

    async fn expire(&mut self, key: String, ttl_ms: u64) -> CacheResult<bool> {
        let module = self.module.clone();
        let ttl = Duration::from_millis(ttl_ms);
        module.cache.expire(&key, ttl).await.map_err(wit_error)
    }
}

fn wit_error(err: StoreError) -> CacheError {
    match err {
        StoreError::Unavailable(m) => CacheError::Unavailable(m),
        StoreError::InvalidKey(m) => CacheError::InvalidKey(m),
        StoreError::ValueTooLarge(m) => CacheError::ValueTooLarge(m),
        StoreError::QuotaExceeded(m) => CacheError::QuotaExceeded(m),
        StoreError::NotANumber(m) => CacheError::NotANumber(m),
    }
}
