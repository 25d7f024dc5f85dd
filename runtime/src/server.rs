//! One request: gives it an id, answers the probes and the runtime's own
//! paths and routes the rest into the guests, each within its module's
//! admission and budget; then one access-log line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, HOST, HeaderName, HeaderValue, RETRY_AFTER};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode, Uri};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::admission::Refused;
use crate::auth::Gate;
use crate::bindings;
use crate::capabilities::HostCapabilities;
use crate::guest_request::{RequestParts, guest_request, with_principal};
use crate::host_state::ModuleContext;
use crate::host_status::HostStatus;
use crate::http_response::{Body, error_response, full_body, method_not_allowed};
use crate::metrics;
use crate::registry::{ModuleEntry, ModuleState};
use crate::reload::ReloadRequest;
use crate::request_id::{REQUEST_ID_HEADER, request_id_of};
use crate::routing::{Lookup, RouteMatch};
use crate::sandbox::GuestCallError;
use crate::tenants::{Tenant, Tenants};
use crate::{admin, probes, runtime_endpoints};

/// How long a client should wait before retrying a refused request.
const RETRY_AFTER_SECONDS: &str = "1";

/// What a loaded config serves: its tenants and their modules, and the
/// token check. Replaced whole when a reload succeeds.
pub struct Deployment {
    /// The tenants and their modules.
    pub tenants: Tenants,
    /// The bearer-token check.
    pub gate: Gate,
}

/// What every connection shares: the deployment being served (none while
/// the first one loads), the host's status for the probes, and the
/// server's limits.
pub struct HttpService {
    deployment: ArcSwapOption<Deployment>,
    status: Arc<HostStatus>,
    capabilities: Arc<HostCapabilities>,
    reloads: mpsc::Sender<ReloadRequest>,
    max_body_bytes: usize,
    body_timeout: Duration,
}

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// `server.listen`: the modules, the runtime's own paths, the probes.
    Public,
    /// `server.admin_listen`: the operator's endpoints and the probes.
    Admin,
}

/// The route that took a request, and its module's series, for the
/// access log and the metrics.
struct Served {
    route: String,
    module: Arc<ModuleContext>,
}

/// The status logged and counted for a request whose client left before
/// its answer (nginx's convention).
const CLIENT_CLOSED: u16 = 499;

/// One request's access-log line and metrics, written once: when the
/// response is ready, or, should the client leave first (the request's
/// future is dropped), as [`CLIENT_CLOSED`].
struct AccessLine {
    method: String,
    path: String,
    started: Instant,
    span: tracing::Span,
    served: Option<Served>,
    written: bool,
}

impl AccessLine {
    fn write(&mut self, status: u16) {
        self.written = true;
        let elapsed = self.started.elapsed();
        match &self.served {
            Some(served) => {
                let meters = &served.module.meters;
                meters.request(&served.route, &self.method, status, elapsed);
            }
            None => metrics::host().unrouted_request(&self.method, status, elapsed),
        }
        self.span.in_scope(|| {
            tracing::info!(
                target: "modhost::access",
                method = %self.method,
                path = %self.path,
                status,
                micros = elapsed.as_micros() as u64,
                route = self.served.as_ref().map_or("", |served| served.route.as_str()),
                "served"
            )
        });
    }
}

impl Drop for AccessLine {
    fn drop(&mut self) {
        if !self.written {
            self.write(CLIENT_CLOSED);
        }
    }
}

