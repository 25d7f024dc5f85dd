//! The services the runtime offers guests that outlive a call (database and
//! cache): started once from the config and shared by every module.

use std::time::Duration;

use anyhow::{Result, anyhow};
use modhost_cache::{CacheStore, EmbeddedCache, Quotas, RedisCache, ScopedCache};
use modhost_docstore::{DocumentStore, EmbeddedStore, Limits, MongoStore};

use crate::config::{CacheBackend, DbBackend, RuntimeConfig};
use crate::long_calls::LongCallLane;

/// The services, started once and shared by every module.
#[derive(Clone)]
pub struct HostServices {
    /// The document database.
    pub db: DocumentStore,
    /// The worker threads long-running guest calls take turns on.
    pub long_calls: LongCallLane,
    cache: CacheStore,
    cache_prefix: String,
    cache_quotas: Quotas,
}

impl HostServices {
    /// Starts what `config` asks for. Errors name the config file.
    pub async fn start(config: &RuntimeConfig) -> Result<HostServices> {
        Ok(HostServices {
            db: open_db(config).await?,
            long_calls: LongCallLane::for_workers(
                tokio::runtime::Handle::current().metrics().num_workers(),
            ),
            cache: open_cache(config)?,
            cache_prefix: config.cache.key_prefix.clone(),
            cache_quotas: Quotas {
                max_value_bytes: config.cache.max_value_bytes,
                // Each module's own `cache_bytes` replaces this in cache_for.
                max_bytes: config.cache.max_bytes,
                max_ops_per_second: config.cache.max_ops_per_second,
            },
        })
    }

    /// The cache as `module` of `tenant` sees it, under its own quotas,
    /// holding at most `max_bytes` of its own entries.
    pub fn cache_for(&self, tenant: &str, module: &str, max_bytes: usize) -> Result<ScopedCache> {
        let quotas = Quotas {
            max_bytes,
            ..self.cache_quotas
        };
        ScopedCache::new(
            self.cache.clone(),
            &self.cache_prefix,
            tenant,
            module,
            quotas,
        )
        .map_err(|why| anyhow!("module {module}: {why}"))
    }
}

/// Opens the document database `config` asks for. An error names the
/// config file and what to change.
async fn open_db(config: &RuntimeConfig) -> Result<DocumentStore> {
    let file = config.source.display();
    let db = &config.db;
    let limits = Limits {
        max_document_bytes: db.max_document_bytes,
        max_find_documents: db.max_find_documents,
        max_query_bytes: db.max_query_bytes,
        max_examined_documents: db.max_examined_documents,
    };
    match db.backend {
        DbBackend::Embedded => {
            let path = config.db_path();
            let store = EmbeddedStore::open(&path, limits)
                .map_err(|why| anyhow!("{file}: db.path: {why}"))?;
            tracing::info!(path = %path.display(), "documents are kept in the embedded database");
            Ok(DocumentStore::Embedded(store))
        }
        DbBackend::Mongodb => {
            let uri = db.uri.as_deref().unwrap_or_default();
            let timeout = Duration::from_millis(db.timeout_ms);
            let store = MongoStore::connect(uri, &db.database_prefix, timeout, limits)
                .await
                .map_err(|why| anyhow!("{file}: {why}"))?;
            tracing::info!("documents are kept in MongoDB");
            Ok(DocumentStore::Mongo(store))
        }
    }
}

/// Opens the cache `config` asks for. A Redis that is down is no error
/// here: calls fail until it is up.
fn open_cache(config: &RuntimeConfig) -> Result<CacheStore> {
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
