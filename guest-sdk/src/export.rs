//! The bridge from a [`Module`] to the world's exports, used by
//! [`crate::export_module!`].

use std::marker::PhantomData;

use serde_json::json;

use crate::bindings::modhost::module::types::{
    Health as WitHealth, HealthStatus as WitHealthStatus, Manifest, Request as WitRequest,
    Response as WitResponse,
};
use crate::error::Error;
use crate::module::{HealthStatus, Module};
use crate::request::Request;
use crate::response::Response;

/// The export functions for module `M`; generic so the macro stays small.
pub struct Exports<M>(PhantomData<M>);

/// Routes a guest panic's message into the host's log before the panic
/// aborts the call, so the operator sees why a request failed with a 500.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        crate::log::write(
            crate::log::Level::Error,
            &format!("module panicked: {info}"),
            &[],
        );
    }));
}

impl<M: Module> Exports<M> {
    /// `describe`: the manifest from the module's constants and router.
    pub fn describe() -> Manifest {
        log_panics();
        Manifest {
            name: M::NAME.to_string(),
            version: M::VERSION.to_string(),
            description: M::DESCRIPTION.to_string(),
            dependencies: M::DEPENDENCIES.iter().map(|d| d.to_string()).collect(),
            routes: M::routes().declared(),
        }
    }

    /// `init`: the module's own initialisation.
    pub fn init() -> Result<(), String> {
        log_panics();
        M::init().map_err(|err| err.message().to_string())
    }

    /// `handle`: finds the handler for the matched route and turns its error
    /// into the JSON error body the host uses too.
    pub fn handle(request: WitRequest) -> WitResponse {
        log_panics();
        let router = M::routes();
        let request_id = request.request_id.clone();
        let result = match router.handler(&request.method, &request.route) {
            Some(handler) => handler(Request::new(request)),
            None => Err(Error::not_found(format!(
                "module {} has no handler for {} {}",
                M::NAME,
                request.method,
                request.route
            ))),
        };
        result
            .unwrap_or_else(|err| error_response(&err, &request_id))
            .into_wit()
    }

    /// `health`: the module's report with its details as JSON text.
    pub fn health() -> WitHealth {
        log_panics();
        let health = M::health();
        WitHealth {
            status: match health.status {
                HealthStatus::Healthy => WitHealthStatus::Healthy,
                HealthStatus::Degraded => WitHealthStatus::Degraded,
                HealthStatus::Unhealthy => WitHealthStatus::Unhealthy,
            },
            details: serde_json::Value::Object(health.details).to_string(),
        }
    }
}

fn error_response(err: &Error, request_id: &str) -> Response {
    let body = json!({ "error": err.message(), "request_id": request_id }).to_string();
    Response::empty(err.status())
        .with_header("content-type", "application/json")
        .with_body(body)
}
