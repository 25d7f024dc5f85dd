//! The probes, on every host and on the admin listener: `GET /livez` (the
//! process answers: 200 whenever it can answer at all) and `GET /readyz`
//! (send it traffic: 200 while serving a loaded set of modules, a reload
//! included, with the database answering; 503 while loading, draining for
//! a shutdown, or with the database down, saying why). A cache that does
//! not answer is listed under `degraded` without failing the probe: the
//! modules fall back to the database, and a shared Redis's outage must not
//! take every instance out at once.

use hyper::{Response, StatusCode};
use serde_json::json;

use crate::capabilities::HostCapabilities;
use crate::host_status::{HostStatus, Phase};
use crate::http_response::{Body, json_response, method_not_allowed};

/// Answers `path` if it is a probe; `None` lets the request go on.
pub async fn answer(
    status: &HostStatus,
    capabilities: &HostCapabilities,
    method: &str,
    path: &str,
    request_id: &str,
) -> Option<Response<Body>> {
    let probe = match path {
        "/livez" => Probe::Live,
        "/readyz" => Probe::Ready,
        _ => return None,
    };
    if method != "GET" && method != "HEAD" {
        return Some(method_not_allowed(
            method,
            path,
            &["GET", "HEAD"],
            request_id,
        ));
    }
    Some(match probe {
        Probe::Live => json_response(StatusCode::OK, &json!({ "status": "live" })),
        Probe::Ready => readiness(status, capabilities).await,
    })
}

enum Probe {
    Live,
    Ready,
}

async fn readiness(status: &HostStatus, capabilities: &HostCapabilities) -> Response<Body> {
    let phase = status.phase();
    let not_ready = |why: serde_json::Value| {
        let mut body = json!({ "status": "not ready", "phase": phase.name() });
        if let (Some(body), Some(why)) = (body.as_object_mut(), why.as_object()) {
            body.extend(why.clone());
        }
        json_response(StatusCode::SERVICE_UNAVAILABLE, &body)
    };
    match phase {
        Phase::Loading => {
            let [compiled, components, loaded, modules] = status.progress().counts();
            not_ready(json!({
                "compiled": compiled, "components": components,
                "loaded": loaded, "modules": modules,
            }))
        }
        Phase::Draining => not_ready(json!({ "reason": "shutting down" })),
        // A reload keeps the old set serving until the new one is in
        // place: still ready.
        Phase::Serving | Phase::Reloading => {
            let down = status.backends_down(capabilities).await;
            let named = |required: bool| -> Vec<String> {
                down.iter()
                    .filter(|backend| backend.required == required)
                    .map(|backend| format!("{}: {}", backend.capability, backend.why))
                    .collect()
            };
            let (required, optional) = (named(true), named(false));
            if !required.is_empty() {
                let reason = format!("a backend is down: {}", required.join("; "));
                return not_ready(json!({ "reason": reason, "degraded": optional }));
            }
            json_response(
                StatusCode::OK,
                &json!({ "status": "ready", "phase": phase.name(), "degraded": optional }),
            )
        }
    }
}
