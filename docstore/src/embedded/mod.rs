//! The embedded backend: one redb database file in the data directory.
//! Every write is one ACID transaction committed to disk before the guest
//! hears of it, so an acknowledged write survives a crash of the runtime.
//!
//! Each collection is a table of `_id` key -> document JSON; each index a
//! multimap table of value key -> `_id` keys, changed in the same
//! transaction as the documents, as is the stored bytes of each scope.
//! Every call checks its own budget as it goes (see [`crate::budget`]).

mod catalog;
mod indexing;
mod keys;
mod plan;
mod query;
mod top_k;
mod usage;

use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableError,
    WriteTransaction,
};
use serde_json::Value;

use crate::budget::{Held, QueryBudget, Work};
use crate::document::{check_updated, encode, identical, prepare, upsert_seed};
use crate::error::{DbError, DbResult};
use crate::filter::Filter;
use crate::options::{Projection, Sort};
use crate::scope::Namespace;
use crate::update::Update;
use crate::{Limits, Matches, UpdateResult, Upsert};
use catalog::{CATALOG, IndexSpec};
use indexing::{index_table, index_table_name};
use plan::{Access, plan};
use query::{Stored, for_each_match};
use top_k::TopK;
use usage::{Usage, document_bytes, index_bytes};

/// How many indexes one collection may have.
const MAX_INDEXES: usize = 16;

/// The start of every collection's table name.
const DOCS_PREFIX: &str = "docs/";

/// A failure of the storage engine itself.
fn storage_error(err: impl std::fmt::Display) -> DbError {
    DbError::Backend(format!("embedded storage: {err}"))
}

fn docs_table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

fn docs_table_name(namespace: &Namespace) -> String {
    format!("{DOCS_PREFIX}{}", namespace.key())
}

/// What a `find` read and returned.
#[derive(Debug, Clone)]
pub struct Found {
    /// The matching documents, sorted, paged and projected.
    pub docs: Vec<Value>,
    /// How many stored documents were read to find them.
    pub examined: u64,
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

