//! How many bytes each scope (a tenant's module) stores, and its quota.
//!
//! A document costs its `_id` key, its JSON text and its index entries (each
//! an index key and the `_id` key); redb's own overhead is not counted. The
//! use of each scope is a row of the `usage` table, changed in the same
//! write transaction as the documents, so it is never out of step with them.
//! A database from before the table has no row: the scope's documents are
//! counted once, in the first write transaction that needs the row.

use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};
use serde_json::Value;

use super::catalog::{self, CATALOG, IndexSpec};
use super::indexing::keys_of;
use super::{DOCS_PREFIX, docs_table, storage_error};
use crate::error::{DbError, DbResult};
use crate::scope::Namespace;

/// `scope key -> bytes stored`.
const USAGE: TableDefinition<&str, u64> = TableDefinition::new("usage");

/// The use of one scope inside a write transaction.
pub struct Usage {
    scope: String,
    max: Option<u64>,
    /// The use when the transaction began.
    before: u64,
    /// The use now.
    now: u64,
    /// Whether the row was missing, so must be written even if unchanged.
    counted: bool,
}

impl Usage {
    /// The use of `namespace`'s scope, counted now if it has no row yet.
    pub fn open(txn: &WriteTransaction, namespace: &Namespace) -> DbResult<Usage> {
        let scope = namespace.scope_key();
        let row = txn
            .open_table(USAGE)
            .map_err(storage_error)?
            .get(scope.as_str())
            .map_err(storage_error)?
            .map(|bytes| bytes.value());
        let (before, counted) = match row {
            Some(bytes) => (bytes, false),
            None => (count(txn, &scope)?, true),
        };
        Ok(Usage {
            scope,
            max: namespace.max_bytes(),
            before,
            now: before,
            counted,
        })
    }

    /// Adds `bytes` written; fails when that takes a scope that has grown in
    /// this transaction over its quota. Checked at every document, so a
    /// refused write stops early.
    pub fn grow(&mut self, bytes: u64) -> DbResult<()> {
        self.now = self.now.saturating_add(bytes);
        match self.max {
            Some(max) if self.now > max && self.now > self.before => {
                Err(DbError::QuotaExceeded(format!(
                    "the write would take this module's stored data to {} bytes, over its quota of {max} bytes (db_bytes); {} bytes are in use. Delete documents to make room",
                    self.now, self.before
                )))
            }
            _ => Ok(()),
        }
    }

    /// Takes away `bytes` removed. Never fails: deletes are always allowed.
    pub fn shrink(&mut self, bytes: u64) {
        self.now = self.now.saturating_sub(bytes);
    }

    /// Writes the row, when it changed or was missing.
    pub fn save(&self, txn: &WriteTransaction) -> DbResult<()> {
        if self.counted || self.now != self.before {
            txn.open_table(USAGE)
                .map_err(storage_error)?
                .insert(self.scope.as_str(), self.now)
                .map_err(storage_error)?;
        }
        Ok(())
    }
}

/// What a stored document costs: its `_id` key `id`, its JSON text of
/// `text_bytes`, and its entries in `indexes`.
pub fn document_bytes(indexes: &[IndexSpec], id: &[u8], text_bytes: usize, doc: &Value) -> u64 {
    (id.len() + text_bytes) as u64 + index_bytes(indexes, id, doc)
}

/// What a document's entries in `indexes` cost: a key and `id` each.
pub fn index_bytes(indexes: &[IndexSpec], id: &[u8], doc: &Value) -> u64 {
    indexes
        .iter()
        .flat_map(|spec| keys_of(doc, &spec.field).0)
        .map(|key| (key.len() + id.len()) as u64)
        .sum()
}

