//! What a store carries for one guest call: who is calling (module and
//! request) and the call's limits. A store lives for one call only.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde_json::{Map, Value};
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtx;

/// What the host knows about one module for as long as it is loaded; shared
/// by every call into it.
#[derive(Debug)]
pub struct ModuleContext {
    /// The module's name, as configured and as its manifest says.
    pub name: String,
    /// The module's `[modules.<name>.config]` table as JSON.
    pub config: Map<String, Value>,
    /// When `init` finished, once it has.
    pub initialized_at: OnceLock<SystemTime>,
}

impl ModuleContext {
    /// A context for `name` with its own config table.
    pub fn new(name: impl Into<String>, config: Map<String, Value>) -> Self {
        Self {
            name: name.into(),
            config,
            initialized_at: OnceLock::new(),
        }
    }
}

/// The data of one store: one call of one module.
pub struct HostState {
    /// The module being called.
    pub module: Arc<ModuleContext>,
    /// The request this call serves, or a label such as `startup`.
    pub request_id: Arc<str>,
    /// Memory limits of this call.
    pub limits: StoreLimits,
    /// WASI for components that import it (those built for wasm32-wasip2);
    /// made on first use so that modules without WASI never pay for it.
    pub wasi: Option<WasiCtx>,
    /// Resources handed to the guest through WASI.
    pub table: ResourceTable,
}

impl HostState {
    /// The state of a call into `module` for `request_id`, with memory capped
    /// at `max_memory_bytes` per linear memory.
    pub fn new(module: Arc<ModuleContext>, request_id: Arc<str>, max_memory_bytes: usize) -> Self {
        Self {
            module,
            request_id,
            limits: StoreLimitsBuilder::new()
                .memory_size(max_memory_bytes)
                .instances(16)
                .build(),
            wasi: None,
            table: ResourceTable::new(),
        }
    }
}
