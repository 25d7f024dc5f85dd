//! Writes inside one redb write transaction: the collections of one scope a
//! transaction touches, kept in step with their indexes, catalog and the
//! scope's stored bytes. A single call and a multi-write transaction both
//! go through here, so they behave the same.

use redb::{Database, Durability, ReadableTable, WriteTransaction};
use serde_json::Value;

use super::catalog::{self, CATALOG, IndexSpec};
use super::indexing::{self, index_table, index_table_name};
use super::keys;
use super::query::Parsed;
use super::usage::{Usage, document_bytes, index_bytes};
use super::{MAX_INDEXES, docs_table, docs_table_name, storage_error, write_matches};
use crate::budget::{Held, Work};
use crate::document::{check_updated, encode, identical, prepare, upsert_seed};
use crate::error::{DbError, DbResult};
use crate::filter::Filter;
use crate::scope::Namespace;
use crate::update::Update;
use crate::{Limits, Matches, UpdateResult, Upsert};

/// Runs `body` in a write transaction on `namespace`'s scope: committed
/// with `durability` when it succeeds, rolled back when it fails.
pub fn write<T, E: From<DbError>>(
    db: &Database,
    namespace: &Namespace,
    durability: Durability,
    body: impl FnOnce(&mut Writer) -> Result<T, E>,
) -> Result<T, E> {
    let mut txn = db.begin_write().map_err(storage_error)?;
    txn.set_durability(durability).map_err(storage_error)?;
    let done = Writer::open(&txn, namespace)
        .map_err(E::from)
        .and_then(|mut writer| {
            let value = body(&mut writer)?;
            writer.finish()?;
            Ok(value)
        });
    match done {
        Ok(value) => {
            txn.commit().map_err(storage_error)?;
            Ok(value)
        }
        Err(err) => {
            // The write failed already; a failed rollback changes nothing
            // on disk, since nothing was committed.
            txn.abort().ok();
            Err(err)
        }
    }
}

/// The collections a write transaction has opened, and their scope's use.
pub struct Writer<'t> {
    txn: &'t WriteTransaction,
    usage: Usage,
    collections: Vec<CollectionState>,
}

/// What a write transaction knows of one collection.
struct CollectionState {
    key: String,
    docs_name: String,
    indexes: Vec<IndexSpec>,
    catalog_changed: bool,
}

/// One collection inside a write transaction, with its scope's use.
pub struct Collection<'w, 't> {
    txn: &'t WriteTransaction,
    state: &'w mut CollectionState,
    usage: &'w mut Usage,
}

impl<'t> Writer<'t> {
    fn open(txn: &'t WriteTransaction, namespace: &Namespace) -> DbResult<Self> {
        Ok(Writer {
            txn,
            usage: Usage::open(txn, namespace)?,
            collections: Vec::new(),
        })
    }

    /// The collection `namespace` (of the scope the writer was opened on).
    pub fn collection(&mut self, namespace: &Namespace) -> DbResult<Collection<'_, 't>> {
        let key = namespace.key();
        let position = match self.collections.iter().position(|c| c.key == key) {
            Some(position) => position,
            None => {
                let catalog = self.txn.open_table(CATALOG).map_err(storage_error)?;
                self.collections.push(CollectionState {
                    indexes: catalog::load(&catalog, &key)?,
                    docs_name: docs_table_name(namespace),
                    key,
                    catalog_changed: false,
                });
                self.collections.len() - 1
            }
        };
        Ok(Collection {
            txn: self.txn,
            state: &mut self.collections[position],
            usage: &mut self.usage,
        })
    }

    /// Saves what changed besides the documents: catalogs and the use.
    fn finish(&self) -> DbResult<()> {
        for state in self.collections.iter().filter(|c| c.catalog_changed) {
            catalog::save(self.txn, &state.key, &state.indexes)?;
        }
        self.usage.save(self.txn)
    }
}

impl Collection<'_, '_> {
    /// The first match, or all, held within `limits`.
    fn matches(
        &self,
        filter: &Filter,
        which: Matches,
        work: &mut Work,
        limits: &Limits,
    ) -> DbResult<Vec<Parsed>> {
        let mut held = Held::new(limits);
        let mut found = Vec::new();
        write_matches(
            self.txn,
            &self.state.key,
            &self.state.docs_name,
            &self.state.indexes,
            filter,
            work,
            |stored| {
                held.hold(stored.bytes)?;
                found.push(stored);
                // Whether to go on looking.
                Ok(which == Matches::All)
            },
        )?;
        Ok(found)
    }

    /// Stores `doc`, refusing a repeated `_id` or unique value; returns
    /// the `_id`.
    pub fn insert(&mut self, mut doc: Value, limits: &Limits) -> DbResult<Value> {
        let id = prepare(&mut doc)?;
        let text = encode(&doc, limits.max_document_bytes)?;
        let key = keys::encode(&id);
        self.usage
            .grow(document_bytes(&self.state.indexes, &key, text.len(), &doc))?;
        let mut docs = self
            .txn
            .open_table(docs_table(&self.state.docs_name))
            .map_err(storage_error)?;
        if docs.get(key.as_slice()).map_err(storage_error)?.is_some() {
            return Err(DbError::DuplicateKey(format!(
                "a document with _id {id} exists"
            )));
        }
        docs.insert(key.as_slice(), text.as_slice())
            .map_err(storage_error)?;
        drop(docs);
        self.state.catalog_changed |= indexing::add(
            self.txn,
            &self.state.key,
            &mut self.state.indexes,
            &doc,
            &key,
        )?;
        Ok(id)
    }

