//! The db benchmark, on the embedded backend in a fresh folder: `n`
//! inserts, then finds by an indexed field, one call each; then `n` wallet
//! transfers (see [`crate::transfers`]).

use std::path::Path;
use std::time::Instant;

use modhost_docstore::{DocumentStore, EmbeddedStore, FindOptions, Limits, QueryBudget, Scope};
use serde_json::json;

use crate::server::Server;
use crate::{per_second, ratio_row, row};

/// The store's limits in the db benchmarks.
pub const LIMITS: Limits = Limits {
    max_document_bytes: 1024 * 1024,
    max_find_documents: 1000,
    max_query_bytes: Limits::DEFAULT_MAX_QUERY_BYTES,
    max_examined_documents: Limits::DEFAULT_MAX_EXAMINED_DOCUMENTS,
};

/// Measures and prints.
pub fn run(modhost: &Path, guest: &Path, inserts: u64, finds: u64) {
    let direct = direct(inserts, finds);
    let through_guest = through_guest(modhost, guest, inserts, finds);
    println!("embedded db, {inserts} inserts and {finds} indexed finds, one call each");
    println!("{:<28}{:>14}{:>14}", "", "insert/s", "find/s");
    row("direct from Rust", &direct);
    row("through a guest", &through_guest);
    ratio_row("ratio guest / direct", &through_guest, &direct);
    println!();
    crate::transfers::run(inserts);
}

/// The calls on the store, as the runtime makes them for a guest.
fn direct(inserts: u64, finds: u64) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let path = dir.path().join("bench.redb");
        let store =
            DocumentStore::Embedded(EmbeddedStore::open(&path, LIMITS).expect("open the store"));
        let items = Scope::new("default", "db_bench_module")
            .unwrap()
            .collection("items")
            .unwrap();
        store
            .create_index(&items, "key", true, QueryBudget::default())
            .await
            .unwrap();
        let started = Instant::now();
        for i in 0..inserts {
            let doc = json!({"key": format!("key-{i}"), "n": i});
            store
                .insert(&items, vec![doc], QueryBudget::default())
                .await
                .unwrap();
        }
        let insert_rate = per_second(inserts, started.elapsed());
        let started = Instant::now();
        for i in 0..finds {
            let filter = json!({"key": format!("key-{}", i % inserts)});
            let found = store
                .find_one(
                    &items,
                    &filter,
                    &FindOptions::default(),
                    QueryBudget::default(),
                )
                .await
                .unwrap();
            assert!(found.is_some());
        }
        vec![insert_rate, per_second(finds, started.elapsed())]
    })
}

/// The same calls made by db_bench_module inside one request each.
fn through_guest(modhost: &Path, guest: &Path, inserts: u64, finds: u64) -> Vec<f64> {
    let server = Server::start(modhost, guest, "db_bench_module", "");
    let started = Instant::now();
    let inserted = server.request("POST", &format!("/db-bench/insert/{inserts}"));
    let insert_rate = per_second(inserts, started.elapsed());
    assert!(
        inserted.contains(&format!("\"inserted\":{inserts}")),
        "{inserted}"
    );
    // The guest's finds cycle through the keys the same way the direct ones do.
    let started = Instant::now();
    let mut left = finds;
    while left > 0 {
        let batch = left.min(inserts);
        let found = server.request("GET", &format!("/db-bench/find/{batch}"));
        assert!(found.contains(&format!("\"found\":{batch}")), "{found}");
        left -= batch;
    }
    vec![insert_rate, per_second(finds, started.elapsed())]
}