/// A response, and the limit that stopped or refused the request, if one did.
type Answered = (Response<Body>, Option<&'static str>);

impl HttpService {
    /// A service with nothing to serve yet but the probes, whose readiness
    /// follows `status` and the backends of `capabilities`, that asks for
    /// reloads on `reloads`; it refuses bodies over `max_body_bytes` or
    /// slower than `body_timeout`.
    pub fn new(
        status: Arc<HostStatus>,
        capabilities: Arc<HostCapabilities>,
        reloads: mpsc::Sender<ReloadRequest>,
        max_body_bytes: usize,
        body_timeout: Duration,
    ) -> Self {
        Self {
            deployment: ArcSwapOption::empty(),
            status,
            capabilities,
            reloads,
            max_body_bytes,
            body_timeout,
        }
    }

    /// Serves `deployment` from the next request on; requests already
    /// routed finish on the one they started with.
    pub fn install(&self, deployment: Deployment) {
        self.deployment.store(Some(Arc::new(deployment)));
    }

    /// The deployment being served.
    pub fn deployment(&self) -> Option<Arc<Deployment>> {
        self.deployment.load_full()
    }

    /// Asks for a reload and waits for its outcome.
    pub async fn reload(&self, cause: &'static str) -> Result<String, String> {
        let (reply, outcome) = oneshot::channel();
        let request = ReloadRequest {
            cause,
            reply: Some(reply),
        };
        if self.reloads.send(request).await.is_err() {
            return Err("reloads are not taken yet: the first load is still running".into());
        }
        outcome
            .await
            .unwrap_or_else(|_| Err("the reload ended without an answer".into()))
    }

    /// Answers one request. Never fails: every error is a JSON response.
    pub async fn handle(&self, request: Request<Incoming>, door: Door) -> Response<Body> {
        let request_id = request_id_of(request.headers());
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            tenant = tracing::field::Empty,
            module = tracing::field::Empty,
        );
        let mut access = AccessLine {
            method: request.method().as_str().to_string(),
            path: request.uri().path().to_string(),
            started: Instant::now(),
            span: span.clone(),
            served: None,
            written: false,
        };
        let mut response = self
            .route(request, door, &request_id, &mut access)
            .instrument(span)
            .await;
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        access.write(response.status().as_u16());
        response
    }

    async fn route(
        &self,
        request: Request<Incoming>,
        door: Door,
        request_id: &str,
        access: &mut AccessLine,
    ) -> Response<Body> {
        let (method, path) = (access.method.as_str(), access.path.as_str());
        let served = &mut access.served;
        if let Some(response) =
            probes::answer(&self.status, &self.capabilities, method, path, request_id).await
        {
            return response;
        }
        if door == Door::Admin {
            return admin::answer(self, method, path, request_id).await;
        }
        let Some(deployment) = self.deployment() else {
            let message = "modhost is loading its modules; try again shortly";
            return retry_later(StatusCode::SERVICE_UNAVAILABLE, message, request_id);
        };
        let host = request
            .uri()
            .host()
            .or_else(|| request.headers().get(HOST)?.to_str().ok())
            .map(str::to_string);
        let Some((tenant, below)) = deployment.tenants.resolve(host.as_deref(), path) else {
            let host = host.as_deref().unwrap_or("(none)");
            let message = format!("no tenant is served at {path} on host {host}");
            return error_response(StatusCode::NOT_FOUND, &message, request_id);
        };
        tracing::Span::current().record("tenant", tracing::field::display(&tenant.name));
        if let Some(response) = runtime_endpoints::answer(tenant, method, below, request_id).await {
            return response;
        }
        match tenant.registry.routes().lookup(method, below) {
            Lookup::Found(route) => {
                tracing::Span::current().record("module", tracing::field::display(route.module));
                let entry = tenant
                    .registry
                    .get(route.module)
                    .expect("the route table only names registered modules");
                // A failed module has no series of its own: its 503s are
                // counted with the requests no route took.
                let context = entry
                    .sandbox
                    .as_ref()
                    .map(|sandbox| sandbox.context().clone());
                let module = context.clone().map(|module| Served {
                    route: route.route.to_string(),
                    module,
                });
                *served = module;
                let limit_hit = |limit: &'static str| {
                    if let Some(context) = &context {
                        metrics::host().limit_hit(context.meters.labels(), limit);
                    }
                };
                if let Some(quota) = &tenant.quota
                    && !quota.admit().await
                {
                    limit_hit("rate");
                    return quota_refusal(&tenant.name, request_id);
                }
                let _in_flight = context
                    .as_ref()
                    .map(|context| context.meters.in_flight(route.route));
                let mounted = Mounted { tenant, below };
                let call =
                    self.call_module(&deployment.gate, mounted, entry, route, request, request_id);
                let (response, limit) = call.await;
                if let Some(limit) = limit {
                    limit_hit(limit);
                }
                response
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
        gate: &Gate,
        mounted: Mounted<'_>,
        entry: &ModuleEntry,
        route: RouteMatch<'_>,
        request: Request<Incoming>,
        request_id: &str,
    ) -> Answered {
        let module = route.module;
        // First, before the module's state is told or the body read or a
        // slot taken: a refused request learns nothing and costs nothing.
        let principal = match gate.check(&route, &mounted.tenant.name, request.headers()) {
            Ok(principal) => principal,
            Err(rejection) => {
                tracing::debug!(%module, %request_id, "refused: {}", rejection.reason());
                return (rejection.response(request_id), None);
            }
        };
        if let Some(principal) = &principal {
            tracing::debug!(%module, %request_id, subject = %principal.subject, "authenticated");
        }
        let sandbox = match (&entry.state, &entry.sandbox) {
            (ModuleState::Ready, Some(sandbox)) => sandbox,
            (ModuleState::Failed(reason), _) => {
                let message = format!("module {module} is not available: {reason}");
                let response =
                    error_response(StatusCode::SERVICE_UNAVAILABLE, &message, request_id);
                return (response, None);
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
            Err(response) => return (*response, None),
        };
        let slot = match sandbox.context().admission.enter(deadline).await {
            Ok(slot) => slot,
            Err(refused) => return (busy_response(module, refused, request_id), Some("busy")),
        };
        if sandbox.proxy().is_some() {
            let request = http_proxy_request(parts, mounted.below, body, request_id);
            return match sandbox.handle_http(request, call, slot).await {
                Ok(response) => (response.map(Either::Right), None),
                Err(err) => (
                    guest_failure(module, &err, request_id),
                    Some(err.limit_name()),
                ),
            };
        }
        let _slot = slot;
        let guest = with_principal(
            guest_request_of(mounted, route, parts, body, request_id),
            principal,
        );
        match sandbox.handle(&guest, call).await {
            Ok(guest_response) => (to_http_response(guest_response, module, request_id), None),
            Err(err) => (
                guest_failure(module, &err, request_id),
                Some(err.limit_name()),
            ),
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

/// A 429 with `Retry-After` for a request past its tenant's quota.
fn quota_refusal(tenant: &str, request_id: &str) -> Response<Body> {
    let message = format!("tenant {tenant} is over its request quota; slow down");
    retry_later(StatusCode::TOO_MANY_REQUESTS, &message, request_id)
}

/// An error response with `Retry-After`: the request may succeed later.
fn retry_later(status: StatusCode, message: &str, request_id: &str) -> Response<Body> {
    let mut response = error_response(status, message, request_id);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    response
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
    retry_later(StatusCode::SERVICE_UNAVAILABLE, &message, request_id)
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
