//! The embedded backend: one redb database file in the data directory.
//! Every write is one ACID transaction committed to disk before the guest
//! hears of it, so an acknowledged write survives a crash of the runtime.
//!
//! Each collection is a table of `_id` key -> document JSON; each index a
//! multimap table of value key -> `_id` keys, changed in the same
//! transaction as the documents, as is the stored bytes of each scope.
//! Every call checks its own budget as it goes (see [`crate::budget`]).
//! The file records the version of its encoding; an older one is migrated
//! when opened, a newer one refused (see [`format`]).

mod catalog;
mod find;
mod format;
mod group_commit;
mod indexing;
mod keys;
mod plan;
mod query;
mod rekey;
mod top_k;
mod usage;
mod writer;

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use redb::backends::FileBackend;
use redb::{
    Builder, Database, DatabaseError, ReadableDatabase, StorageBackend, TableDefinition,
    WriteTransaction,
};
use serde_json::Value;

use crate::budget::{QueryBudget, Work};
use crate::error::{DbError, DbResult};
use crate::filter::Filter;
use crate::options::{Direction, Projection, Sort};
use crate::scope::Namespace;
use crate::transaction::{CheckedAction, TransactionError, WriteResult, check_expectation};
use crate::update::Update;
use crate::{Limits, Matches, UpdateResult, Upsert};
use catalog::IndexSpec;
pub use find::Found;
use group_commit::GroupCommit;
pub use group_commit::MAX_BATCH_WRITES;

pub(crate) use find::{Answer, FindQuery, FromAnswer, Small};
use indexing::{index_table, index_table_name};
use plan::{Access, plan, to_check};
use query::{Parsed, for_each_match};
use writer::Collection;

/// What a read may come to to run on the caller's thread rather than a
/// blocking one: a page of the guide's size, of small documents.
const INLINE: Small = Small {
    documents: 128,
    bytes: 256 * 1024,
};

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

/// The embedded document store.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: Arc<GroupCommit>,
    limits: Limits,
}

