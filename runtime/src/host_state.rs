//! What a store carries for one guest call: who is calling (module and
//! request), the call's limits and budget, and each capability's state for
//! the call. A store lives for one call, or, under `instance_reuse`, for
//! several calls of one principal, renewed before each.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use wasmtime::{StoreLimits, StoreLimitsBuilder};

use crate::admission::Admission;
use crate::call_budget::{CallBudget, Exhausted};
use crate::callable_modules::CallableModules;
use crate::capabilities::{CallCapabilities, HostCapabilities, ModuleCapabilities, ModuleSetup};
use crate::config::ModuleConfig;
use crate::grants::Grants;
use crate::instance_reuse::InstanceReuse;
use crate::limits::ModuleLimits;
use crate::long_calls::{LongCallLane, Seat};
use crate::metrics::ModuleMeters;
use crate::sandbox::GuestCall;

/// What the host knows about one module for as long as it is loaded; shared
/// by every call into it.
pub struct ModuleContext {
    /// The module's name, as configured and as its manifest says.
    pub name: String,
    /// The tenant it is deployed for.
    pub tenant: String,
    /// When `init` finished, once it has.
    pub initialized_at: OnceLock<SystemTime>,
    /// The modules it declared as dependencies, once `describe` has run.
    pub dependencies: OnceLock<Vec<String>>,
    /// The module's limits.
    pub limits: ModuleLimits,
    /// What its config grants it.
    pub grants: Grants,
    /// The path a `wasi:http/proxy` component is served under; `None` for
    /// a module of the `module` world.
    pub mount: Option<String>,
    /// Whether its instances serve several requests, and how many.
    pub instance_reuse: Option<InstanceReuse>,
    /// Its slots and queue: how many of its calls run at once.
    pub admission: Arc<Admission>,
    /// Its series in `/metrics`.
    pub meters: ModuleMeters,
    /// The host's seats for long-running calls.
    pub long_calls: LongCallLane,
    /// Each capability's state for this module.
    pub capabilities: ModuleCapabilities,
}

/// The tenant of the top-level `[modules]`, served on every host at `/`.
pub const DEFAULT_TENANT: &str = "default";

/// What a load gives each of its modules.
pub struct Deploying<'a> {
    /// Every capability, started for the host.
    pub capabilities: &'a HostCapabilities,
    /// The load's modules that serve calls.
    pub callable: &'a Arc<CallableModules>,
    /// The module's slots.
    pub admission: Arc<Admission>,
}

impl ModuleContext {
    /// A context for `name` of `tenant` with its own config table, limits and grants,
    /// set up by every capability of the load, taking turns on `long_calls`.
    pub fn new(
        name: &str,
        tenant: &str,
        config: &ModuleConfig,
        limits: ModuleLimits,
        deploying: Deploying<'_>,
        long_calls: LongCallLane,
    ) -> anyhow::Result<Self> {
        let capabilities = deploying.capabilities.for_module(&ModuleSetup {
            name,
            tenant,
            config: &config.config,
            limits: &limits,
            grants: &config.grants,
            outbound_hosts: &config.outbound_hosts,
            callable: deploying.callable,
        })?;
        Ok(Self {
            name: name.to_string(),
            tenant: tenant.to_string(),
            initialized_at: OnceLock::new(),
            dependencies: OnceLock::new(),
            admission: deploying.admission,
            meters: crate::metrics::host().module(tenant, name),
            long_calls,
            limits,
            grants: config.grants.clone(),
            mount: config.mount.clone(),
            instance_reuse: config.instance_reuse.clone(),
            capabilities,
        })
    }

    /// The modules it declared as dependencies; none before `describe`.
    pub fn declared_dependencies(&self) -> &[String] {
        self.dependencies.get().map_or(&[], Vec::as_slice)
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
    /// Memory limits of this call.
    pub limits: StoreLimits,
    /// Each capability's state for this call.
    pub capabilities: CallCapabilities,
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
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(16)
                .build(),
            capabilities: module.capabilities.for_call(limits),
            module,
            request_id,
            call_depth,
            budget,
            seat: Seat::default(),
            exhausted: None,
        }
    }

    /// Makes the state of a reused instance's store that of `call`: its
    /// request, depth and budget, fresh per-call capability state (the
    /// guest's WASI resources stay, and its output is logged under the
    /// new request).
    pub fn renew(&mut self, call: &GuestCall) {
        self.request_id = call.request_id.clone();
        self.call_depth = call.depth;
        self.budget = CallBudget::new(call.deadline, call.cpu_limit);
        self.seat = Seat::default();
        self.exhausted = None;
        let module = &self.module;
        self.capabilities
            .renew(&module.capabilities, &module.limits);
        let log = self.capabilities.log.clone();
        self.capabilities.wasi.retarget(&self.request_id, log);
    }
}
