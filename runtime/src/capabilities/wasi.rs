//! WASI 0.2 for components built for `wasm32-wasip2` (or by componentize-py
//! and componentize-js), which import it even when they use none of it.
//! Nothing is granted: no files, no network, no environment, no arguments.

use wasmtime::Result;
use wasmtime::component::Linker;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::host_state::HostState;

/// Links WASI 0.2.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(|| WasiCtx::builder().build()),
            table: &mut self.table,
        }
    }
}
