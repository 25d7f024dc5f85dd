//! {{name}}: made by `modhost new`. `GET {{route}}` answers a greeting with
//! the request's id and logs a line. Add routes to `routes`, build with
//! `just guests`, and see the README's "Writing a module".

use modhost_sdk::{Module, Request, Response, Result, Router, export_module, info};
use serde_json::json;

struct ThisModule;

impl Module for ThisModule {
    const NAME: &'static str = "{{name}}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "{{description}}";

    fn routes() -> Router {
        Router::new().get("{{route}}", hello)
    }
}

fn hello(req: Request) -> Result<Response> {
    info!("saying hello");
    Response::json(&json!({
        "module": ThisModule::NAME,
        "message": "hello",
        "request_id": req.id(),
    }))
}

export_module!(ThisModule);
