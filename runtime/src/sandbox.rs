//! Calls into one module, each in a fresh instance with its own store, the
//! module's own context and a deadline. Nothing survives from one call to
//! the next, so a trap or a corrupted guest heap cannot leak into the next
//! request.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Result;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

use crate::bindings::{self, Health, Manifest, Request, Response};
use crate::engine::{MAX_MEMORY_BYTES, deadline_ticks};
use crate::host_state::{HostState, ModuleContext};

/// A module ready to be instantiated: compiled, linked and type-checked
/// against the world once, at load.
pub struct ModuleSandbox {
    pre: bindings::ModulePre<HostState>,
    context: Arc<ModuleContext>,
    timeout: Duration,
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
        let pre = bindings::ModulePre::new(instance_pre)?;
        Ok(Self {
            pre,
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
        let (mut store, guest) = self.instantiate("startup", 0).await?;
        self.finish(guest.call_describe(&mut store).await)
    }

    /// Calls `init`; the inner error is the module's own reason.
    pub async fn init(&self) -> Result<Result<(), String>, CallError> {
        let (mut store, guest) = self.instantiate("startup", 0).await?;
        self.finish(guest.call_init(&mut store).await)
    }

    /// Calls `handle` for one request, `call_depth` module calls deep.
    pub async fn handle(&self, request: &Request, call_depth: u32) -> Result<Response, CallError> {
        let (mut store, guest) = self.instantiate(&request.request_id, call_depth).await?;
        self.finish(guest.call_handle(&mut store, request).await)
    }

    /// Calls `health`.
    pub async fn health(&self, request_id: &str) -> Result<Health, CallError> {
        let (mut store, guest) = self.instantiate(request_id, 0).await?;
        self.finish(guest.call_health(&mut store).await)
    }

    async fn instantiate(
        &self,
        request_id: &str,
        call_depth: u32,
    ) -> Result<(Store<HostState>, bindings::Module), CallError> {
        let engine: &Engine = self.pre.engine();
        let state = HostState::new(
            self.context.clone(),
            request_id.into(),
            call_depth,
            MAX_MEMORY_BYTES,
        );
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(deadline_ticks(self.timeout));
        let guest = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|err| err.context("could not instantiate the module"))
            .map_err(|err| self.classify(err))?;
        Ok((store, guest))
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
