//! The paths the runtime answers itself, for each tenant under its prefix
//! (on its hosts): `GET /health`, `GET /modules` and
//! `GET /modules/<name>/health`, each naming the tenant. No module may
//! declare a route under them.

use std::time::SystemTime;

use hyper::{Response, StatusCode};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::bindings::modhost::module::types::HealthStatus;
use crate::http_response::{Body, error_response, json_response, method_not_allowed};
use crate::registry::{ModuleEntry, ModuleState};
use crate::server::busy_response;
use crate::tenants::Tenant;

/// Answers `path` if it is one of the runtime's own endpoints; `None` lets
/// the request go on to the modules' routes (where a reserved path ends in
/// a 404, since no module can claim one).
pub async fn answer(
    tenant: &Tenant,
    method: &str,
    path: &str,
    request_id: &str,
) -> Option<Response<Body>> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let endpoint = match segments.as_slice() {
        ["health"] => Endpoint::Health,
        ["modules"] => Endpoint::Modules,
        ["modules", name, "health"] => Endpoint::ModuleHealth(name),
        _ => return None,
    };
    // Refused before any work, so a POST never runs a guest's health call.
    if method != "GET" {
        return Some(method_not_allowed(method, path, &["GET"], request_id));
    }
    Some(match endpoint {
        Endpoint::Health => overall_health(tenant),
        Endpoint::Modules => modules_listing(tenant),
        Endpoint::ModuleHealth(name) => module_health(tenant, name, request_id).await,
    })
}

/// One of the runtime's own endpoints.
enum Endpoint<'a> {
    Health,
    Modules,
    ModuleHealth(&'a str),
}

/// `GET /health`: 200 when every module is ready, else 503 listing the
/// failed ones with their reasons.
fn overall_health(tenant: &Tenant) -> Response<Body> {
    let registry = &tenant.registry;
    let failed: Vec<Value> = registry
        .modules()
        .filter_map(|entry| match &entry.state {
            ModuleState::Failed(reason) => Some(json!({ "module": entry.name, "reason": reason })),
            ModuleState::Ready => None,
        })
        .collect();
    let modules = registry.modules().count();
    if failed.is_empty() {
        json_response(
            StatusCode::OK,
            &json!({ "status": "healthy", "tenant": tenant.name, "modules": modules }),
        )
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "unhealthy", "tenant": tenant.name, "modules": modules, "failed": failed }),
        )
    }
}

/// `GET /modules`: every module with its state, manifest, source and when
/// its `init` finished.
fn modules_listing(tenant: &Tenant) -> Response<Body> {
    let modules: Vec<Value> = tenant.registry.modules().map(module_listing).collect();
    json_response(
        StatusCode::OK,
        &json!({ "tenant": tenant.name, "modules": modules }),
    )
}

fn module_listing(entry: &ModuleEntry) -> Value {
    let mut module = Map::new();
    module.insert("name".into(), json!(entry.name));
    let (state, reason) = state_and_reason(&entry.state);
    module.insert("state".into(), json!(state));
    if let Some(reason) = reason {
        module.insert("reason".into(), json!(reason));
    }
    if let Some(manifest) = &entry.manifest {
        module.insert("version".into(), json!(manifest.version));
        module.insert("description".into(), json!(manifest.description));
        module.insert("dependencies".into(), json!(manifest.dependencies));
        let routes: Vec<Value> = manifest
            .routes
            .iter()
            .map(|r| json!({ "method": r.method, "path": r.path }))
            .collect();
        module.insert("routes".into(), Value::Array(routes));
    }
    module.insert(
        "source".into(),
        json!(entry.relative_source.display().to_string()),
    );
    let initialized_at = entry
        .sandbox
        .as_ref()
        .and_then(|sandbox| sandbox.context().initialized_at.get().copied());
    if let Some(at) = initialized_at.and_then(rfc3339) {
        module.insert("initialized_at".into(), json!(at));
    }
    Value::Object(module)
}

/// `at` as RFC 3339 in UTC, to the nanosecond.
fn rfc3339(at: SystemTime) -> Option<String> {
    OffsetDateTime::from(at).format(&Rfc3339).ok()
}

fn state_and_reason(state: &ModuleState) -> (&'static str, Option<&str>) {
    match state {
        ModuleState::Ready => ("ready", None),
        ModuleState::Failed(reason) => ("failed", Some(reason)),
    }
}

/// `GET /modules/<name>/health`: the guest's own report, with the state of
/// each dependency; 503 when the module or its report is not healthy.
async fn module_health(tenant: &Tenant, name: &str, request_id: &str) -> Response<Body> {
    let registry = &tenant.registry;
    let Some(entry) = registry.get(name) else {
        return error_response(
            StatusCode::NOT_FOUND,
            &format!("no module named {name}"),
            request_id,
        );
    };
    let dependencies: Map<String, Value> = entry
        .manifest
        .iter()
        .flat_map(|manifest| &manifest.dependencies)
        .map(|dependency| {
            let state = registry
                .get(dependency)
                .map(|dep| state_and_reason(&dep.state).0)
                .unwrap_or("missing");
            (dependency.clone(), json!(state))
        })
        .collect();
    let mut report = Map::new();
    let healthy = match (&entry.state, &entry.sandbox) {
        (ModuleState::Ready, Some(sandbox)) => {
            // A health check is a call like any other: it waits for a slot
            // of the module, within the module's time limit.
            let call = sandbox.new_call(request_id.into(), 0, None);
            let _slot = match sandbox.context().admission.enter(call.deadline).await {
                Ok(slot) => slot,
                Err(refused) => return busy_response(name, refused, request_id),
            };
            match sandbox.health(call).await {
                Ok(health) => {
                    // The guest's details first, so the host's keys win a clash.
                    if let Ok(Value::Object(details)) = serde_json::from_str(&health.details) {
                        report.extend(details);
                    }
                    let (status, healthy) = match health.status {
                        HealthStatus::Healthy => ("healthy", true),
                        HealthStatus::Degraded => ("degraded", true),
                        HealthStatus::Unhealthy => ("unhealthy", false),
                    };
                    report.insert("status".into(), json!(status));
                    healthy
                }
                Err(err) => {
                    tracing::warn!(module = %name, %request_id, "health call failed: {err}");
                    report.insert("status".into(), json!("error"));
                    report.insert("error".into(), json!(format!("health {}", err.public())));
                    false
                }
            }
        }
        (state, _) => {
            let (_, reason) = state_and_reason(state);
            report.insert("status".into(), json!("failed"));
            report.insert("reason".into(), json!(reason));
            false
        }
    };
    report.insert("module".into(), json!(name));
    report.insert("tenant".into(), json!(tenant.name));
    report.insert("dependencies".into(), Value::Object(dependencies));
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &Value::Object(report))
}
