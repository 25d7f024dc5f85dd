//! Keeping a collection's indexes in step with its documents, and refusing
//! a write that would break a unique index.

use redb::{MultimapTableDefinition, ReadableMultimapTable, WriteTransaction};
use serde_json::Value;

use super::catalog::IndexSpec;
use super::keys::{empty_array, encode};
use super::storage_error;
use crate::error::{DbError, DbResult};
use crate::path::{meets_array, resolve};

/// The table of the index on `field` of the collection `namespace`.
pub fn index_table(name: &str) -> MultimapTableDefinition<'_, &'static [u8], &'static [u8]> {
    MultimapTableDefinition::new(name)
}

/// The table name of the index on `field` of `namespace`.
pub fn index_table_name(namespace: &str, field: &str) -> String {
    format!("index/{namespace}/{field}")
}

/// The keys `doc` has in an index on `field`: one per value found there and
/// per element of an array found there; null for a missing field, also in
/// an array element that lacks it (as MongoDB keys it, and as a filter reads
/// it). Also says whether the path met an array, making the index multikey.
pub fn keys_of(doc: &Value, field: &str) -> (Vec<Vec<u8>>, bool) {
    let mut keys = Vec::new();
    for found in resolve(doc, field) {
        match found {
            None => keys.push(encode(&Value::Null)),
            Some(Value::Array(items)) if items.is_empty() => keys.push(empty_array()),
            Some(Value::Array(items)) => keys.extend(items.iter().map(encode)),
            Some(other) => keys.push(encode(other)),
        }
    }
    // A path that leads nowhere (through an empty array, say) is null too.
    if keys.is_empty() {
        keys.push(encode(&Value::Null));
    }
    keys.sort();
    keys.dedup();
    (keys, meets_array(doc, field))
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
        if spec.sortable && (multikey || !scalars_only(doc, &spec.field)) {
            spec.sortable = false;
            catalog_changed = true;
        }
    }
    Ok(catalog_changed)
}

/// Whether every value `field` leads to in `doc` is a scalar (or missing):
/// what keeps an index's key order its sort order.
fn scalars_only(doc: &Value, field: &str) -> bool {
    resolve(doc, field)
        .into_iter()
        .flatten()
        .all(|value| !matches!(value, Value::Array(_) | Value::Object(_)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_array_in_the_middle_of_a_path_makes_an_index_multikey() {
        let (keys, multikey) = keys_of(&json!({"objs": [{"k": 1}, {"k": 5}]}), "objs.k");
        assert_eq!(keys, vec![encode(&json!(1)), encode(&json!(5))]);
        assert!(multikey);
        assert!(!keys_of(&json!({"o": {"k": 1}}), "o.k").1);
    }

    #[test]
    fn an_array_element_lacking_the_field_has_a_null_key() {
        let (keys, _) = keys_of(&json!({"a": [{"b": 3}, {}]}), "a.b");
        assert_eq!(keys, vec![encode(&Value::Null), encode(&json!(3))]);
        let (keys, multikey) = keys_of(&json!({}), "a.b");
        assert_eq!((keys, multikey), (vec![encode(&Value::Null)], false));
    }
}
