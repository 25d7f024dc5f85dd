//! Calls into one module, each in a fresh instance with its own store, the
//! module's own context and a deadline. Nothing survives from one call to
//! the next, so a trap or a corrupted guest heap cannot leak into the next
//! request.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Result;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, InstancePre, Lift, Linker, Lower,
};
use wasmtime::{Store, Trap};

use crate::bindings::{self, Health, Manifest, Request, Response};
use crate::engine::{MAX_MEMORY_BYTES, deadline_ticks};
use crate::host_state::{HostState, ModuleContext};

/// A module ready to be instantiated: compiled, linked and type-checked
/// against the world once, at load.
pub struct ModuleSandbox {
    pre: InstancePre<HostState>,
    exports: WorldExports,
    context: Arc<ModuleContext>,
    timeout: Duration,
}

/// Where the world's exports are in the component, found once at load so a
/// call looks up only the function it makes (the generated bindings look up
/// and type-check all four on every instantiation).
struct WorldExports {
    describe: ComponentExportIndex,
    init: ComponentExportIndex,
    handle: ComponentExportIndex,
    health: ComponentExportIndex,
}

impl WorldExports {
    fn find(component: &Component) -> Result<Self> {
        let index = |name: &str| {
            component
                .get_export_index(None, name)
                .ok_or_else(|| wasmtime::format_err!("the component does not export `{name}`"))
        };
        Ok(Self {
            describe: index("describe")?,
            init: index("init")?,
            handle: index("handle")?,
            health: index("health")?,
        })
    }
}

/// Why a guest call failed. The message is for logs; [`CallError::public`]
/// is what a client may see.
#[derive(Debug)]
pub enum CallError {
    /// The guest ran past its time limit and was stopped.
    Timeout(Duration),
    /// The guest trapped (a panic, an out-of-bounds access, `unreachable`...)
    /// or the host could not run it.
    Failed(wasmtime::Error),
}

impl CallError {
    /// A short, safe description for the client.
    pub fn public(&self) -> String {
        match self {
            Self::Timeout(limit) => format!("exceeded its time limit of {} ms", limit.as_millis()),
            Self::Failed(err) => match err.downcast_ref::<Trap>() {
                Some(trap) => format!("trapped: {trap}"),
                None => "failed".to_string(),
            },
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout(_) => f.write_str(&self.public()),
            // One line, so each log record stays one line; the chain includes
            // the guest's wasm backtrace where there is one.
            Self::Failed(err) => {
                let text = format!("{err:#}");
                let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
                let first = lines.next().unwrap_or_default();
                write!(f, "{first}")?;
                lines.try_for_each(|line| write!(f, " | {line}"))
            }
        }
    }
}

impl ModuleSandbox {
    /// Links `component` against the world; the error says which import or
    /// export does not fit.
    pub fn new(
        linker: &Linker<HostState>,
        component: &Component,
        context: Arc<ModuleContext>,
        timeout: Duration,
    ) -> Result<Self> {
        let instance_pre = linker.instantiate_pre(component)?;
        // The bindings check every export's name and type against the world,
        // with errors that say which one does not fit.
        bindings::ModulePre::new(instance_pre.clone())?;
        Ok(Self {
            pre: instance_pre,
            exports: WorldExports::find(component)?,
            context,
            timeout,
        })
    }

    /// What the module is told about itself.
    pub fn context(&self) -> &Arc<ModuleContext> {
        &self.context
    }

    /// Calls `describe`.
    pub async fn describe(&self) -> Result<Manifest, CallError> {
        let (manifest,) = self.call("startup", 0, &self.exports.describe, ()).await?;
        Ok(manifest)
    }

    /// Calls `init`; the inner error is the module's own reason.
    pub async fn init(&self) -> Result<Result<(), String>, CallError> {
        let (outcome,) = self.call("startup", 0, &self.exports.init, ()).await?;
        Ok(outcome)
    }

    /// Calls `handle` for one request, `call_depth` module calls deep.
    pub async fn handle(&self, request: &Request, call_depth: u32) -> Result<Response, CallError> {
        let export = &self.exports.handle;
        let (response,) = self
            .call(&request.request_id, call_depth, export, (request,))
            .await?;
        Ok(response)
    }

    /// Calls `health`.
    pub async fn health(&self, request_id: &str) -> Result<Health, CallError> {
        let (health,) = self.call(request_id, 0, &self.exports.health, ()).await?;
        Ok(health)
    }

    /// Calls `export` with `params` in a fresh instance with its own store.
    async fn call<Params, Results>(
        &self,
        request_id: &str,
        call_depth: u32,
        export: &ComponentExportIndex,
        params: Params,
    ) -> Result<Results, CallError>
    where
        Params: ComponentNamedList + Lower + Send + Sync,
        Results: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let state = HostState::new(
            self.context.clone(),
            request_id.into(),
            call_depth,
            MAX_MEMORY_BYTES,
        );
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(deadline_ticks(self.timeout));
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|err| err.context("could not instantiate the module"))
            .map_err(|err| self.classify(err))?;
        let func = instance
            .get_typed_func::<Params, Results>(&mut store, export)
            .map_err(|err| self.classify(err))?;
        self.finish(func.call_async(&mut store, params).await)
    }

    fn finish<T>(&self, result: Result<T>) -> Result<T, CallError> {
        result.map_err(|err| self.classify(err))
    }

    fn classify(&self, err: wasmtime::Error) -> CallError {
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => CallError::Timeout(self.timeout),
            _ => CallError::Failed(err),
        }
    }
}