impl EmbeddedStore {
    /// Opens (or creates) the database file at `path`, making its folder.
    /// A file in an older format is migrated first; one in a newer format
    /// is refused.
    pub fn open(path: &Path, limits: Limits) -> Result<EmbeddedStore, String> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                format!("cannot make the data folder {}: {err}", parent.display())
            })?;
        }
        let name = path.display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|err| format!("cannot open the database {name}: {err}"))?;
        let backend = FileBackend::new(file)
            .map_err(|err| format!("cannot open the database {name}: {err}"))?;
        EmbeddedStore::on(backend, &name, limits)
    }

    /// Opens (or creates) a database on `backend` rather than a file, as
    /// [`EmbeddedStore::open`] does: the same format check and migration,
    /// the same durable commits. For storage of the embedder's own, and for
    /// tests that fail the storage underneath the store.
    pub fn with_backend(
        backend: impl StorageBackend,
        limits: Limits,
    ) -> Result<EmbeddedStore, String> {
        EmbeddedStore::on(backend, "on the given storage", limits)
    }

    /// Opens the database `name` on `backend` and brings it to the current
    /// format. Every commit keeps redb's default, immediate durability: an
    /// acknowledged write is on disk.
    fn on(
        backend: impl StorageBackend,
        name: &str,
        limits: Limits,
    ) -> Result<EmbeddedStore, String> {
        let db = Builder::new()
            .create_with_backend(backend)
            .map_err(|err| match err {
                DatabaseError::DatabaseAlreadyOpen => format!(
                    "the database {name} is in use by another process; stop it or give this runtime another db.path"
                ),
                other => format!("cannot open the database {name}: {other}"),
            })?;
        format::prepare(&db, name)?;
        let db = Arc::new(db);
        Ok(EmbeddedStore {
            writer: Arc::new(GroupCommit::start(db.clone())?),
            db,
            limits,
        })
    }

    /// Runs reading work on `collection` off the async threads. A call
    /// stopped by its budget is logged here, inside the work, since
    /// the caller may be gone by then (its request ended, and with it the
    /// wait for this result).
    async fn blocking<T, E>(
        &self,
        collection: String,
        work: impl FnOnce(&Database, &Limits) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: AsRef<DbError> + From<DbError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let result = work(&store.db, &store.limits);
            if let Err(err) = &result {
                log_stopped(&collection, err.as_ref());
            }
            result
        })
        .await
        .map_err(|err| E::from(storage_error(err)))?
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
        self.run_find(FindQuery {
            namespace: namespace.clone(),
            filter,
            sort,
            page,
            projection,
            budget,
        })
        .await
    }

    /// Runs `query`, answering its documents as `T` (values, or JSON text
    /// as stored where nothing changed them). A read in key order whose
    /// plan examines at most [`INLINE`]'s documents whatever is stored (by
    /// `_id`, or a short page that checks nothing), and whose documents come
    /// to at most its bytes, runs here, on the caller's thread, as a
    /// handful of cached page reads; any other goes to a blocking thread
    /// (one that outgrows the bytes starts again there).
    pub(crate) async fn run_find<T: FromAnswer + Send + 'static>(
        &self,
        query: FindQuery,
    ) -> DbResult<Found<T>> {
        let txn = self.db.begin_read().map_err(storage_error)?;
        let inline = query.run(&txn, &self.limits, Some(INLINE));
        drop(txn);
        match inline {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => {}
            Err(err) => {
                log_stopped(&query.namespace.key(), &err);
                return Err(err);
            }
        }
        self.blocking(query.namespace.key(), move |db, limits| {
            let txn = db.begin_read().map_err(storage_error)?;
            let found = query.run(&txn, limits, None)?;
            found.ok_or_else(|| storage_error("an unbounded find declined to run"))
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
            find::count(&txn, &namespace, &filter, &mut work)
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
        self.write(namespace, budget, move |collection, work, limits| {
            docs.into_iter()
                .map(|doc| {
                    work.step()?;
                    collection.insert(doc, limits)
                })
                .collect()
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
        self.write(namespace, budget, move |collection, work, limits| {
            collection.update(&filter, &update, (which, upsert), work, limits)
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
        self.write(namespace, budget, move |collection, work, limits| {
            collection.delete(&filter, which, work, limits)
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
        self.write(namespace, budget, move |collection, work, _| {
            collection.create_index(field, unique, work)
        })
        .await
    }

    /// Runs `body` on one collection in a write transaction of its own.
    async fn write<T: Send + 'static>(
        &self,
        namespace: &Namespace,
        budget: QueryBudget,
        body: impl FnOnce(&mut Collection, &mut Work, &Limits) -> DbResult<T> + Send + 'static,
    ) -> DbResult<T> {
        let (namespace, limits) = (namespace.clone(), self.limits);
        self.writer
            .write(namespace.clone(), move |writer| {
                let mut work = Work::for_write(budget, &limits);
                body(&mut writer.collection(&namespace)?, &mut work, &limits)
            })
            .await
    }

    /// Runs `writes` in one write transaction: all of them, or (when one
    /// fails or matches other than it expects) none. Every write of the
    /// list is in one scope; the list is checked by the caller.
    pub(crate) async fn transact(
        &self,
        writes: Vec<(Namespace, CheckedAction, Option<u64>)>,
        budget: QueryBudget,
    ) -> Result<Vec<WriteResult>, TransactionError> {
        let Some((first, _, _)) = writes.first() else {
            return Ok(Vec::new());
        };
        let (scope, limits) = (first.clone(), self.limits);
        self.writer
            .write(scope, move |writer| {
                let mut work = Work::for_write(budget, &limits);
                let mut results = Vec::with_capacity(writes.len());
                for (index, (namespace, action, expected)) in writes.into_iter().enumerate() {
                    work.step()?;
                    let mut collection = writer.collection(&namespace)?;
                    let result = apply(&mut collection, action, &mut work, &limits)
                        .map_err(TransactionError::at(index))?;
                    check_expectation(index, expected, result.matched)?;
                    results.push(result);
                }
                Ok(results)
            })
            .await
    }
}

/// Logs a call its budget stopped, on `collection`.
fn log_stopped(collection: &str, err: &DbError) {
    if let DbError::Timeout(_) | DbError::QueryTooLarge(_) = err {
        tracing::info!(%collection, "query stopped: {}", err.message());
    }
}

/// Runs one write of a transaction.
fn apply(
    collection: &mut Collection,
    action: CheckedAction,
    work: &mut Work,
    limits: &Limits,
) -> DbResult<WriteResult> {
    Ok(match action {
        CheckedAction::Insert(doc) => WriteResult {
            matched: 1,
            modified: 1,
            id: Some(collection.insert(doc, limits)?),
        },
        CheckedAction::Update {
            filter,
            update,
            which,
            upsert,
        } => {
            let done = collection.update(&filter, &update, (which, upsert), work, limits)?;
            WriteResult {
                matched: done.matched,
                modified: done.modified,
                id: done.upserted_id,
            }
        }
        CheckedAction::Delete { filter, which } => {
            let deleted = collection.delete(&filter, which, work, limits)?;
            WriteResult {
                matched: deleted,
                modified: deleted,
                id: None,
            }
        }
    })
}

/// Calls `visit` with each match, parsed, in a write transaction until it
/// returns false: the collection `key`, its documents in the table
/// `docs_name`.
fn write_matches(
    txn: &WriteTransaction,
    key: &str,
    docs_name: &str,
    indexes: &[IndexSpec],
    filter: &Filter,
    work: &mut Work,
    mut visit: impl FnMut(Parsed) -> DbResult<bool>,
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
    let plan = (&access, Direction::Ascending);
    let filter = to_check(filter, &access);
    for_each_match(&docs, index.as_ref(), plan, filter, work, |stored| {
        visit(stored.parsed()?)
    })
}

fn used_index(access: &Access) -> Option<String> {
    match access {
        Access::Scan => None,
        Access::Ids(_) => Some("_id".into()),
        Access::Index { field, .. } => Some(field.clone()),
    }
}
