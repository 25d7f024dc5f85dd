//! What a store carries for one guest call: who is calling (module and
//! request) and the call's limits. A store lives for one call only.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use modhost_cache::ScopedCache;
use modhost_docstore::{DbResult, DocumentStore, Namespace, Scope};
use serde_json::{Map, Value};
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtx;

use crate::module_directory::ModuleDirectory;
use crate::services::HostServices;

/// What the host knows about one module for as long as it is loaded; shared
/// by every call into it.
pub struct ModuleContext {
    /// The module's name, as configured and as its manifest says.
    pub name: String,
    /// The module's `[modules.<name>.config]` table as JSON.
    pub config: Map<String, Value>,
    /// When `init` finished, once it has.
    pub initialized_at: OnceLock<SystemTime>,
    /// The modules it declared as dependencies, once `describe` has run.
    pub dependencies: OnceLock<Vec<String>>,
    /// The modules it may call (only its dependencies among them).
    pub directory: Arc<ModuleDirectory>,
    /// The document database; the module reaches only its own collections.
    pub db: DocumentStore,
    /// The module's place in the database: its tenant and name.
    db_scope: Scope,
    /// The module's own keys in the cache, under its quotas.
    pub cache: ScopedCache,
}

/// The tenant every module belongs to until tenants are configured.
pub const DEFAULT_TENANT: &str = "default";

impl ModuleContext {
    /// A context for `name` with its own config table, calling other
    /// modules through `directory` and using the host's `services`.
    pub fn new(
        name: &str,
        config: Map<String, Value>,
        directory: Arc<ModuleDirectory>,
        services: &HostServices,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.to_string(),
            config,
            initialized_at: OnceLock::new(),
            dependencies: OnceLock::new(),
            directory,
            db: services.db.clone(),
            db_scope: Scope::new(DEFAULT_TENANT, name)
                .map_err(|err| anyhow::anyhow!("module {name}: {err}"))?,
            cache: services.cache_for(DEFAULT_TENANT, name)?,
        })
    }

    /// The module's own collection `collection`, under its tenant.
    pub fn collection(&self, collection: &str) -> DbResult<Namespace> {
        self.db_scope.collection(collection)
    }

    /// Whether the module declared `module` as a dependency.
    pub fn declares_dependency(&self, module: &str) -> bool {
        self.dependencies
            .get()
            .is_some_and(|dependencies| dependencies.iter().any(|d| d == module))
    }
}

/// The data of one store: one call of one module.
pub struct HostState {
    /// The module being called.
    pub module: Arc<ModuleContext>,
    /// The request this call serves, or a label such as `startup`.
    pub request_id: Arc<str>,
    /// How many module calls led to this one: 0 for a call from the host.
    pub call_depth: u32,
    /// Memory limits of this call.
    pub limits: StoreLimits,
    /// WASI for components that import it (those built for wasm32-wasip2);
    /// made on first use so that modules without WASI never pay for it.
    pub wasi: Option<WasiCtx>,
    /// Resources handed to the guest through WASI.
    pub table: ResourceTable,
}

impl HostState {
    /// The state of a call into `module` for `request_id` at `call_depth`,
    /// with memory capped at `max_memory_bytes` per linear memory.
    pub fn new(
        module: Arc<ModuleContext>,
        request_id: Arc<str>,
        call_depth: u32,
        max_memory_bytes: usize,
    ) -> Self {
        Self {
            module,
            request_id,
            call_depth,
            limits: StoreLimitsBuilder::new()
                .memory_size(max_memory_bytes)
                .instances(16)
                .build(),
            wasi: None,
            table: ResourceTable::new(),
        }
    }
}