    /// Applies `update` to the first match (or every match); with
    /// [`Upsert::Yes`], inserts a document made from the filter when none
    /// matches.
    pub fn update(
        &mut self,
        filter: &Filter,
        update: &Update,
        (which, upsert): (Matches, Upsert),
        work: &mut Work,
        limits: &Limits,
    ) -> DbResult<UpdateResult> {
        let matches = self.matches(filter, which, work, limits)?;
        let mut result = UpdateResult {
            matched: matches.len() as u64,
            ..UpdateResult::default()
        };
        for old in matches {
            work.step()?;
            let mut new = old.doc.clone();
            update.apply(&mut new, false, limits.max_document_bytes)?;
            if !identical(&new, &old.doc) {
                check_updated(&new, &old.doc["_id"])?;
                self.replace(&old, &new, limits)?;
                result.modified += 1;
            }
        }
        if result.matched == 0 && upsert == Upsert::Yes {
            let mut seed = upsert_seed(filter);
            update.apply(&mut seed, true, limits.max_document_bytes)?;
            result.upserted_id = Some(self.insert(seed, limits)?);
        }
        Ok(result)
    }

    /// Deletes the first match (or every match); returns how many.
    pub fn delete(
        &mut self,
        filter: &Filter,
        which: Matches,
        work: &mut Work,
        limits: &Limits,
    ) -> DbResult<u64> {
        let matches = self.matches(filter, which, work, limits)?;
        for found in &matches {
            work.step()?;
            self.remove(found)?;
        }
        Ok(matches.len() as u64)
    }

    fn replace(&mut self, old: &Parsed, new: &Value, limits: &Limits) -> DbResult<()> {
        let text = encode(new, limits.max_document_bytes)?;
        let key = old.key.as_slice();
        let indexes = &mut self.state.indexes;
        self.usage
            .shrink(document_bytes(indexes, key, old.bytes, &old.doc));
        self.usage
            .grow(document_bytes(indexes, key, text.len(), new))?;
        indexing::remove(self.txn, &self.state.key, indexes, &old.doc, key)?;
        self.state.catalog_changed |= indexing::add(self.txn, &self.state.key, indexes, new, key)?;
        let mut docs = self
            .txn
            .open_table(docs_table(&self.state.docs_name))
            .map_err(storage_error)?;
        docs.insert(key, text.as_slice()).map_err(storage_error)?;
        Ok(())
    }

    fn remove(&mut self, found: &Parsed) -> DbResult<()> {
        let key = found.key.as_slice();
        let indexes = &self.state.indexes;
        indexing::remove(self.txn, &self.state.key, indexes, &found.doc, key)?;
        let mut docs = self
            .txn
            .open_table(docs_table(&self.state.docs_name))
            .map_err(storage_error)?;
        docs.remove(key).map_err(storage_error)?;
        self.usage
            .shrink(document_bytes(indexes, key, found.bytes, &found.doc));
        Ok(())
    }

    /// Makes the index, adding each stored document to it as it is read.
    /// Asking again for the same index does nothing.
    pub fn create_index(&mut self, field: String, unique: bool, work: &mut Work) -> DbResult<()> {
        crate::path::check_path(&field).map_err(DbError::InvalidIndex)?;
        if field == "_id" {
            return Ok(());
        }
        if let Some(existing) = self.state.indexes.iter().find(|i| i.field == field) {
            return if existing.unique == unique {
                Ok(())
            } else {
                Err(DbError::InvalidIndex(format!(
                    "an index on {field} exists with unique = {}; it cannot be changed",
                    existing.unique
                )))
            };
        }
        if self.state.indexes.len() >= MAX_INDEXES {
            return Err(DbError::InvalidIndex(format!(
                "a collection may have at most {MAX_INDEXES} indexes"
            )));
        }
        let mut spec = vec![IndexSpec {
            field,
            unique,
            multikey: false,
            sortable: true,
        }];
        let everything = Filter::And(Vec::new());
        let (txn, usage, state) = (self.txn, &mut *self.usage, &mut *self.state);
        write_matches(
            txn,
            &state.key,
            &state.docs_name,
            &state.indexes,
            &everything,
            work,
            |stored| {
                indexing::add(txn, &state.key, &mut spec, &stored.doc, &stored.key)?;
                usage.grow(index_bytes(&spec, &stored.key, &stored.doc))?;
                Ok(true)
            },
        )?;
        let name = index_table_name(&state.key, &spec[0].field);
        txn.open_multimap_table(index_table(&name))
            .map_err(storage_error)?;
        state.indexes.extend(spec);
        state.catalog_changed = true;
        Ok(())
    }
}
