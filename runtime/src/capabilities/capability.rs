//! What every capability implements: its state at three lifetimes (the
//! host, one module, one call) and how it links its WIT interfaces.

use std::future::Future;
use std::sync::Arc;

use wasmtime::component::Linker;

use crate::callable_modules::CallableModules;
use crate::config::RuntimeConfig;
use crate::grants::Grants;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;
use crate::outbound_hosts::OutboundHosts;

/// One capability the host offers guests: a WIT interface (or a few) and
/// the state behind it. Its host trait is implemented on a view of its own
/// (borrowed from the store for one host call), never on the whole store.
pub trait Capability {
    /// Kept for the whole host, started once from the config: a backend
    /// connection, the modules that can be called. `()` when there is none.
    type Host: Send + Sync + 'static;
    /// Kept for one module for as long as it is loaded, made once at load:
    /// its scope in a backend, its settings. `()` when there is none.
    type Module: Send + Sync + 'static;
    /// Kept for one call into the module: what the call may still use.
    /// `()` when there is none.
    type Call: Send + 'static;

    /// Links the capability's interfaces, each reaching its view of the
    /// store through a getter.
    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()>;

    /// Starts the host's part from `config`; an error names the config file
    /// and the key to change.
    fn start(config: &RuntimeConfig) -> impl Future<Output = anyhow::Result<Self::Host>>;

    /// Sets the capability up for one module; an error names the module
    /// and the key to change.
    fn for_module(host: &Self::Host, module: &ModuleSetup<'_>) -> anyhow::Result<Self::Module>;

    /// The state of one call into the module.
    fn for_call(module: &Self::Module, limits: &ModuleLimits) -> Self::Call;

    /// Whether the host can serve without this capability's backend: a
    /// readiness probe fails when a required backend is down, and only
    /// reports one that is not.
    const BACKEND_REQUIRED: bool = true;

    /// Whether the backend the host's part talks to answers, for the
    /// readiness probe; an error says what is down. Without a backend of
    /// its own a capability is always ready.
    fn check_ready(_host: &Self::Host) -> impl Future<Output = Result<(), String>> + Send {
        std::future::ready(Ok(()))
    }

    /// Reports what the call counted, once it has ended.
    fn end_call(_call: &Self::Call, _module: &str, _request_id: &str) {}

    /// Readies a reused instance's call state for its next call: by
    /// default, the state of a fresh call.
    fn renew(call: &mut Self::Call, module: &Self::Module, limits: &ModuleLimits) {
        *call = Self::for_call(module, limits);
    }
}

/// What a capability is told about a module when the module loads.
pub struct ModuleSetup<'a> {
    /// The module's name under `[modules.<name>]`.
    pub name: &'a str,
    /// The tenant it belongs to.
    pub tenant: &'a str,
    /// Its `[modules.<name>.config]` table.
    pub config: &'a toml::Table,
    /// Its settled limits.
    pub limits: &'a ModuleLimits,
    /// What its config grants it.
    pub grants: &'a Grants,
    /// The origins it may send HTTP requests to.
    pub outbound_hosts: &'a OutboundHosts,
    /// The modules of its load that serve calls (its tenant's among them).
    pub callable: &'a Arc<CallableModules>,
}
