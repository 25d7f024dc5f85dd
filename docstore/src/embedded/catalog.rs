//! The indexes of each collection, kept in a table of their own in the same
//! database, so they change in the same transactions as the documents.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::storage_error;
use crate::error::DbResult;

/// `namespace key -> JSON list of IndexSpec`.
pub const CATALOG: TableDefinition<&str, &str> = TableDefinition::new("catalog");

/// One single-field index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSpec {
    /// The dotted path it indexes.
    pub field: String,
    /// Whether two documents may share a value.
    pub unique: bool,
    /// Whether some document had an array there (then a range's two bounds
    /// may be met by different elements, and only one bound may be scanned).
    pub multikey: bool,
    /// Whether every value indexed so far was a scalar (null or missing, a
    /// number, a string, a boolean) and none sat in an array: then key order
    /// is MongoDB's sort order, and a sort on the field may read the index
    /// in order. An index from before this flag reads as not sortable.
    #[serde(default)]
    pub sortable: bool,
}

/// The indexes of one collection.
pub fn load(
    table: &impl ReadableTable<&'static str, &'static str>,
    namespace: &str,
) -> DbResult<Vec<IndexSpec>> {
    match table.get(namespace).map_err(storage_error)? {
        Some(text) => serde_json::from_str(text.value()).map_err(|err| {
            storage_error(format!("index catalog of {namespace} is unreadable: {err}"))
        }),
        None => Ok(Vec::new()),
    }
}

/// Stores the indexes of one collection.
pub fn save(txn: &WriteTransaction, namespace: &str, indexes: &[IndexSpec]) -> DbResult<()> {
    let mut table = txn.open_table(CATALOG).map_err(storage_error)?;
    let text = serde_json::to_string(indexes).map_err(storage_error)?;
    table
        .insert(namespace, text.as_str())
        .map_err(storage_error)?;
    Ok(())
}
