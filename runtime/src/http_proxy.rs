//! Standard `wasi:http/proxy` components (what `wasmtime serve` and Spin
//! run), deployed unchanged: a module whose config gives it a `mount`
//! serves every method on every path under that prefix through its
//! `wasi:http/incoming-handler`. Its calls run like any module's: its own
//! store, slots, memory, CPU time and deadline, the request id in an
//! `x-request-id` request header. The response goes out as soon as the
//! component sets it; the body keeps streaming from the guest while the
//! call runs, and the call's deadline and CPU time still end it: the body
//! then stops short and the connection closes without the body's end, so
//! the client can tell (wasmtime-wasi-http alone would end it as if whole).
//! The body's end goes out once the guest has returned.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use hyper::body::{Body, Frame};
use tokio::sync::oneshot;
use tracing::Instrument;
use wasmtime::Store;
use wasmtime::component::Component;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::admission::Slot;
use crate::bindings::Manifest;
use crate::bindings::modhost::module::types::Route;
use crate::host_state::HostState;
use crate::sandbox::{GuestCall, GuestCallError, GuestRun, GuestWork, ModuleSandbox};

/// The version `/modules` shows for such a component, which has no
/// manifest of its own.
const VERSION: &str = "wasi:http/proxy";

/// Whether `component` exports `wasi:http/incoming-handler` (any 0.2 version).
pub fn exports_incoming_handler(component: &Component) -> bool {
    component
        .component_type()
        .exports(component.engine())
        .any(|(name, _)| name.starts_with("wasi:http/incoming-handler@"))
}

/// Checks a `mount`: `/` or `/`-separated plain segments, no route syntax.
pub fn check_mount(mount: &str) -> Result<(), String> {
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment != "..."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
    };
    let valid = mount == "/"
        || mount
            .strip_prefix('/')
            .is_some_and(|rest| rest.split('/').all(plain));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "its mount {mount:?} is not a path prefix: write \"/\" or \"/name\" (segments of letters, digits, '-', '.', '_' or '~', no trailing '/')"
        ))
    }
}

/// The manifest of component `name` mounted at `mount`: every method on
/// the mount and below.
pub fn manifest(name: &str, mount: &str) -> Manifest {
    let path = match mount {
        "/" => "/...".to_string(),
        mount => format!("{mount}/..."),
    };
    Manifest {
        name: name.to_string(),
        version: VERSION.to_string(),
        description: format!("a wasi:http/proxy component mounted at {mount}"),
        dependencies: Vec::new(),
        routes: vec![Route {
            method: "*".to_string(),
            path,
            auth: None,
        }],
    }
}

/// Where a component's response goes once it sets it.
type Answer = Box<dyn FnOnce(Result<Response<HyperOutgoingBody>, ErrorCode>) + Send + Sync>;

/// One request served through `incoming-handler.handle`.
struct ServeHttp {
    proxy: ProxyPre<HostState>,
    request: hyper::Request<Full<Bytes>>,
    answer: Answer,
}

impl GuestWork for ServeHttp {
    type Output = ();

    fn run<'a>(self, store: &'a mut Store<HostState>) -> GuestRun<'a, ()>
    where
        Self: 'a,
    {
        Box::pin(async move {
            let mut http = store.data_mut().http();
            let request = http.new_incoming_request(Scheme::Http, self.request)?;
            let out = http.new_response_outparam_from_callback(self.answer)?;
            let proxy = self.proxy.instantiate_async(&mut *store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut *store, request, out)
                .await
        })
    }
}

impl ModuleSandbox {
    /// Serves `request` through the component's `incoming-handler`, holding
    /// `slot` until the guest has finished (its response body included).
    /// The response is returned once the guest sets it; an error when the
    /// guest failed, ran out of time or returned without one.
    pub async fn handle_http(
        self: &Arc<Self>,
        request: hyper::Request<Full<Bytes>>,
        call: GuestCall,
        slot: Slot,
    ) -> Result<Response<HyperOutgoingBody>, GuestCallError> {
        let Some(proxy) = self.proxy().cloned() else {
            return Err(GuestCallError::Failed(wasmtime::format_err!(
                "module {} is not a wasi:http component",
                self.context().name
            )));
        };
        let (sender, receiver) = oneshot::channel();
        let (ended, call_ended) = oneshot::channel();
        let responded = Arc::new(AtomicBool::new(false));
        let set = responded.clone();
        let answer: Answer = Box::new(move |response| {
            set.store(true, Ordering::Release);
            let _ = sender.send(response);
        });
        let sandbox = self.clone();
        let running = tokio::spawn(
            async move {
                let _slot = slot;
                let module = sandbox.context().name.clone();
                let request_id = call.request_id.clone();
                let work = ServeHttp {
                    proxy,
                    request,
                    answer,
                };
                let outcome = sandbox.run(call, work).await;
                if let (Err(err), true) = (&outcome, responded.load(Ordering::Acquire)) {
                    tracing::warn!(%module, %request_id, "the response body was cut short: {err}");
                }
                let _ = ended.send(outcome.is_ok());
                outcome
            }
            .instrument(tracing::Span::current()),
        );
        match receiver.await {
            Ok(Ok(response)) => Ok(response.map(|body| {
                EndsWithTheCall {
                    body,
                    call_ended: Some(call_ended),
                }
                .boxed_unsync()
            })),
            Ok(Err(code)) => Err(GuestCallError::Failed(wasmtime::format_err!(
                "the component answered with error code {code:?}"
            ))),
            // The guest ended, or was ended, before it set a response.
            Err(_) => match running.await {
                Ok(Err(err)) => Err(err),
                Ok(Ok(())) => Err(GuestCallError::Failed(wasmtime::format_err!(
                    "the component returned without setting a response"
                ))),
                Err(join) => Err(GuestCallError::Failed(wasmtime::format_err!(
                    "the call's task ended: {join}"
                ))),
            },
        }
    }
}

/// A component's response body whose end waits for the guest call to end,
/// and is an error unless the call ended well.
struct EndsWithTheCall {
    body: HyperOutgoingBody,
    /// Whether the call ended well, once it has; taken at the body's end.
    call_ended: Option<oneshot::Receiver<bool>>,
}

impl Body for EndsWithTheCall {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let Some(call_ended) = this.call_ended.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {}
            frame => return frame,
        }
        let ended_well = match Pin::new(call_ended).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(ended) => ended.unwrap_or(false),
        };
        this.call_ended = None;
        if ended_well {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpResponseIncomplete)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_is_a_plain_path_prefix() {
        for good in ["/", "/hello", "/api/v1", "/a.b-c_d~e"] {
            assert!(check_mount(good).is_ok(), "{good}");
        }
        for bad in [
            "", "hello", "/hello/", "//x", "/:id", "/x/...", "/*", "/a b",
        ] {
            let err = check_mount(bad).unwrap_err();
            assert!(err.contains("not a path prefix"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_mount_serves_every_method_at_and_below_it() {
        let routes = |mount| manifest("m", mount).routes;
        assert_eq!(routes("/hello")[0].path, "/hello/...");
        assert_eq!(routes("/")[0].path, "/...");
        assert_eq!(routes("/hello")[0].method, "*");
    }
}