/// Counts again the bytes of every scope that has a row, when what a
/// document costs has changed (a migration of the keys); returns how many.
pub fn recount(txn: &WriteTransaction) -> DbResult<usize> {
    let scopes = txn
        .open_table(USAGE)
        .map_err(storage_error)?
        .iter()
        .map_err(storage_error)?
        .map(|row| row.map(|(scope, _)| scope.value().to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(storage_error)?;
    for scope in &scopes {
        let bytes = count(txn, scope)?;
        txn.open_table(USAGE)
            .map_err(storage_error)?
            .insert(scope.as_str(), bytes)
            .map_err(storage_error)?;
    }
    Ok(scopes.len())
}

/// Counts the bytes a scope stores, reading each of its documents once (only
/// the first write to a scope of a database from before the `usage` table).
fn count(txn: &WriteTransaction, scope: &str) -> DbResult<u64> {
    let prefix = format!("{DOCS_PREFIX}{scope}/");
    let names: Vec<String> = txn
        .list_tables()
        .map_err(storage_error)?
        .map(|table| table.name().to_string())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    let catalog = txn.open_table(CATALOG).map_err(storage_error)?;
    let mut total = 0;
    for name in names {
        let indexes = catalog::load(&catalog, &name[DOCS_PREFIX.len()..])?;
        let docs = txn.open_table(docs_table(&name)).map_err(storage_error)?;
        for entry in docs.iter().map_err(storage_error)? {
            let (id, text) = entry.map_err(storage_error)?;
            let (id, text) = (id.value(), text.value());
            total += if indexes.is_empty() {
                (id.len() + text.len()) as u64
            } else {
                let doc: Value = serde_json::from_slice(text).map_err(storage_error)?;
                document_bytes(&indexes, id, text.len(), &doc)
            };
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedStore;
    use crate::{Filter, Limits, Matches, QueryBudget, Scope};
    use redb::ReadableDatabase;
    use serde_json::json;

    const LIMITS: Limits = Limits {
        max_document_bytes: 4096,
        max_find_documents: 100,
        max_query_bytes: 1 << 20,
        max_examined_documents: 10_000,
    };

    /// The row of `scope`, as the store left it.
    fn row(store: &EmbeddedStore, scope: &str) -> Option<u64> {
        let txn = store.db.begin_read().unwrap();
        let table = txn.open_table(USAGE).unwrap();
        table.get(scope).unwrap().map(|bytes| bytes.value())
    }

    /// The row follows every write of the scope, in any of its collections,
    /// index entries included; a database without it counts the same again.
    #[tokio::test]
    async fn the_row_follows_writes_and_a_missing_row_is_counted_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("db.redb"), LIMITS).unwrap();
        let scope = Scope::new("t", "m").unwrap();
        let (a, b) = (
            scope.collection("a").unwrap(),
            scope.collection("b").unwrap(),
        );
        let none = QueryBudget::default();
        let doc = json!({"_id": "x", "tag": "abc", "list": [1, 2]});
        let text = serde_json::to_string(&doc).unwrap().len() as u64;
        // The `_id` key of "x" is 2 bytes (its type, then "x"); a number's
        // key 17 (its type, its f64, its exact remainder); "abc"'s key 4.
        let (id, number, abc) = (2, 17, 4);
        store
            .create_index(&a, "list".into(), false, none)
            .await
            .unwrap();
        store.insert(&a, vec![doc.clone()], none).await.unwrap();
        store.insert(&b, vec![doc], none).await.unwrap();
        let in_a = id + text + 2 * (number + id);
        let in_b = id + text;
        assert_eq!(row(&store, "t/m"), Some(in_a + in_b));

        store
            .create_index(&b, "tag".into(), false, none)
            .await
            .unwrap();
        let expected = in_a + in_b + abc + id;
        assert_eq!(row(&store, "t/m"), Some(expected));
        assert_eq!(row(&store, "t/other"), None, "other scopes are untouched");

        let txn = store.db.begin_write().unwrap();
        txn.open_table(USAGE).unwrap().remove("t/m").unwrap();
        txn.commit().unwrap();
        let nothing = Filter::parse(&json!({"nothing": 1})).unwrap();
        store
            .delete(&a, nothing, Matches::First, none)
            .await
            .unwrap();
        assert_eq!(row(&store, "t/m"), Some(expected), "counted again");
    }
}
