//! WASI 0.2 for components built for `wasm32-wasip2` (or by componentize-py
//! and componentize-js), which import it even when they use none of it.
//! Nothing is granted: no files, no network, no environment, no arguments,
//! and a stdout and stderr that go nowhere; clocks and randomness work.

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capabilities::{Capability, ModuleSetup};
use crate::config::RuntimeConfig;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;

/// The WASI 0.2 capability.
pub struct Wasi;

/// WASI's state for one call: made on first use, so that modules without
/// WASI never pay for it.
#[derive(Default)]
pub struct WasiCall {
    ctx: Option<WasiCtx>,
    /// Resources handed to the guest through WASI.
    table: ResourceTable,
}

impl Capability for Wasi {
    type Host = ();
    type Module = ();
    type Call = WasiCall;

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wasmtime_wasi::p2::add_to_linker_async(linker)
    }

    async fn start(_config: &RuntimeConfig) -> anyhow::Result<()> {
        Ok(())
    }

    fn for_module(_host: &(), _module: &ModuleSetup<'_>) -> anyhow::Result<()> {
        Ok(())
    }

    fn for_call(_module: &(), _limits: &ModuleLimits) -> WasiCall {
        WasiCall::default()
    }
}

// wasmtime-wasi reaches its state through `WasiView` on the store's data.
impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let call = &mut self.capabilities.wasi;
        WasiCtxView {
            ctx: call.ctx.get_or_insert_with(|| WasiCtx::builder().build()),
            table: &mut call.table,
        }
    }
}
