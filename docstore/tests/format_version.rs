//! The embedded file's format version: a file written before it was stored
//! (version 1, numbers keyed by their `f64`) is migrated on open, once; a
//! file from a newer runtime is refused, saying what to do.
//!
//! The version-1 files are written here with redb directly, in the old
//! encoding, as the runtime before the version wrote them.

mod common;

use std::path::Path;

use common::{LIMITS, NO_DEADLINE};
use modhost_docstore::{DocumentStore, EmbeddedStore, FindOptions, Scope};
use redb::{Database, MultimapTableDefinition, ReadableDatabase, TableDefinition};
use serde_json::{Value, json};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const USAGE: TableDefinition<&str, u64> = TableDefinition::new("usage");
const CATALOG: TableDefinition<&str, &str> = TableDefinition::new("catalog");
const DOCS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("docs/t/m/acc");
const INDEX: MultimapTableDefinition<&[u8], &[u8]> =
    MultimapTableDefinition::new("index/t/m/acc/n");

/// Two integers one `f64` apart from each other's rounding: both round to
/// 2^53, so the old keys could hold only one of them; here the one stored.
const BIG: i64 = (1 << 53) + 1;

/// The documents of the old file: number `_id`s (small, large, fractional)
/// and a string one, with an indexed number field.
fn documents() -> Vec<Value> {
    vec![
        json!({"_id": 1, "n": 7}),
        json!({"_id": 2, "n": 7}),
        json!({"_id": BIG, "n": BIG}),
        json!({"_id": 2.5, "n": -3}),
        json!({"_id": "s", "n": 0.5}),
    ]
}

/// A key as the version-1 code made it: the type bracket, then for a number
/// its `f64` bits, flipped so byte order is numeric order.
fn old_key(value: &Value) -> Vec<u8> {
    match value {
        Value::Number(n) => {
            let f = n.as_f64().unwrap() + 0.0;
            let bits = f.to_bits();
            let ordered = if bits >> 63 == 1 {
                !bits
            } else {
                bits | 1 << 63
            };
            let mut key = vec![10];
            key.extend_from_slice(&ordered.to_be_bytes());
            key
        }
        Value::String(s) => [&[15], s.as_bytes()].concat(),
        other => panic!("no old key written for {other}"),
    }
}

/// Writes a version-1 file at `path`: the documents under `key_of` their
/// `_id`, the index on `n` with its catalog entry, and a stale usage row.
fn write_version_1(path: &Path, docs: &[Value], mut key_of: impl FnMut(&Value) -> Vec<u8>) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(DOCS).unwrap();
        let mut index = txn.open_multimap_table(INDEX).unwrap();
        for doc in docs {
            let id = key_of(&doc["_id"]);
            let text = serde_json::to_vec(doc).unwrap();
            table.insert(id.as_slice(), text.as_slice()).unwrap();
            index
                .insert(old_key(&doc["n"]).as_slice(), id.as_slice())
                .unwrap();
        }
        let spec = r#"[{"field":"n","unique":false,"multikey":false}]"#;
        txn.open_table(CATALOG)
            .unwrap()
            .insert("t/m/acc", spec)
            .unwrap();
        txn.open_table(USAGE).unwrap().insert("t/m", 1).unwrap();
    }
    txn.commit().unwrap();
}

/// The row `key` of the table `table` of the (closed) file at `path`.
fn row(path: &Path, table: TableDefinition<&str, u64>, key: &str) -> Option<u64> {
    let db = Database::create(path).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(table).unwrap();
    table.get(key).unwrap().map(|v| v.value())
}

fn set_row(path: &Path, table: TableDefinition<&str, u64>, key: &str, value: u64) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(table).unwrap().insert(key, value).unwrap();
    txn.commit().unwrap();
}

/// The bytes a store of the current version counts for the same documents
/// and index, written through the store itself.
async fn usage_of_a_fresh_store() -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.redb");
    let store = DocumentStore::Embedded(EmbeddedStore::open(&path, LIMITS).unwrap());
    let acc = Scope::new("t", "m").unwrap().collection("acc").unwrap();
    store
        .create_index(&acc, "n", false, NO_DEADLINE)
        .await
        .unwrap();
    store.insert(&acc, documents(), NO_DEADLINE).await.unwrap();
    drop(store);
    row(&path, USAGE, "t/m").unwrap()
}

