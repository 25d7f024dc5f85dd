//! WASI 0.2 and `wasi:http` for components built for `wasm32-wasip2` (or by
//! componentize-py and componentize-js), which import them even when they
//! use none of them. Nothing is granted: no files, no sockets, no
//! environment, no arguments, no stdin; stdout and stderr go to the host's
//! log ([`output`]); clocks and randomness work; outgoing HTTP requests
//! reach only the origins of the module's `outbound_hosts` ([`outbound`]).

mod outbound;
mod output;

use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::log::LogQuota;
use crate::capabilities::{Capability, ModuleSetup};
use crate::config::RuntimeConfig;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;
use crate::outbound_hosts::OutboundHosts;

use outbound::OutboundPolicy;
use output::{GuestOutput, Stream};

/// The WASI capability.
pub struct Wasi;

/// WASI's state for one call: the contexts are made on first use, so that
/// modules without WASI never pay for them.
pub struct WasiCall {
    ctx: Option<WasiCtx>,
    /// The call's stdout and stderr, once made, to log a last unended line.
    outputs: Option<[GuestOutput; 2]>,
    http: Option<(WasiHttpCtx, OutboundPolicy)>,
    hosts: Arc<OutboundHosts>,
    /// Resources handed to the guest through WASI and `wasi:http`.
    table: ResourceTable,
}

impl Capability for Wasi {
    type Host = ();
    type Module = Arc<OutboundHosts>;
    type Call = WasiCall;

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wasmtime_wasi::p2::add_to_linker_async(linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
    }

    async fn start(_config: &RuntimeConfig) -> anyhow::Result<()> {
        Ok(())
    }

    fn for_module(_host: &(), module: &ModuleSetup<'_>) -> anyhow::Result<Arc<OutboundHosts>> {
        Ok(Arc::new(module.outbound_hosts.clone()))
    }

    fn for_call(hosts: &Arc<OutboundHosts>, _limits: &ModuleLimits) -> WasiCall {
        WasiCall {
            ctx: None,
            outputs: None,
            http: None,
            hosts: hosts.clone(),
            table: ResourceTable::new(),
        }
    }

    fn end_call(call: &WasiCall, _module: &str, _request_id: &str) {
        for output in call.outputs.iter().flatten() {
            output.finish();
        }
    }

    /// A reused instance keeps its WASI context and resources (the guest
    /// holds handles into them); its outbound policy starts afresh.
    fn renew(call: &mut WasiCall, _hosts: &Arc<OutboundHosts>, _limits: &ModuleLimits) {
        call.http = None;
    }
}

impl WasiCall {
    /// Whether the call used `wasi:http` (sent a request, or made one).
    pub fn used_http(&self) -> bool {
        self.http.is_some()
    }

    /// Logs the guest's output under `request_id` within `quota` from now
    /// on: a reused instance's next call.
    pub fn retarget(&self, request_id: &Arc<str>, quota: LogQuota) {
        for output in self.outputs.iter().flatten() {
            output.retarget(request_id.clone(), quota.clone());
        }
    }
}

// wasmtime-wasi reaches its state through `WasiView` on the store's data.
impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let call = &mut self.capabilities.wasi;
        let ctx = call.ctx.get_or_insert_with(|| {
            let output = |stream| {
                GuestOutput::new(
                    stream,
                    &self.module.name,
                    self.request_id.clone(),
                    self.capabilities.log.clone(),
                )
            };
            let outputs = [output(Stream::Stdout), output(Stream::Stderr)];
            let ctx = WasiCtx::builder()
                .stdout(outputs[0].clone())
                .stderr(outputs[1].clone())
                .build();
            call.outputs = Some(outputs);
            ctx
        });
        WasiCtxView {
            ctx,
            table: &mut call.table,
        }
    }
}

// wasmtime-wasi-http reaches its state through `WasiHttpView`; it shares the
// resource table with WASI (its bodies are WASI streams).
impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let call = &mut self.capabilities.wasi;
        let (ctx, hooks) = call.http.get_or_insert_with(|| {
            let policy = OutboundPolicy::new(
                self.module.name.as_str().into(),
                self.request_id.clone(),
                call.hosts.clone(),
            );
            (WasiHttpCtx::new(), policy)
        });
        WasiHttpCtxView {
            ctx,
            table: &mut call.table,
            hooks,
        }
    }
}
