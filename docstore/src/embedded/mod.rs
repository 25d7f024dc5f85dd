//! The embedded backend: one redb database file in the data directory.
//! Every write is one ACID transaction committed to disk before the guest
//! hears of it, so an acknowledged write survives a crash of the runtime.
//!
//! Each collection is a table of `_id` key -> document JSON; each index a
//! multimap table of value key -> `_id` keys, changed in the same
//! transaction as the documents.

mod catalog;
mod indexing;
mod keys;
mod plan;
mod query;

use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableError,
    WriteTransaction,
};
use serde_json::Value;

use crate::document::{check_updated, encode, prepare, upsert_seed};
use crate::error::{DbError, DbResult};
use crate::filter::Filter;
use crate::options::{Projection, Sort};
use crate::scope::Namespace;
use crate::update::Update;
use crate::{Limits, UpdateResult};
use catalog::{CATALOG, IndexSpec};
use indexing::{index_table, index_table_name};
use plan::{Access, plan};
use query::for_each_match;

/// How many indexes one collection may have.
const MAX_INDEXES: usize = 16;

/// A failure of the storage engine itself.
fn storage_error(err: impl std::fmt::Display) -> DbError {
    DbError::Backend(format!("embedded storage: {err}"))
}

fn docs_table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

fn docs_table_name(namespace: &Namespace) -> String {
    format!("docs/{}", namespace.key())
}

/// What a `find` read and returned.
#[derive(Debug, Clone)]
pub struct Found {
    /// The matching documents, sorted, paged and projected.
    pub docs: Vec<Value>,
    /// How many stored documents were read to find them.
    pub examined: usize,
    /// The index used (`_id` for the primary key), or none for a scan.
    pub index: Option<String>,
}

/// The embedded document store.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    limits: Limits,
}

