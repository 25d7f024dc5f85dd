//! `modules`: a module calls a module it declared as a dependency. The call
//! goes through the callee's own routes into its own sandbox, as part of the
//! same request, one level deeper; anything else is refused with an error
//! the caller can handle.

mod abort_on_drop;
mod call;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Weak};

use wasmtime::component::{HasData, Linker};

use crate::bindings::modhost::module::modules as wit;
use crate::call_budget::CallBudget;
use crate::callable_modules::CallableModules;
use crate::capabilities::{Capability, ModuleSetup};
use crate::config::RuntimeConfig;
use crate::grants::Grant;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;

/// The `modules` capability: calls between modules.
pub struct ModuleCalls;

/// What one module call reaches: who calls, from how deep, within what
/// budget, and the modules that are up.
pub struct CallerView<'a> {
    /// The calling module's name.
    name: &'a str,
    /// Its tenant: the only one whose modules it can call.
    tenant: &'a str,
    /// The modules it declared as dependencies.
    dependencies: &'a [String],
    /// Its limits.
    limits: &'a ModuleLimits,
    /// The request the call is part of.
    request_id: &'a Arc<str>,
    /// How many module calls led to the caller: 0 for a call from the host.
    depth: u32,
    /// The caller's deadline and CPU time, which the callee shares.
    budget: &'a CallBudget,
    /// The modules that are up; none when the caller is not granted
    /// `modules`.
    callable: Option<Arc<CallableModules>>,
}

impl HasData for ModuleCalls {
    type Data<'a> = CallerView<'a>;
}

impl Capability for ModuleCalls {
    type Host = ();
    /// The load's directory, held weakly: the directory holds the modules,
    /// and the set being served holds the directory.
    type Module = Option<Weak<CallableModules>>;
    type Call = ();

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, ModuleCalls>(linker, |state| {
            let module = &*state.module;
            CallerView {
                name: &module.name,
                tenant: &module.tenant,
                dependencies: module.declared_dependencies(),
                limits: &module.limits,
                request_id: &state.request_id,
                depth: state.call_depth,
                budget: &state.budget,
                callable: module.capabilities.modules.as_ref().and_then(Weak::upgrade),
            }
        })
    }

    /// Each load makes its own directory (see [`ModuleSetup::callable`]).
    async fn start(_config: &RuntimeConfig) -> anyhow::Result<()> {
        Ok(())
    }

    /// The load's modules that are up; none for a module not granted
    /// `modules`.
    fn for_module(
        _host: &(),
        module: &ModuleSetup<'_>,
    ) -> anyhow::Result<Option<Weak<CallableModules>>> {
        Ok(module
            .grants
            .contains(&Grant::Modules)
            .then(|| Arc::downgrade(module.callable)))
    }

    fn for_call(_module: &Option<Weak<CallableModules>>, _limits: &ModuleLimits) {}
}
