//! One request: gives it an id, answers the runtime's own paths and routes
//! the rest into the guests, each within its module's admission and budget.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, HOST, HeaderName, HeaderValue, RETRY_AFTER};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode, Uri};

use crate::admission::Refused;
use crate::auth::Gate;
use crate::bindings;
use crate::guest_request::{RequestParts, guest_request, with_principal};
use crate::http_response::{Body, error_response, full_body, method_not_allowed};
use crate::registry::ModuleState;
use crate::request_id::next_request_id;
use crate::routing::{Lookup, RouteMatch};
use crate::runtime_endpoints;
use crate::sandbox::GuestCallError;
use crate::tenants::{Tenant, Tenants};

/// The header that carries the request id back to the client.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// How long a client should wait before retrying a refused request.
const RETRY_AFTER_SECONDS: &str = "1";

/// What every connection shares: the tenants and their modules, the token
/// check and the server's limits.
pub struct HttpService {
    tenants: Tenants,
    gate: Gate,
    max_body_bytes: usize,
    body_timeout: Duration,
}

impl HttpService {
    /// A service answering for `tenants` behind `gate`, refusing bodies
    /// over `max_body_bytes` or slower than `body_timeout`.
    pub fn new(
        tenants: Tenants,
        gate: Gate,
        max_body_bytes: usize,
        body_timeout: Duration,
    ) -> Self {
        Self {
            tenants,
            gate,
            max_body_bytes,
            body_timeout,
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
        let host = request
            .uri()
            .host()
            .or_else(|| request.headers().get(HOST)?.to_str().ok())
            .map(str::to_string);
        let Some((tenant, below)) = self.tenants.resolve(host.as_deref(), path) else {
            let host = host.as_deref().unwrap_or("(none)");
            let message = format!("no tenant is served at {path} on host {host}");
            return error_response(StatusCode::NOT_FOUND, &message, request_id);
        };
        if let Some(response) = runtime_endpoints::answer(tenant, method, below, request_id).await {
            return response;
        }
        match tenant.registry.routes().lookup(method, below) {
            Lookup::Found(route) => {
                let mounted = Mounted { tenant, below };
                self.call_module(mounted, route, request, request_id).await
            }
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
        mounted: Mounted<'_>,
        route: RouteMatch<'_>,
        request: Request<Incoming>,
        request_id: &str,
    ) -> Response<Body> {
        let module = route.module;
        // First, before the module's state is told or the body read or a
        // slot taken: a refused request learns nothing and costs nothing.
        let principal = match self
            .gate
            .check(&route, &mounted.tenant.name, request.headers())
        {
            Ok(principal) => principal,
            Err(rejection) => {
                tracing::debug!(%module, %request_id, "refused: {}", rejection.reason());
                return rejection.response(request_id);
            }
        };
        if let Some(principal) = &principal {
            tracing::debug!(%module, %request_id, subject = %principal.subject, "authenticated");
        }
        let entry = mounted
            .tenant
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
        // The request's time starts now: reading the body and waiting for
        // a slot count against it.
        let call = sandbox.new_call(request_id.into(), 0, None);
        let deadline = call.deadline;
        let (parts, body) = request.into_parts();
        let body = match self.read_body(body, request_id, deadline).await {
            Ok(body) => body,
            Err(response) => return *response,
        };
        let slot = match sandbox.context().admission.enter(deadline).await {
            Ok(slot) => slot,
            Err(refused) => return busy_response(module, refused, request_id),
        };
        if sandbox.proxy().is_some() {
            let request = http_proxy_request(parts, mounted.below, body, request_id);
            return match sandbox.handle_http(request, call, slot).await {
                Ok(response) => response.map(Either::Right),
                Err(err) => guest_failure(module, &err, request_id),
            };
        }
        let _slot = slot;
        let guest = with_principal(
            guest_request_of(mounted, route, parts, body, request_id),
            principal,
        );
        match sandbox.handle(&guest, call).await {
            Ok(guest_response) => to_http_response(guest_response, module, request_id),
            Err(err) => guest_failure(module, &err, request_id),
        }
    }

    /// The whole request body; one over the limit or that fails to arrive
    /// is answered here.
    async fn read_body(
        &self,
        body: Incoming,
        request_id: &str,
        deadline: Instant,
    ) -> Result<Bytes, Box<Response<Body>>> {
        let read = Limited::new(body, self.max_body_bytes).collect();
        // The body counts against the request's deadline as well.
        let until = deadline.min(Instant::now() + self.body_timeout);
        let Ok(read) = tokio::time::timeout_at(until.into(), read).await else {
            let message = format!(
                "the request body did not arrive in time (server.body_timeout_ms is {} ms, and the module's timeout_ms counts too)",
                self.body_timeout.as_millis()
            );
            return Err(Box::new(error_response(
                StatusCode::REQUEST_TIMEOUT,
                &message,
                request_id,
            )));
        };
        match read {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                let message = format!(
                    "request body is larger than the limit of {} bytes",
                    self.max_body_bytes
                );
                Err(Box::new(error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &message,
                    request_id,
                )))
            }
            Err(err) => {
                let message = format!("could not read the request body: {err}");
                Err(Box::new(error_response(
                    StatusCode::BAD_REQUEST,
                    &message,
                    request_id,
                )))
            }
        }
    }
}

