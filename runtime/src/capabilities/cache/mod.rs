//! `cache`: the module's own keys. The module's [`ScopedCache`] puts every
//! key under its tenant and module and enforces its quotas.

mod backend;
mod calls;
mod errors;
#[cfg(test)]
mod tests;

use anyhow::anyhow;
use modhost_cache::{CacheStore, Quotas, RedisCache, ScopedCache};
use wasmtime::component::{HasData, Linker};

use crate::bindings::modhost::module::cache as wit;
use crate::capabilities::{Capability, ModuleSetup};
use crate::config::RuntimeConfig;
use crate::grants::Grant;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;

/// The `cache` capability.
pub struct Cache;

/// The cache the host keeps, and what each module's keys are put under.
pub struct HostCache {
    store: CacheStore,
    key_prefix: String,
    /// The host's quotas; each module's own `cache_bytes` replaces their
    /// `max_bytes`.
    quotas: Quotas,
}

impl HostCache {
    /// The Redis every instance shares, with the key prefix, when the
    /// cache is in Redis.
    pub fn shared_redis(&self) -> Option<(&RedisCache, &str)> {
        match &self.store {
            CacheStore::Redis(redis) => Some((redis, &self.key_prefix)),
            CacheStore::Embedded(_) => None,
        }
    }
}

/// What one host call of `cache` reaches: the module's keys (none when it
/// is not granted `cache`) and its limits.
pub struct CacheView<'a> {
    cache: Option<&'a ScopedCache>,
    module: &'a str,
    tenant: &'a str,
    limits: &'a ModuleLimits,
}

impl HasData for Cache {
    type Data<'a> = CacheView<'a>;
}

impl Capability for Cache {
    type Host = HostCache;
    type Module = Option<ScopedCache>;
    type Call = ();

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, Cache>(linker, |state| CacheView {
            cache: state.module.capabilities.cache.as_ref(),
            module: &state.module.name,
            tenant: &state.module.tenant,
            limits: &state.module.limits,
        })
    }

    async fn start(config: &RuntimeConfig) -> anyhow::Result<HostCache> {
        Ok(HostCache {
            store: backend::open(config)?,
            key_prefix: config.cache.key_prefix.clone(),
            quotas: Quotas {
                max_value_bytes: config.cache.max_value_bytes,
                max_bytes: config.cache.max_bytes,
                max_ops_per_second: config.cache.max_ops_per_second,
            },
        })
    }

    /// A shortcut: modules fall back to the database when it fails, and
    /// global quotas admit, so a Redis outage takes no instance out.
    const BACKEND_REQUIRED: bool = false;

    async fn check_ready(host: &HostCache) -> Result<(), String> {
        host.store.ping().await.map_err(|err| err.to_string())
    }

    /// The cache as the module sees it: its own keys, holding at most its
    /// `cache_bytes`; none when it is not granted `cache`.
    fn for_module(
        host: &HostCache,
        module: &ModuleSetup<'_>,
    ) -> anyhow::Result<Option<ScopedCache>> {
        if !module.grants.contains(&Grant::Cache) {
            return Ok(None);
        }
        let quotas = Quotas {
            max_bytes: module.limits.cache_bytes,
            ..host.quotas
        };
        ScopedCache::new(
            host.store.clone(),
            &host.key_prefix,
            module.tenant,
            module.name,
            quotas,
        )
        .map(Some)
        .map_err(|why| anyhow!("module {}: {why}", module.name))
    }

    fn for_call(_module: &Option<ScopedCache>, _limits: &ModuleLimits) {}
}