impl EmbeddedStore {
    /// Opens (or creates) the database file at `path`, making its folder.
    pub fn open(path: &Path, limits: Limits) -> Result<EmbeddedStore, String> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                format!("cannot make the data folder {}: {err}", parent.display())
            })?;
        }
        let db = Database::create(path).map_err(|err| match err {
            redb::DatabaseError::DatabaseAlreadyOpen => format!(
                "the database {} is in use by another process; stop it or give this runtime another db.path",
                path.display()
            ),
            other => format!("cannot open the database {}: {other}", path.display()),
        })?;
        Ok(EmbeddedStore {
            db: Arc::new(db),
            limits,
        })
    }

    /// Runs storage work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database, &Limits) -> DbResult<T> + Send + 'static,
    ) -> DbResult<T> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store.db, &store.limits))
            .await
            .map_err(storage_error)?
    }

    /// The matches of `filter`, sorted, paged and projected, with what the
    /// query read to find them.
    pub async fn find(
        &self,
        namespace: &Namespace,
        filter: Filter,
        sort: Sort,
        page: (u64, Option<u64>),
        projection: Option<Projection>,
    ) -> DbResult<Found> {
        let namespace = namespace.clone();
        self.blocking(move |db, limits| {
            let txn = db.begin_read().map_err(storage_error)?;
            let (skip, limit) = page;
            let max = u64::from(limits.max_find_documents);
            // One more than the cap, to tell "exactly the cap" from "too many".
            let cap = limit.map_or(max + 1, |limit| limit.min(max + 1));
            let mut docs = Vec::new();
            let (examined, index) = if sort.is_empty() {
                let mut skipped = 0;
                read_matches(&txn, &namespace, &filter, |doc| {
                    if skipped < skip {
                        skipped += 1;
                    } else {
                        docs.push(doc);
                    }
                    (docs.len() as u64) < cap
                })?
            } else {
                let found = read_matches(&txn, &namespace, &filter, |doc| {
                    docs.push(doc);
                    true
                })?;
                docs.sort_by(|a, b| sort.compare(a, b));
                docs = docs
                    .into_iter()
                    .skip(skip as usize)
                    .take(cap as usize)
                    .collect();
                found
            };
            if docs.len() as u64 > max {
                return Err(DbError::TooManyResults(limits.max_find_documents));
            }
            if let Some(projection) = projection {
                docs = docs.iter().map(|doc| projection.apply(doc)).collect();
            }
            Ok(Found {
                docs,
                examined,
                index,
            })
        })
        .await
    }

    /// How many documents match `filter`.
    pub async fn count(&self, namespace: &Namespace, filter: Filter) -> DbResult<u64> {
        let namespace = namespace.clone();
        self.blocking(move |db, _| {
            let txn = db.begin_read().map_err(storage_error)?;
            let mut count = 0;
            read_matches(&txn, &namespace, &filter, |_| {
                count += 1;
                true
            })?;
            Ok(count)
        })
        .await
    }

    /// Inserts `docs` in one transaction: all of them or, on any error, none.
    /// Returns their `_id`s.
    pub async fn insert(&self, namespace: &Namespace, docs: Vec<Value>) -> DbResult<Vec<Value>> {
        let namespace = namespace.clone();
        self.blocking(move |db, limits| {
            write(db, |txn| {
                let mut collection = Collection::open(txn, &namespace)?;
                let ids = docs
                    .into_iter()
                    .map(|doc| collection.insert(doc, limits))
                    .collect::<DbResult<Vec<_>>>()?;
                collection.save_catalog()?;
                Ok(ids)
            })
        })
        .await
    }

    /// Applies `update` to the first match (or every match with `many`);
    /// with `upsert`, inserts a document made from the filter when none
    /// matches. The match and the change are one transaction, so a
    /// conditional update is atomic.
    pub async fn update(
        &self,
        namespace: &Namespace,
        filter: Filter,
        update: Update,
        many: bool,
        upsert: bool,
    ) -> DbResult<UpdateResult> {
        let namespace = namespace.clone();
        self.blocking(move |db, limits| {
            write(db, |txn| {
                let mut collection = Collection::open(txn, &namespace)?;
                let matches = collection.matches(&filter, many)?;
                let mut result = UpdateResult {
                    matched: matches.len() as u64,
                    ..UpdateResult::default()
                };
                for (key, old) in matches {
                    let mut new = old.clone();
                    update.apply(&mut new, false)?;
                    if new != old {
                        check_updated(&new, &old["_id"])?;
                        collection.replace(&key, &old, &new, limits)?;
                        result.modified += 1;
                    }
                }
                if result.matched == 0 && upsert {
                    let mut seed = upsert_seed(&filter);
                    update.apply(&mut seed, true)?;
                    result.upserted_id = Some(collection.insert(seed, limits)?);
                }
                collection.save_catalog()?;
                Ok(result)
            })
        })
        .await
    }

    /// Deletes the first match (or every match with `many`); returns how many.
    pub async fn delete(&self, namespace: &Namespace, filter: Filter, many: bool) -> DbResult<u64> {
        let namespace = namespace.clone();
        self.blocking(move |db, _| {
            write(db, |txn| {
                let mut collection = Collection::open(txn, &namespace)?;
                let matches = collection.matches(&filter, many)?;
                for (key, doc) in &matches {
                    collection.remove(key, doc)?;
                }
                Ok(matches.len() as u64)
            })
        })
        .await
    }

    /// Makes an index on `field` over the documents already stored. Asking
    /// again for the same index does nothing.
    pub async fn create_index(
        &self,
        namespace: &Namespace,
        field: String,
        unique: bool,
    ) -> DbResult<()> {
        let namespace = namespace.clone();
        self.blocking(move |db, _| {
            write(db, |txn| {
                let mut collection = Collection::open(txn, &namespace)?;
                collection.create_index(field, unique)
            })
        })
        .await
    }
}

/// Runs `body` in a write transaction: committed (and on disk) when it
/// succeeds, rolled back when it fails.
fn write<T>(db: &Database, body: impl FnOnce(&WriteTransaction) -> DbResult<T>) -> DbResult<T> {
    let txn = db.begin_write().map_err(storage_error)?;
    match body(&txn) {
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

/// Calls `visit` with each match in a read transaction until it returns
/// false; returns how many documents were read and the index used.
fn read_matches(
    txn: &ReadTransaction,
    namespace: &Namespace,
    filter: &Filter,
    mut visit: impl FnMut(Value) -> bool,
) -> DbResult<(usize, Option<String>)> {
    let key = namespace.key();
    let indexes = match txn.open_table(CATALOG) {
        Ok(table) => catalog::load(&table, &key)?,
        Err(TableError::TableDoesNotExist(_)) => Vec::new(),
        Err(err) => return Err(storage_error(err)),
    };
    let docs = match txn.open_table(docs_table(&docs_table_name(namespace))) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok((0, None)),
        Err(err) => return Err(storage_error(err)),
    };
    let access = plan(filter, &indexes);
    let index = match &access {
        Access::Index { field, .. } => {
            let name = index_table_name(&key, field);
            Some(
                txn.open_multimap_table(index_table(&name))
                    .map_err(storage_error)?,
            )
        }
        _ => None,
    };
    let examined = for_each_match(&docs, index.as_ref(), &access, filter, |_, doc| {
        Ok(visit(doc))
    })?;
    Ok((examined, used_index(&access)))
}

fn used_index(access: &Access) -> Option<String> {
    match access {
        Access::Scan => None,
        Access::Ids(_) => Some("_id".into()),
        Access::Index { field, .. } => Some(field.clone()),
    }
}

/// One collection inside a write transaction.
struct Collection<'t> {
    txn: &'t WriteTransaction,
    key: String,
    docs_name: String,
    indexes: Vec<IndexSpec>,
    catalog_changed: bool,
}