/// The `_id`s `filter` finds, and the index it used.
async fn find(store: &EmbeddedStore, filter: Value) -> (Vec<Value>, Option<String>) {
    let acc = Scope::new("t", "m").unwrap().collection("acc").unwrap();
    let parsed = modhost_docstore::Filter::parse(&filter).unwrap();
    let found = store
        .find(
            &acc,
            parsed,
            Default::default(),
            (0, None),
            None,
            NO_DEADLINE,
        )
        .await
        .unwrap();
    let ids = found.docs.iter().map(|doc| doc["_id"].clone()).collect();
    (ids, found.index)
}

#[tokio::test]
async fn a_version_1_file_is_migrated_once_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    write_version_1(&path, &documents(), old_key);

    let store = EmbeddedStore::open(&path, LIMITS).unwrap();
    for doc in documents() {
        let (ids, index) = find(&store, json!({"_id": doc["_id"]})).await;
        assert_eq!(
            (ids, index.as_deref()),
            (vec![doc["_id"].clone()], Some("_id"))
        );
    }
    let (ids, index) = find(&store, json!({"n": 7})).await;
    assert_eq!(
        (ids, index.as_deref()),
        (vec![json!(1), json!(2)], Some("n"))
    );
    let (ids, index) = find(&store, json!({"n": BIG})).await;
    assert_eq!((ids, index.as_deref()), (vec![json!(BIG)], Some("n")));
    let (ids, _) = find(&store, json!({"n": {"$lt": 1}})).await;
    assert_eq!(ids, vec![json!(2.5), json!("s")]);
    let docs = DocumentStore::Embedded(store);
    let acc = Scope::new("t", "m").unwrap().collection("acc").unwrap();
    assert_eq!(docs.count(&acc, &json!({}), NO_DEADLINE).await.unwrap(), 5);
    let one = docs
        .find_one(
            &acc,
            &json!({"_id": BIG}),
            &FindOptions::default(),
            NO_DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!(one, Some(json!({"_id": BIG, "n": BIG})));
    drop(docs);

    assert_eq!(row(&path, META, "format"), Some(2));
    assert_eq!(
        row(&path, USAGE, "t/m"),
        Some(usage_of_a_fresh_store().await)
    );

    // A second open migrates nothing: a mark in the usage row, which a
    // migration would count again, stays.
    set_row(&path, USAGE, "t/m", 12345);
    let store = EmbeddedStore::open(&path, LIMITS).unwrap();
    let (ids, _) = find(&store, json!({"_id": BIG})).await;
    assert_eq!(ids, vec![json!(BIG)]);
    drop(store);
    assert_eq!(row(&path, USAGE, "t/m"), Some(12345));
}

#[tokio::test]
async fn a_new_file_gets_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.redb");
    drop(EmbeddedStore::open(&path, LIMITS).unwrap());
    assert_eq!(row(&path, META, "format"), Some(2));
}

#[tokio::test]
async fn a_file_from_a_newer_runtime_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.redb");
    set_row(&path, META, "format", 3);
    let Err(err) = EmbeddedStore::open(&path, LIMITS) else {
        panic!("a version-3 file was opened");
    };
    for words in [
        &path.display().to_string(),
        "format version 3",
        "reads version 2",
        "newer modhost",
        "restore a backup",
    ] {
        assert!(err.contains(words), "{words:?} missing from {err:?}");
    }
    assert_eq!(row(&path, META, "format"), Some(3), "the file is untouched");
}

#[tokio::test]
async fn a_migration_that_would_overwrite_a_document_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clash.redb");
    // Two documents with `_id` 1, under different old keys: no old runtime
    // wrote that, but a migration must not silently keep only one.
    let docs = [json!({"_id": 1, "n": 1}), json!({"_id": 1, "n": 2})];
    let mut keys = vec![b"first".to_vec(), old_key(&json!(1))].into_iter();
    write_version_1(&path, &docs, |_| keys.next().unwrap());
    let Err(err) = EmbeddedStore::open(&path, LIMITS) else {
        panic!("the clash was not noticed");
    };
    assert!(
        err.contains("would take the key of another document"),
        "{err}"
    );
    assert!(err.contains("file is unchanged"), "{err}");
    assert_eq!(row(&path, USAGE, "t/m"), Some(1), "rolled back");
}