/// The request as a module of the `module` world sees it: without the
/// `Authorization` header, which is the host's to check (the module gets
/// the principal it proved), not the module's to keep or forward.
fn guest_request_of(
    mounted: Mounted<'_>,
    route: RouteMatch<'_>,
    parts: Parts,
    body: Bytes,
    request_id: &str,
) -> bindings::Request {
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| *name != AUTHORIZATION)
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect();
    guest_request(
        RequestParts {
            request_id,
            method: parts.method.as_str(),
            prefix: &mounted.tenant.prefix,
            path: mounted.below,
            query: parts.uri.query(),
            headers,
            body: body.to_vec(),
        },
        route,
    )
}

/// The request as a `wasi:http` component sees it: the path below the
/// tenant's prefix with the query, the client's headers and the request id
/// in `x-request-id`.
fn http_proxy_request(
    mut parts: Parts,
    below: &str,
    body: Bytes,
    request_id: &str,
) -> Request<Full<Bytes>> {
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{below}?{query}"),
        None => below.to_string(),
    };
    let authority = parts
        .uri
        .authority()
        .map(|authority| authority.to_string())
        .or_else(|| parts.headers.get(HOST)?.to_str().ok().map(str::to_string))
        .unwrap_or_else(|| "localhost".to_string());
    parts.uri = Uri::builder()
        .scheme("http")
        .authority(authority.as_str())
        .path_and_query(path_and_query.as_str())
        .build()
        .or_else(|_| {
            Uri::builder()
                .path_and_query(path_and_query.as_str())
                .build()
        })
        .unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        parts.headers.insert(REQUEST_ID_HEADER, value);
    }
    Request::from_parts(parts, Full::new(body))
}

/// The tenant a request reached, and its path below the tenant's prefix.
#[derive(Clone, Copy)]
struct Mounted<'a> {
    tenant: &'a Tenant,
    below: &'a str,
}

/// A 503 with `Retry-After` for a request that got no slot of `module`.
pub fn busy_response(module: &str, refused: Refused, request_id: &str) -> Response<Body> {
    let message = match refused {
        Refused::QueueFull => {
            format!("module {module} is busy: every slot and queue place is taken")
        }
        Refused::WaitedTooLong => {
            format!("module {module} is busy: no slot freed before the request's deadline")
        }
    };
    tracing::debug!(%module, %request_id, "request refused: {message}");
    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, &message, request_id);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    response
}

/// The answer to a guest call that failed: 504 when its budget ran out, 500
/// otherwise; the client gets no trap text, the log one short line (and the
/// whole error at debug level).
pub fn guest_failure(module: &str, err: &GuestCallError, request_id: &str) -> Response<Body> {
    tracing::warn!(%module, %request_id, "guest call failed: {err}");
    tracing::debug!(%module, %request_id, "guest call failed: {}", err.detail());
    let status = if err.is_exhausted() {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    error_response(status, &err.for_client(module, request_id), request_id)
}

/// The guest's response as HTTP; a status or header that HTTP cannot carry
/// is the module's bug, answered with a 500 that says so.
fn to_http_response(guest: bindings::Response, module: &str, request_id: &str) -> Response<Body> {
    let invalid = |what: String| {
        tracing::warn!(%module, %request_id, "invalid response from module: {what}");
        let message = format!(
            "module {module} returned an invalid response; see the runtime log for request {request_id}"
        );
        error_response(StatusCode::INTERNAL_SERVER_ERROR, &message, request_id)
    };
    // 1xx is not a final answer: hyper would turn it into a bare 500.
    let status = StatusCode::from_u16(guest.status)
        .ok()
        .filter(|s| !s.is_informational());
    let Some(status) = status else {
        return invalid(format!("status {}", guest.status));
    };
    let mut response = Response::new(full_body(guest.body));
    *response.status_mut() = status;
    for (name, value) in guest.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            // Guest text, so cut short: a guest cannot flood the log this way.
            return invalid(format!("header {:?}: {:?}", clip(&name), clip(&value)));
        };
        response.headers_mut().append(name, value);
    }
    response
}

/// At most the first 64 characters of `text`.
fn clip(text: &str) -> &str {
    text.char_indices()
        .nth(64)
        .map_or(text, |(end, _)| &text[..end])
}