impl<'t> Collection<'t> {
    fn open(txn: &'t WriteTransaction, namespace: &Namespace) -> DbResult<Self> {
        let key = namespace.key();
        let indexes = catalog::load(&txn.open_table(CATALOG).map_err(storage_error)?, &key)?;
        Ok(Collection {
            txn,
            docs_name: docs_table_name(namespace),
            key,
            indexes,
            catalog_changed: false,
        })
    }

    /// The first match, or all with `many`, with their `_id` keys.
    fn matches(&self, filter: &Filter, many: bool) -> DbResult<Vec<(Vec<u8>, Value)>> {
        let docs = self
            .txn
            .open_table(docs_table(&self.docs_name))
            .map_err(storage_error)?;
        let access = plan(filter, &self.indexes);
        let index = match &access {
            Access::Index { field, .. } => {
                let name = index_table_name(&self.key, field);
                Some(
                    self.txn
                        .open_multimap_table(index_table(&name))
                        .map_err(storage_error)?,
                )
            }
            _ => None,
        };
        let mut found = Vec::new();
        for_each_match(&docs, index.as_ref(), &access, filter, |key, doc| {
            found.push((key, doc));
            Ok(many)
        })?;
        Ok(found)
    }

    fn insert(&mut self, mut doc: Value, limits: &Limits) -> DbResult<Value> {
        let id = prepare(&mut doc)?;
        let text = encode(&doc, limits.max_document_bytes)?;
        let key = keys::encode(&id);
        let mut docs = self
            .txn
            .open_table(docs_table(&self.docs_name))
            .map_err(storage_error)?;
        if docs.get(key.as_slice()).map_err(storage_error)?.is_some() {
            return Err(DbError::DuplicateKey(format!(
                "a document with _id {id} exists"
            )));
        }
        docs.insert(key.as_slice(), text.as_slice())
            .map_err(storage_error)?;
        drop(docs);
        self.catalog_changed |= indexing::add(self.txn, &self.key, &mut self.indexes, &doc, &key)?;
        Ok(id)
    }

    fn replace(&mut self, key: &[u8], old: &Value, new: &Value, limits: &Limits) -> DbResult<()> {
        let text = encode(new, limits.max_document_bytes)?;
        indexing::remove(self.txn, &self.key, &self.indexes, old, key)?;
        self.catalog_changed |= indexing::add(self.txn, &self.key, &mut self.indexes, new, key)?;
        let mut docs = self
            .txn
            .open_table(docs_table(&self.docs_name))
            .map_err(storage_error)?;
        docs.insert(key, text.as_slice()).map_err(storage_error)?;
        Ok(())
    }

    fn remove(&mut self, key: &[u8], doc: &Value) -> DbResult<()> {
        indexing::remove(self.txn, &self.key, &self.indexes, doc, key)?;
        let mut docs = self
            .txn
            .open_table(docs_table(&self.docs_name))
            .map_err(storage_error)?;
        docs.remove(key).map_err(storage_error)?;
        Ok(())
    }

    fn create_index(&mut self, field: String, unique: bool) -> DbResult<()> {
        crate::path::check_path(&field).map_err(DbError::InvalidIndex)?;
        if field == "_id" {
            return Ok(());
        }
        if let Some(existing) = self.indexes.iter().find(|i| i.field == field) {
            return if existing.unique == unique {
                Ok(())
            } else {
                Err(DbError::InvalidIndex(format!(
                    "an index on {field} exists with unique = {}; it cannot be changed",
                    existing.unique
                )))
            };
        }
        if self.indexes.len() >= MAX_INDEXES {
            return Err(DbError::InvalidIndex(format!(
                "a collection may have at most {MAX_INDEXES} indexes"
            )));
        }
        let mut spec = vec![IndexSpec {
            field,
            unique,
            multikey: false,
        }];
        let everything = Filter::And(Vec::new());
        for (key, doc) in self.matches(&everything, true)? {
            indexing::add(self.txn, &self.key, &mut spec, &doc, &key)?;
        }
        let name = index_table_name(&self.key, &spec[0].field);
        self.txn
            .open_multimap_table(index_table(&name))
            .map_err(storage_error)?;
        self.indexes.extend(spec);
        self.catalog_changed = true;
        self.save_catalog()
    }

    fn save_catalog(&mut self) -> DbResult<()> {
        if self.catalog_changed {
            catalog::save(self.txn, &self.key, &self.indexes)?;
            self.catalog_changed = false;
        }
        Ok(())
    }
}
