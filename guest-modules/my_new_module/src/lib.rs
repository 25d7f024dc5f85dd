//! `my_new_module`, the example of the original module guide, as a modhost
//! module: `GET /my-module/info` reports the module and when it was
//! initialised, `GET` and `POST /my-module/data` list and store records in
//! its own collection, and its health says how long it has been up. As in
//! the guide, storing a record is timed and counted with the module's own
//! metrics (`modhost_module_data_writes_seconds`, `..._records_saved_total`).

use modhost_sdk::db::{Collection, FindOptions, RawDocument};
use modhost_sdk::metrics;
use modhost_sdk::{
    Error, Health, HealthStatus, Module, Request, Response, Result, Router, export_module, info,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The guide's collection.
const DATA: Collection = Collection::new("my_module_data");

/// How many records `GET /my-module/data` returns when no limit is asked.
const DEFAULT_PAGE: u64 = 100;

struct MyNewModule;

impl Module for MyNewModule {
    const NAME: &'static str = "my_new_module";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "The module guide's example module";
    // The guide's module depended on `connection_api` for database access;
    // in modhost the database is a host capability, not a module.
    const DEPENDENCIES: &'static [&'static str] = &[];

    fn routes() -> Router {
        Router::new()
            .get("/my-module/info", module_info)
            .get("/my-module/data", list_data)
            .post("/my-module/data", create_data)
            .get("/my-module/data/:id", get_data)
    }

    fn init() -> Result<()> {
        info!("Initializing {}...", Self::NAME);
        Ok(())
    }

    fn health() -> Health {
        let now = modhost_sdk::time::now();
        let uptime = modhost_sdk::time::initialized_at()
            .map(|at| (now - at).num_milliseconds() as f64 / 1000.0)
            .unwrap_or(0.0);
        let database = DATA.count(json!({})).is_ok();
        let status = if database {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        };
        Health::new(status)
            .with_detail("module", Self::NAME)
            .with_detail("database_connection", database)
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

/// The guide's failure shape, `{"success": false, "error": ...}`, with the
/// status the error calls for.
fn failure(err: Error) -> Result<Response> {
    Response::json_with_status(
        err.status(),
        &json!({"success": false, "error": err.message()}),
    )
}

/// A page of records, as `GET /my-module/data` answers it. The records are
/// passed on as the database sent them, never parsed.
#[derive(Serialize)]
struct Listing {
    success: bool,
    count: usize,
    data: Vec<RawDocument>,
}

/// One record, as `GET /my-module/data/:id` answers it.
#[derive(Serialize)]
struct Record {
    success: bool,
    data: RawDocument,
}

/// `GET /my-module/data[?skip=N&limit=N]`: stored records, oldest first.
fn list_data(req: Request) -> Result<Response> {
    let page = || -> Result<Vec<RawDocument>> {
        let options = FindOptions::new()
            .sort_asc("_id")
            .skip(req.query_number("skip", 0)?)
            .limit(req.query_number("limit", DEFAULT_PAGE)?);
        Ok(DATA.find(json!({}), &options)?)
    };
    match page() {
        Ok(data) => Response::json(&Listing {
            success: true,
            count: data.len(),
            data,
        }),
        Err(err) => failure(err),
    }
}

/// `GET /my-module/data/:id`: one record.
fn get_data(req: Request) -> Result<Response> {
    let id = req.param("id")?;
    match DATA.find_one::<RawDocument>(json!({"_id": id})) {
        Ok(Some(data)) => Response::json(&Record {
            success: true,
            data,
        }),
        Ok(None) => failure(Error::not_found(format!("no record with id {id}"))),
        Err(err) => failure(err.into()),
    }
}

/// `POST /my-module/data`: stores a JSON object that has a `name`, with
/// when and by which module it was made; answers its id.
fn create_data(req: Request) -> Result<Response> {
    let _timer = metrics::timer("data_writes");
    let record: Option<Map<String, Value>> = serde_json::from_slice(req.body()).ok();
    let Some(mut record) = record.filter(|r| r.contains_key("name")) else {
        return failure(Error::bad_request("Missing required field: name"));
    };
    record.insert(
        "created_at".into(),
        json!(modhost_sdk::time::now().to_rfc3339()),
    );
    record.insert("module".into(), json!(MyNewModule::NAME));
    match DATA.insert_one(&record) {
        Ok(id) => {
            // Metrics are a side channel: a refusal must not fail the write.
            let _ = metrics::increment("records_saved", &[]);
            Response::json(
                &json!({"success": true, "id": id, "message": "Data created successfully"}),
            )
        }
        Err(err) => failure(err.into()),
    }
}

export_module!(MyNewModule);
