//! The operator's endpoints, served only on `server.admin_listen` (never
//! on the public listener, and not at all unless configured): `GET
//! /metrics` in the Prometheus text format, `POST /admin/reload`, and the
//! probes.

use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use serde_json::json;

use crate::http_response::{Body, error_response, full_body, json_response, method_not_allowed};
use crate::metrics;
use crate::server::HttpService;

/// The content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answers a request that came in on the admin listener (the probes are
/// answered before this, on either listener).
pub async fn answer(
    service: &HttpService,
    method: &str,
    path: &str,
    request_id: &str,
) -> Response<Body> {
    match path {
        "/metrics" if method == "GET" => {
            let mut response = Response::new(full_body(metrics::host().encode()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
            response
        }
        "/metrics" => method_not_allowed(method, path, &["GET"], request_id),
        // The answer waits for the reload: it says whether the new set is
        // served, or why the old one still is.
        "/admin/reload" if method == "POST" => match service.reload("POST /admin/reload").await {
            Ok(summary) => json_response(
                StatusCode::OK,
                &json!({ "status": "reloaded", "summary": summary }),
            ),
            Err(why) => {
                let message = format!("reload failed; the previous modules keep serving: {why}");
                error_response(StatusCode::UNPROCESSABLE_ENTITY, &message, request_id)
            }
        },
        "/admin/reload" => method_not_allowed(method, path, &["POST"], request_id),
        _ => error_response(
            StatusCode::NOT_FOUND,
            &format!(
                "no admin endpoint at {path}; there are /metrics, /admin/reload, /livez and /readyz"
            ),
            request_id,
        ),
    }
}
