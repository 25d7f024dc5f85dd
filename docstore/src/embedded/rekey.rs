//! The migration from format version 1 to 2 (see [`super::format`]): a
//! number's key was its `f64`, now it is exact. Every collection is moved to
//! the keys of its documents' `_id`s, every index rebuilt from the
//! documents, and the stored bytes of every scope counted again, since the
//! keys they count changed length. All inside the caller's transaction.

use redb::{ReadableTable, TableHandle, WriteTransaction};
use serde_json::Value;

use super::catalog::{self, CATALOG};
use super::indexing::{self, index_table, index_table_name};
use super::{DOCS_PREFIX, docs_table, keys, storage_error, usage};
use crate::error::DbResult;

/// What a migration changed, for the log.
#[derive(Debug, Default)]
pub struct Migrated {
    /// Collections re-keyed.
    pub collections: usize,
    /// Documents in them.
    pub documents: u64,
    /// Indexes rebuilt.
    pub indexes: usize,
    /// Scopes whose stored bytes were counted again.
    pub scopes: usize,
}

/// Re-keys every collection and rebuilds every index with the current
/// [`keys::encode`].
pub fn exact_number_keys(txn: &WriteTransaction) -> DbResult<Migrated> {
    let names: Vec<String> = txn
        .list_tables()
        .map_err(storage_error)?
        .map(|table| table.name().to_string())
        .filter(|name| name.starts_with(DOCS_PREFIX))
        .collect();
    let mut migrated = Migrated {
        collections: names.len(),
        ..Migrated::default()
    };
    for name in &names {
        migrated.documents += rekey_documents(txn, name)?;
        migrated.indexes += rebuild_indexes(txn, name)?;
    }
    migrated.scopes = usage::recount(txn)?;
    Ok(migrated)
}

/// Moves each document of the table `name` to the key of its `_id`;
/// returns how many documents the table holds.
fn rekey_documents(txn: &WriteTransaction, name: &str) -> DbResult<u64> {
    let mut docs = txn.open_table(docs_table(name)).map_err(storage_error)?;
    let mut count = 0;
    // Only the keys are held, never the documents.
    let mut moves = Vec::new();
    for entry in docs.iter().map_err(storage_error)? {
        let (old, text) = entry.map_err(storage_error)?;
        count += 1;
        let doc: Value = serde_json::from_slice(text.value()).map_err(storage_error)?;
        let new = keys::encode(&doc["_id"]);
        if new != old.value() {
            moves.push((old.value().to_vec(), new, doc["_id"].clone()));
        }
    }
    for (old, new, id) in moves {
        // Only number keys change, from 9 bytes to 17, so a taken new key
        // is another document's moved here: two `_id`s the old keys told
        // apart and the exact ones do not. That cannot happen (exact keys
        // tell more apart), but if it did, overwriting would lose one.
        if docs.get(new.as_slice()).map_err(storage_error)?.is_some() {
            return Err(storage_error(format!(
                "in {name}, the document with _id {id} would take the key of another document"
            )));
        }
        let text = docs
            .remove(old.as_slice())
            .map_err(storage_error)?
            .ok_or_else(|| storage_error(format!("in {name}, _id {id} vanished while moving")))?
            .value()
            .to_vec();
        docs.insert(new.as_slice(), text.as_slice())
            .map_err(storage_error)?;
    }
    Ok(count)
}

/// Empties and refills every index of the collection in the table `name`
/// from its documents; returns how many it has.
fn rebuild_indexes(txn: &WriteTransaction, name: &str) -> DbResult<usize> {
    let key = &name[DOCS_PREFIX.len()..];
    let mut indexes = catalog::load(&txn.open_table(CATALOG).map_err(storage_error)?, key)?;
    if indexes.is_empty() {
        return Ok(0);
    }
    for spec in &mut indexes {
        let table = index_table_name(key, &spec.field);
        txn.delete_multimap_table(index_table(&table))
            .map_err(storage_error)?;
        txn.open_multimap_table(index_table(&table))
            .map_err(storage_error)?;
        // Found again below, from the documents.
        spec.multikey = false;
    }
    let docs = txn.open_table(docs_table(name)).map_err(storage_error)?;
    for entry in docs.iter().map_err(storage_error)? {
        let (id, text) = entry.map_err(storage_error)?;
        let doc: Value = serde_json::from_slice(text.value()).map_err(storage_error)?;
        indexing::add(txn, key, &mut indexes, &doc, id.value())?;
    }
    catalog::save(txn, key, &indexes)?;
    Ok(indexes.len())
}
