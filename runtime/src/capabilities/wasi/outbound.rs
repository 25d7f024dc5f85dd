//! Outgoing HTTP requests of one call (`wasi:http/outgoing-handler`): sent
//! only to the origins the module's `outbound_hosts` names, at most
//! [`MAX_OUTBOUND_REQUESTS`] per call; anything else gets
//! `http-request-denied` (an error value, not a trap). A request still
//! running when the call ends is dropped with the call's store.

use std::sync::Arc;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::outbound_hosts::OutboundHosts;

/// How many requests one call may send: each holds a connection and a task
/// on the host until the call ends.
pub const MAX_OUTBOUND_REQUESTS: u32 = 16;

/// The outbound policy of one call.
pub struct OutboundPolicy {
    module: Arc<str>,
    request_id: Arc<str>,
    hosts: Arc<OutboundHosts>,
    sent: u32,
}

impl OutboundPolicy {
    /// The policy of `module`'s call for `request_id`: `hosts` only.
    pub fn new(module: Arc<str>, request_id: Arc<str>, hosts: Arc<OutboundHosts>) -> Self {
        Self {
            module,
            request_id,
            hosts,
            sent: 0,
        }
    }

    /// Whether `request` may leave; logs why not.
    fn admit(&mut self, request: &http::Request<WasiBody>) -> bool {
        let (module, request_id, uri) = (&self.module, &self.request_id, request.uri());
        if !self.hosts.allows(uri) {
            tracing::warn!(%module, %request_id, %uri, "outbound request denied: its origin is not in the module's outbound_hosts");
            return false;
        }
        if self.sent >= MAX_OUTBOUND_REQUESTS {
            tracing::warn!(%module, %request_id, %uri, "outbound request denied: the call already sent {MAX_OUTBOUND_REQUESTS}");
            return false;
        }
        self.sent += 1;
        true
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        if !self.admit(&request) {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        wasmtime_wasi_http::default_hooks().send_request(request, options, fut)
    }
}