    /// Runs storage work on `collection` off the async threads. A call
    /// stopped by its budget is logged here, inside the work, since
    /// the caller may be gone by then (its request ended, and with it the
    /// wait for this result).
    async fn blocking<T: Send + 'static>(
        &self,
        collection: String,
        work: impl FnOnce(&Database, &Limits) -> DbResult<T> + Send + 'static,
    ) -> DbResult<T> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let result = work(&store.db, &store.limits);
            if let Err(err @ (DbError::Timeout(_) | DbError::QueryTooLarge(_))) = &result {
                tracing::info!(%collection, "query stopped: {}", err.message());
            }
            result
        })
        .await
        .map_err(storage_error)?
    }

    /// The matches of `filter`, sorted, paged and projected, with what the
    /// query read to find them. A sorted find keeps only its skip plus its
    /// limit of the matches at any time.
    pub async fn find(
        &self,
        namespace: &Namespace,
        filter: Filter,
        sort: Sort,
        page: (u64, Option<u64>),
        projection: Option<Projection>,
        budget: QueryBudget,
    ) -> DbResult<Found> {
        let namespace = namespace.clone();
        self.blocking(namespace.key(), move |db, limits| {
            let txn = db.begin_read().map_err(storage_error)?;
            let (mut work, mut held) = (Work::new(budget, limits), Held::new(limits));
            let (skip, limit) = page;
            let max = u64::from(limits.max_find_documents);
            // One more than the cap, to tell "exactly the cap" from "too many".
            let cap = limit.map_or(max + 1, |limit| limit.min(max + 1));
            let (mut docs, index) = if sort.is_empty() {
                let mut docs = Vec::new();
                let mut skipped = 0;
                let index = read_matches(&txn, &namespace, &filter, &mut work, |found| {
                    if skipped < skip {
                        skipped += 1;
                        return Ok(true);
                    }
                    held.hold(found.bytes)?;
                    docs.push(found.doc);
                    Ok((docs.len() as u64) < cap)
                })?;
                (docs, index)
            } else {
                let mut best = TopK::new(&sort, skip.saturating_add(cap));
                let index = read_matches(&txn, &namespace, &filter, &mut work, |found| {
                    best.offer(found.doc, found.bytes, &mut held)?;
                    Ok(true)
                })?;
                let docs = best
                    .into_sorted()
                    .into_iter()
                    .skip(skip as usize)
                    .take(cap as usize)
                    .collect();
                (docs, index)
            };
            if docs.len() as u64 > max {
                return Err(DbError::TooManyResults(limits.max_find_documents));
            }
            if let Some(projection) = projection {
                docs = docs.iter().map(|doc| projection.apply(doc)).collect();
            }
            Ok(Found {
                docs,
                examined: work.examined(),
                index,
            })
        })
        .await
    }

    /// How many documents match `filter`.
    pub async fn count(
        &self,
        namespace: &Namespace,
        filter: Filter,
        budget: QueryBudget,
    ) -> DbResult<u64> {
        let namespace = namespace.clone();
        self.blocking(namespace.key(), move |db, limits| {
            let txn = db.begin_read().map_err(storage_error)?;
            let mut work = Work::new(budget, limits);
            let mut count = 0;
            read_matches(&txn, &namespace, &filter, &mut work, |_| {
                count += 1;
                Ok(true)
            })?;
            Ok(count)
        })
        .await
    }

    /// Inserts `docs` in one transaction: all of them or, on any error, none.
    /// Returns their `_id`s.
    pub async fn insert(
        &self,
        namespace: &Namespace,
        docs: Vec<Value>,
        budget: QueryBudget,
    ) -> DbResult<Vec<Value>> {
        let namespace = namespace.clone();
        self.blocking(namespace.key(), move |db, limits| {
            write(db, &namespace, |collection| {
                let mut work = Work::for_write(budget, limits);
                docs.into_iter()
                    .map(|doc| {
                        work.step()?;
                        collection.insert(doc, limits)
                    })
                    .collect()
            })
        })
        .await
    }

    /// Applies `update` to the first match (or every match); with
    /// [`Upsert::Yes`], inserts a document made from the filter when none
    /// matches. The match and the change are one transaction, so a
    /// conditional update is atomic.
    pub async fn update(
        &self,
        namespace: &Namespace,
        filter: Filter,
        update: Update,
        which: Matches,
        upsert: Upsert,
        budget: QueryBudget,
    ) -> DbResult<UpdateResult> {
        let namespace = namespace.clone();
        self.blocking(namespace.key(), move |db, limits| {
            write(db, &namespace, |collection| {
                let mut work = Work::for_write(budget, limits);
                let matches = collection.matches(&filter, which, &mut work, limits)?;
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
                        collection.replace(&old, &new, limits)?;
                        result.modified += 1;
                    }
                }
                if result.matched == 0 && upsert == Upsert::Yes {
                    let mut seed = upsert_seed(&filter);
                    update.apply(&mut seed, true, limits.max_document_bytes)?;
                    result.upserted_id = Some(collection.insert(seed, limits)?);
                }
                Ok(result)
            })
        })
        .await
    }

    /// Deletes the first match (or every match); returns how many.
    pub async fn delete(
        &self,
        namespace: &Namespace,
        filter: Filter,
        which: Matches,
        budget: QueryBudget,
    ) -> DbResult<u64> {
        let namespace = namespace.clone();
        self.blocking(namespace.key(), move |db, limits| {
            write(db, &namespace, |collection| {
                let mut work = Work::for_write(budget, limits);
                let matches = collection.matches(&filter, which, &mut work, limits)?;
                for found in &matches {
                    work.step()?;
                    collection.remove(found)?;
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
        budget: QueryBudget,
    ) -> DbResult<()> {
        let namespace = namespace.clone();
        self.blocking(namespace.key(), move |db, limits| {
            write(db, &namespace, |collection| {
                collection.create_index(field, unique, &mut Work::for_write(budget, limits))
            })
        })
        .await
    }
}

/// Runs `body` on `namespace`'s collection in a write transaction:
/// committed (and on disk) when it succeeds, rolled back when it fails.
fn write<T>(
    db: &Database,
    namespace: &Namespace,
    body: impl FnOnce(&mut Collection) -> DbResult<T>,
) -> DbResult<T> {
    let txn = db.begin_write().map_err(storage_error)?;
    let done = Collection::open(&txn, namespace).and_then(|mut collection| {
        let value = body(&mut collection)?;
        collection.finish()?;
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

/// Calls `visit` with each match in a read transaction until it returns
/// false; returns the index used.
fn read_matches(
    txn: &ReadTransaction,
    namespace: &Namespace,
    filter: &Filter,
    work: &mut Work,
    visit: impl FnMut(Stored) -> DbResult<bool>,
) -> DbResult<Option<String>> {
    let key = namespace.key();
    let indexes = match txn.open_table(CATALOG) {
        Ok(table) => catalog::load(&table, &key)?,
        Err(TableError::TableDoesNotExist(_)) => Vec::new(),
        Err(err) => return Err(storage_error(err)),
    };
    let docs = match txn.open_table(docs_table(&docs_table_name(namespace))) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
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
    for_each_match(&docs, index.as_ref(), &access, filter, work, visit)?;
    Ok(used_index(&access))
}

/// Calls `visit` with each match in a write transaction until it returns
/// false: the collection `key`, its documents in the table `docs_name`.
fn write_matches(
    txn: &WriteTransaction,
    key: &str,
    docs_name: &str,
    indexes: &[IndexSpec],
    filter: &Filter,
    work: &mut Work,
    visit: impl FnMut(Stored) -> DbResult<bool>,
) -> DbResult<()> {
    let docs = txn
        .open_table(docs_table(docs_name))
        .map_err(storage_error)?;
    let access = plan(filter, indexes);
    let index = match &access {
        Access::Index { field, .. } => {
            let name = index_table_name(key, field);
            Some(
                txn.open_multimap_table(index_table(&name))
                    .map_err(storage_error)?,
            )
        }
        _ => None,
    };
    for_each_match(&docs, index.as_ref(), &access, filter, work, visit)
}

fn used_index(access: &Access) -> Option<String> {
    match access {
        Access::Scan => None,
        Access::Ids(_) => Some("_id".into()),
        Access::Index { field, .. } => Some(field.clone()),
    }
}

/// One collection inside a write transaction, and the use of its scope.
struct Collection<'t> {
    txn: &'t WriteTransaction,
    key: String,
    docs_name: String,
    indexes: Vec<IndexSpec>,
    catalog_changed: bool,
    usage: Usage,
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
            usage: Usage::open(txn, namespace)?,
        })
    }

    /// The first match, or all, held within `limits`.
    fn matches(
        &self,
        filter: &Filter,
        which: Matches,
        work: &mut Work,
        limits: &Limits,
    ) -> DbResult<Vec<Stored>> {
        let mut held = Held::new(limits);
        let mut found = Vec::new();
        write_matches(
            self.txn,
            &self.key,
            &self.docs_name,
            &self.indexes,
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

    fn insert(&mut self, mut doc: Value, limits: &Limits) -> DbResult<Value> {
        let id = prepare(&mut doc)?;
        let text = encode(&doc, limits.max_document_bytes)?;
        let key = keys::encode(&id);
        self.usage
            .grow(document_bytes(&self.indexes, &key, text.len(), &doc))?;
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

    fn replace(&mut self, old: &Stored, new: &Value, limits: &Limits) -> DbResult<()> {
        let text = encode(new, limits.max_document_bytes)?;
        let key = old.key.as_slice();
        self.usage
            .shrink(document_bytes(&self.indexes, key, old.bytes, &old.doc));
        self.usage
            .grow(document_bytes(&self.indexes, key, text.len(), new))?;
        indexing::remove(self.txn, &self.key, &self.indexes, &old.doc, key)?;
        self.catalog_changed |= indexing::add(self.txn, &self.key, &mut self.indexes, new, key)?;
        let mut docs = self
            .txn
            .open_table(docs_table(&self.docs_name))
            .map_err(storage_error)?;
        docs.insert(key, text.as_slice()).map_err(storage_error)?;
        Ok(())
    }

    fn remove(&mut self, found: &Stored) -> DbResult<()> {
        let key = found.key.as_slice();
        indexing::remove(self.txn, &self.key, &self.indexes, &found.doc, key)?;
        let mut docs = self
            .txn
            .open_table(docs_table(&self.docs_name))
            .map_err(storage_error)?;
        docs.remove(key).map_err(storage_error)?;
        self.usage
            .shrink(document_bytes(&self.indexes, key, found.bytes, &found.doc));
        Ok(())
    }

    /// Makes the index, adding each stored document to it as it is read.
    fn create_index(&mut self, field: String, unique: bool, work: &mut Work) -> DbResult<()> {
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
        let (txn, usage) = (self.txn, &mut self.usage);
        write_matches(
            txn,
            &self.key,
            &self.docs_name,
            &self.indexes,
            &everything,
            work,
            |stored| {
                indexing::add(txn, &self.key, &mut spec, &stored.doc, &stored.key)?;
                usage.grow(index_bytes(&spec, &stored.key, &stored.doc))?;
                Ok(true)
            },
        )?;
        let name = index_table_name(&self.key, &spec[0].field);
        txn.open_multimap_table(index_table(&name))
            .map_err(storage_error)?;
        self.indexes.extend(spec);
        self.catalog_changed = true;
        Ok(())
    }

    /// Saves what changed besides the documents: the catalog and the use.
    fn finish(&self) -> DbResult<()> {
        if self.catalog_changed {
            catalog::save(self.txn, &self.key, &self.indexes)?;
        }
        self.usage.save(self.txn)
    }
}
