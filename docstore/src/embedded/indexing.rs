//! Keeping a collection's indexes in step with its documents, and refusing
//! a write that would break a unique index.

use redb::{MultimapTableDefinition, ReadableMultimapTable, WriteTransaction};
use serde_json::Value;

use super::catalog::IndexSpec;
use super::keys::{empty_array, encode};
use super::storage_error;
use crate::error::{DbError, DbResult};
use crate::path::resolve;

/// The table of the index on `field` of the collection `namespace`.
pub fn index_table(name: &str) -> MultimapTableDefinition<'_, &'static [u8], &'static [u8]> {
    MultimapTableDefinition::new(name)
}

/// The table name of the index on `field` of `namespace`.
pub fn index_table_name(namespace: &str, field: &str) -> String {
    format!("index/{namespace}/{field}")
}

/// The keys `doc` has in an index on `field`: one per array element, null
/// when the field is missing. Also says whether an array was met.
pub fn keys_of(doc: &Value, field: &str) -> (Vec<Vec<u8>>, bool) {
    let resolved = resolve(doc, field);
    if resolved.is_empty() {
        return (vec![encode(&Value::Null)], false);
    }
    let mut keys = Vec::new();
    let mut multikey = false;
    for value in resolved {
        match value {
            Value::Array(items) if items.is_empty() => keys.push(empty_array()),
            Value::Array(items) => {
                multikey = true;
                keys.extend(items.iter().map(encode));
            }
            other => keys.push(encode(other)),
        }
    }
    keys.sort();
    keys.dedup();
    (keys, multikey)
}

/// Adds `doc` (stored under `id`) to every index. Returns whether an index
/// became multikey, so the catalog must be saved.
pub fn add(
    txn: &WriteTransaction,
    namespace: &str,
    indexes: &mut [IndexSpec],
    doc: &Value,
    id: &[u8],
) -> DbResult<bool> {
    let mut catalog_changed = false;
    for spec in indexes.iter_mut() {
        let name = index_table_name(namespace, &spec.field);
        let mut table = txn
            .open_multimap_table(index_table(&name))
            .map_err(storage_error)?;
        let (keys, multikey) = keys_of(doc, &spec.field);
        for key in &keys {
            if spec.unique {
                for other in table.get(key.as_slice()).map_err(storage_error)? {
                    if other.map_err(storage_error)?.value() != id {
                        return Err(DbError::DuplicateKey(format!(
                            "another document has the same {} (unique index)",
                            spec.field
                        )));
                    }
                }
            }
            table.insert(key.as_slice(), id).map_err(storage_error)?;
        }
        if multikey && !spec.multikey {
            spec.multikey = true;
            catalog_changed = true;
        }
    }
    Ok(catalog_changed)
}

/// Removes `doc` (stored under `id`) from every index.
pub fn remove(
    txn: &WriteTransaction,
    namespace: &str,
    indexes: &[IndexSpec],
    doc: &Value,
    id: &[u8],
) -> DbResult<()> {
    for spec in indexes {
        let name = index_table_name(namespace, &spec.field);
        let mut table = txn
            .open_multimap_table(index_table(&name))
            .map_err(storage_error)?;
        for key in keys_of(doc, &spec.field).0 {
            table.remove(key.as_slice(), id).map_err(storage_error)?;
        }
    }
    Ok(())
}
