//! `my_new_module`, the example of the original module guide, as a modhost
//! module: `GET /my-module/info` reports the module and when it was
//! initialised, and its health says how long it has been up.

use modhost_sdk::{
    Health, HealthStatus, Module, Request, Response, Result, Router, export_module, info,
};
use serde_json::json;

struct MyNewModule;

impl Module for MyNewModule {
    const NAME: &'static str = "my_new_module";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "The module guide's example module";
    // The guide's module depended on `connection_api` for database access;
    // in modhost the database is a host capability, not a module.
    const DEPENDENCIES: &'static [&'static str] = &[];

    fn routes() -> Router {
        Router::new().get("/my-module/info", module_info)
    }

    fn init() -> std::result::Result<(), String> {
        info!("Initializing {}...", Self::NAME);
        Ok(())
    }

    fn health() -> Health {
        let now = modhost_sdk::time::now();
        let uptime = modhost_sdk::time::initialized_at()
            .map(|at| (now - at).num_milliseconds() as f64 / 1000.0)
            .unwrap_or(0.0);
        Health::new(HealthStatus::Healthy)
            .with_detail("module", Self::NAME)
            .with_detail("uptime_seconds", uptime)
            .with_detail("last_check", now.to_rfc3339())
    }
}

/// `GET /my-module/info`: the module's name, state, init time and dependencies.
fn module_info(_req: Request) -> Result<Response> {
    Response::json(&json!({
        "module": MyNewModule::NAME,
        "status": "active",
        "initialized_at": modhost_sdk::time::initialized_at().map(|at| at.to_rfc3339()),
        "dependencies": MyNewModule::DEPENDENCIES,
    }))
}

export_module!(MyNewModule);
