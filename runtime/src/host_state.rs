//! What a store carries for one guest call: who is calling (module and
//! request) and the call's limits and budget. A store lives for one call
//! only.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use modhost_cache::ScopedCache;
use modhost_docstore::{DbResult, DocumentStore, Namespace, Scope};
use serde_json::{Map, Value};
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtx;

use crate::admission::Admission;
use crate::call_budget::{CallBudget, Exhausted};
use crate::capabilities::LogQuota;
use crate::limits::ModuleLimits;
use crate::long_calls::{LongCallLane, Seat};
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
    /// The module's limits.
    pub limits: ModuleLimits,
    /// Its slots and queue: how many of its calls run at once.
    pub admission: Admission,
    /// The host's seats for long-running calls.
    pub long_calls: LongCallLane,
}

/// The tenant every module belongs to until tenants are configured.
pub const DEFAULT_TENANT: &str = "default";

impl ModuleContext {
    /// A context for `name` with its own config table and limits, calling
    /// other modules through `directory` and using the host's `services`.
    pub fn new(
        name: &str,
        config: Map<String, Value>,
        limits: ModuleLimits,
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
                .map_err(|err| anyhow::anyhow!("module {name}: {err}"))?
                .with_max_bytes(limits.db_bytes),
            cache: services.cache_for(DEFAULT_TENANT, name, limits.cache_bytes)?,
            admission: Admission::new(limits.max_concurrency, limits.max_queue),
            long_calls: services.long_calls.clone(),
            limits,
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
    /// The call's deadline and CPU time.
    pub budget: CallBudget,
    /// The seat the call holds while it runs, once it is long-running.
    pub seat: Seat,
    /// Which budget the epoch callback found spent, once it has.
    pub exhausted: Option<Exhausted>,
    /// What the guest may still log in this call.
    pub log_quota: LogQuota,
    /// Memory limits of this call.
    pub limits: StoreLimits,
    /// WASI for components that import it (those built for wasm32-wasip2);
    /// made on first use so that modules without WASI never pay for it.
    pub wasi: Option<WasiCtx>,
    /// Resources handed to the guest through WASI.
    pub table: ResourceTable,
}

impl HostState {
    /// The state of a call into `module` for `request_id` at `call_depth`
    /// within `budget`, under the module's limits.
    pub fn new(
        module: Arc<ModuleContext>,
        request_id: Arc<str>,
        call_depth: u32,
        budget: CallBudget,
    ) -> Self {
        let limits = &module.limits;
        Self {
            log_quota: LogQuota::new(limits.log_bytes, limits.log_lines),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(16)
                .build(),
            module,
            request_id,
            call_depth,
            budget,
            seat: Seat::default(),
            exhausted: None,
            wasi: None,
            table: ResourceTable::new(),
        }
    }
}
