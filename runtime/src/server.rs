//! The HTTP server: accepts connections, gives every request an id, answers
//! the runtime's own paths and routes the rest into the guests.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::bindings;
use crate::guest_request::{RequestParts, guest_request};
use crate::http_response::{Body, error_response, method_not_allowed};
use crate::registry::{ModuleRegistry, ModuleState};
use crate::request_id::next_request_id;
use crate::routing::{Lookup, RouteMatch};
use crate::runtime_endpoints;

/// The header that carries the request id back to the client.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every connection shares: the modules and the server's limits.
pub struct Runtime {
    registry: ModuleRegistry,
    max_body_bytes: usize,
}

impl Runtime {
    /// A runtime serving `registry`, refusing bodies over `max_body_bytes`.
    pub fn new(registry: ModuleRegistry, max_body_bytes: usize) -> Self {
        Self {
            registry,
            max_body_bytes,
        }
    }

    /// Answers one request. Never fails: every error is a JSON response.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let request_id = next_request_id();
        let started = Instant::now();
        let method = request.method().as_str().to_string();
        let path = request.uri().path().to_string();
        let mut response = self.route(request, &method, &path, &request_id).await;
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        tracing::debug!(
            %request_id,
            %method,
            %path,
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "request served"
        );
        response
    }

    async fn route(
        &self,
        request: Request<Incoming>,
        method: &str,
        path: &str,
        request_id: &str,
    ) -> Response<Body> {
        if let Some(response) =
            runtime_endpoints::answer(&self.registry, method, path, request_id).await
        {
            return response;
        }
        match self.registry.routes().lookup(method, path) {
            Lookup::Found(route) => self.call_module(route, request, request_id).await,
            Lookup::MethodNotAllowed(allowed) => {
                method_not_allowed(method, path, &allowed, request_id)
            }
            Lookup::NotFound => error_response(
                StatusCode::NOT_FOUND,
                &format!("no route for {path}"),
                request_id,
            ),
        }
    }

    async fn call_module(
        &self,
        route: RouteMatch<'_>,
        request: Request<Incoming>,
        request_id: &str,
    ) -> Response<Body> {
        let module = route.module;
        let entry = self
            .registry
            .get(module)
            .expect("the route table only names registered modules");
        let sandbox = match (&entry.state, &entry.sandbox) {
            (ModuleState::Ready, Some(sandbox)) => sandbox,
            (ModuleState::Failed(reason), _) => {
                let message = format!("module {module} is not available: {reason}");
                return error_response(StatusCode::SERVICE_UNAVAILABLE, &message, request_id);
            }
            (ModuleState::Ready, None) => unreachable!("a ready module has a sandbox"),
        };
        let guest = match self.read_request(route, request, request_id).await {
            Ok(guest) => guest,
            Err(response) => return *response,
        };
        match sandbox.handle(&guest, 0).await {
            Ok(guest_response) => to_http_response(guest_response, module, request_id),
            Err(err) => {
                tracing::error!(%module, %request_id, "guest call failed: {err}");
                let message = format!("module {module} {}", err.public());
                error_response(StatusCode::INTERNAL_SERVER_ERROR, &message, request_id)
            }
        }
    }

    /// The request as the guest sees it; a body over the limit or one that
    /// fails to arrive is answered here.
    async fn read_request(
        &self,
        route: RouteMatch<'_>,
        request: Request<Incoming>,
        request_id: &str,
    ) -> Result<bindings::Request, Box<Response<Body>>> {
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, self.max_body_bytes).collect().await {
            Ok(collected) => collected.to_bytes().to_vec(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                let message = format!(
                    "request body is larger than the limit of {} bytes",
                    self.max_body_bytes
                );
                return Err(Box::new(error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &message,
                    request_id,
                )));
            }
            Err(err) => {
                let message = format!("could not read the request body: {err}");
                return Err(Box::new(error_response(
                    StatusCode::BAD_REQUEST,
                    &message,
                    request_id,
                )));
            }
        };
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        Ok(guest_request(
            RequestParts {
                request_id,
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query(),
                headers,
                body,
            },
            route,
        ))
    }
}

/// The guest's response as HTTP; a status or header that HTTP cannot carry
/// is the module's bug, answered with a 500 that says so.
fn to_http_response(guest: bindings::Response, module: &str, request_id: &str) -> Response<Body> {
    let invalid = |what: String| {
        tracing::error!(%module, %request_id, "invalid response from module: {what}");
        let message = format!("module {module} returned an invalid response: {what}");
        error_response(StatusCode::INTERNAL_SERVER_ERROR, &message, request_id)
    };
    let Ok(status) = StatusCode::from_u16(guest.status) else {
        return invalid(format!("status {}", guest.status));
    };
    let mut response = Response::new(Body::from(guest.body));
    *response.status_mut() = status;
    for (name, value) in guest.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            return invalid(format!("header {name:?}: {value:?}"));
        };
        response.headers_mut().append(name, value);
    }
    response
}

/// Serves `runtime` on `listener` until the process is stopped.
pub async fn serve(listener: TcpListener, runtime: Arc<Runtime>) -> Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Running out of file descriptors and the like is passing;
                // the server keeps accepting once it clears.
                tracing::warn!("accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let runtime = runtime.clone();
                async move { Ok::<_, std::convert::Infallible>(runtime.handle(request).await) }
            });
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "connection ended with an error: {err}");
            }
        });
    }
}
