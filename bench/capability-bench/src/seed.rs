//! Fills `my_new_module`'s collection in an embedded database file with
//! records shaped like those `POST /my-module/data` stores, for the data
//! routes benchmark (bench/db-routes) to serve from: a million documents
//! through HTTP would take longer than the benchmark itself.

use std::path::Path;

use modhost_docstore::{EmbeddedStore, QueryBudget, Scope};
use serde_json::json;

use crate::db::LIMITS;

/// Documents per transaction: well inside one write's time budget.
const BATCH: u64 = 5_000;

/// Adds `documents` records to the collection in the file at `path`.
pub fn run(path: &Path, documents: u64) -> Result<(), String> {
    let store = EmbeddedStore::open(path, LIMITS)?;
    let data = Scope::new("default", "my_new_module")
        .and_then(|scope| scope.collection("my_module_data"))
        .map_err(|err| err.message())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|err| err.to_string())?;
    let mut stored = 0;
    while stored < documents {
        let batch = (stored..documents.min(stored + BATCH))
            .map(|n| {
                json!({
                    "name": format!("record {n}"),
                    "value": n,
                    "created_at": "2026-11-28T00:00:00+00:00",
                    "module": "my_new_module",
                })
            })
            .collect();
        runtime
            .block_on(store.insert(&data, batch, QueryBudget::default()))
            .map_err(|err| err.message())?;
        stored = documents.min(stored + BATCH);
    }
    Ok(())
}
