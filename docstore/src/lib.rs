//! modhost's document database.
//!
//! Guests store JSON documents in collections and query them with the
//! MongoDB filter and update language. Every call is confined to a
//! [`Scope`] (a tenant's module), and runs against one of two backends with
//! the same behaviour: [`EmbeddedStore`] (a redb file, the default) or
//! [`MongoStore`] (a MongoDB server). Filters, updates, sorts and
//! projections are parsed here first, so both backends refuse the same
//! input with the same error, naming any operator that is not supported.
//!
//! What a guest controls is bounded: each call's time by the request's
//! deadline ([`QueryBudget`]), and what it reads and holds by [`Limits`].

mod budget;
mod compare;
mod document;
mod embedded;
mod error;
mod filter;
mod mongo;
mod options;
mod path;
mod scope;
mod transaction;
mod update;

use serde_json::Value;

pub use budget::QueryBudget;
use embedded::{Answer, FindQuery, FromAnswer};
pub use embedded::{EmbeddedStore, Found, MAX_BATCH_WRITES};
pub use error::{DbError, DbResult};
pub use filter::Filter;
pub use mongo::MongoStore;
pub use options::{FindOptions, Projection, Sort};
pub use scope::{Namespace, Scope};
pub use transaction::{MAX_WRITES, TransactionError, Write, WriteAction, WriteResult};
pub use update::Update;

/// Limits on what one call may store or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest document, as JSON text, in bytes.
    pub max_document_bytes: usize,
    /// The most documents one `find` returns; more matches are an error.
    pub max_find_documents: u32,
    /// The most bytes of documents one call holds in memory at once: those
    /// a sorted `find` keeps (its skip plus its limit), those it returns,
    /// and those an update or delete of many collects before writing. More
    /// is [`DbError::QueryTooLarge`].
    pub max_query_bytes: usize,
    /// The most stored documents one call may read (embedded store); more
    /// is [`DbError::QueryTooLarge`].
    pub max_examined_documents: u64,
}

impl Limits {
    /// A suggested `max_query_bytes`: 32 MiB.
    pub const DEFAULT_MAX_QUERY_BYTES: usize = 32 * 1024 * 1024;
    /// A suggested `max_examined_documents`: a million.
    pub const DEFAULT_MAX_EXAMINED_DOCUMENTS: u64 = 1_000_000;
}

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateResult {
    /// Documents that matched the filter.
    pub matched: u64,
    /// Documents that changed.
    pub modified: u64,
    /// The `_id` of the document an upsert inserted.
    pub upserted_id: Option<Value>,
}

/// Which of the documents a filter matches an update or a delete changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matches {
    /// The first match only (MongoDB's `updateOne`, `deleteOne`).
    First,
    /// Every match (`updateMany`, `deleteMany`).
    All,
}

/// What an update does when no document matches: MongoDB's `upsert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// Nothing.
    No,
    /// Inserts a document made from the filter's equalities and the update.
    Yes,
}

/// The database a runtime serves its guests from. Every call takes the
/// [`QueryBudget`] of the request that makes it, and fails with
/// [`DbError::Timeout`] once that is spent.
#[derive(Clone)]
pub enum DocumentStore {
    /// The embedded redb store.
    Embedded(EmbeddedStore),
    /// A MongoDB server.
    Mongo(MongoStore),
}

impl DocumentStore {
    /// Whether the store answers: the embedded one always does; a MongoDB
    /// server must answer a `ping` within `db.timeout_ms`.
    pub async fn ping(&self) -> DbResult<()> {
        match self {
            DocumentStore::Embedded(_) => Ok(()),
            DocumentStore::Mongo(store) => store.ping().await,
        }
    }

    /// The matches of `filter` with `options` applied.
    pub async fn find(
        &self,
        namespace: &Namespace,
        filter: &Value,
        options: &FindOptions,
        budget: QueryBudget,
    ) -> DbResult<Vec<Value>> {
        self.find_as(namespace, filter, options, budget).await
    }

    /// The matches of `filter` with `options` applied, as JSON text: on the
    /// embedded store, the text as stored where nothing changed it, so a
    /// document passed on untouched is never parsed.
    pub async fn find_json(
        &self,
        namespace: &Namespace,
        filter: &Value,
        options: &FindOptions,
        budget: QueryBudget,
    ) -> DbResult<Vec<String>> {
        self.find_as(namespace, filter, options, budget).await
    }

    /// The first match, if any.
    pub async fn find_one(
        &self,
        namespace: &Namespace,
        filter: &Value,
        options: &FindOptions,
        budget: QueryBudget,
    ) -> DbResult<Option<Value>> {
        let first = options.first_only();
        Ok(self.find(namespace, filter, &first, budget).await?.pop())
    }

    /// The first match, if any, as JSON text (see [`DocumentStore::find_json`]).
    pub async fn find_one_json(
        &self,
        namespace: &Namespace,
        filter: &Value,
        options: &FindOptions,
        budget: QueryBudget,
    ) -> DbResult<Option<String>> {
        let first = FindOptions {
            limit: Some(1),
            ..options.clone()
        };
        Ok(self
            .find_json(namespace, filter, &first, budget)
            .await?
            .pop())
    }

    async fn find_as<T: FromAnswer + Send + 'static>(
        &self,
        namespace: &Namespace,
        filter: &Value,
        options: &FindOptions,
        budget: QueryBudget,
    ) -> DbResult<Vec<T>> {
        // Checked the same way for both backends.
        let parsed = Filter::parse(filter)?;
        let sort = Sort::parse(options.sort.as_ref())?;
        let projection = Projection::parse(options.projection.as_ref())?;
        let page = options.page();
        match self {
            DocumentStore::Embedded(store) => {
                let query = FindQuery {
                    namespace: namespace.clone(),
                    filter: parsed,
                    sort,
                    page,
                    projection,
                    budget,
                };
                Ok(store.run_find(query).await?.docs)
            }
            DocumentStore::Mongo(store) => {
                let docs = store
                    .find(
                        namespace,
                        filter,
                        options.sort.as_ref(),
                        page,
                        options.projection.as_ref(),
                        budget,
                    )
                    .await?;
                docs.into_iter()
                    .map(|doc| T::from_answer(Answer::Value(doc)))
                    .collect()
            }
        }
    }

    /// Inserts documents, all or none; returns their `_id`s.
    pub async fn insert(
        &self,
        namespace: &Namespace,
        docs: Vec<Value>,
        budget: QueryBudget,
    ) -> DbResult<Vec<Value>> {
        match self {
            DocumentStore::Embedded(store) => store.insert(namespace, docs, budget).await,
            DocumentStore::Mongo(store) => store.insert(namespace, docs, budget).await,
        }
    }

    /// Updates the first match or every match; with [`Upsert::Yes`],
    /// inserts a document made from the filter when none matches.
    pub async fn update(
        &self,
        namespace: &Namespace,
        filter: &Value,
        update: &Value,
        which: Matches,
        upsert: Upsert,
        budget: QueryBudget,
    ) -> DbResult<UpdateResult> {
        let parsed_filter = Filter::parse(filter)?;
        let parsed_update = Update::parse(update)?;
        match self {
            DocumentStore::Embedded(store) => {
                store
                    .update(
                        namespace,
                        parsed_filter,
                        parsed_update,
                        which,
                        upsert,
                        budget,
                    )
                    .await
            }
            DocumentStore::Mongo(store) => {
                store
                    .update(namespace, filter, update, which, upsert, budget)
                    .await
            }
        }
    }

    /// Deletes the first match or every match.
    pub async fn delete(
        &self,
        namespace: &Namespace,
        filter: &Value,
        which: Matches,
        budget: QueryBudget,
    ) -> DbResult<u64> {
        let parsed = Filter::parse(filter)?;
        match self {
            DocumentStore::Embedded(store) => store.delete(namespace, parsed, which, budget).await,
            DocumentStore::Mongo(store) => store.delete(namespace, filter, which, budget).await,
        }
    }

    /// How many documents match.
    pub async fn count(
        &self,
        namespace: &Namespace,
        filter: &Value,
        budget: QueryBudget,
    ) -> DbResult<u64> {
        let parsed = Filter::parse(filter)?;
        match self {
            DocumentStore::Embedded(store) => store.count(namespace, parsed, budget).await,
            DocumentStore::Mongo(store) => store.count(namespace, filter, budget).await,
        }
    }

    /// Makes a single-field index, unique or not.
    pub async fn create_index(
        &self,
        namespace: &Namespace,
        field: &str,
        unique: bool,
        budget: QueryBudget,
    ) -> DbResult<()> {
        path::check_path(field).map_err(DbError::InvalidIndex)?;
        match self {
            DocumentStore::Embedded(store) => {
                store
                    .create_index(namespace, field.to_string(), unique, budget)
                    .await
            }
            DocumentStore::Mongo(store) => {
                store.create_index(namespace, field, unique, budget).await
            }
        }
    }

    /// Runs `writes` (at most [`MAX_WRITES`], all in one scope) as one
    /// transaction: every write is applied, or none is. A write whose
    /// `expect_matched` does not hold, or that fails, rolls back the whole
    /// list, and the error names its position.
    pub async fn transact(
        &self,
        writes: Vec<Write>,
        budget: QueryBudget,
    ) -> Result<Vec<WriteResult>, TransactionError> {
        transaction::check_list(&writes)?;
        let checked = writes
            .iter()
            .enumerate()
            .map(|(index, write)| write.action.check().map_err(TransactionError::at(index)))
            .collect::<Result<Vec<_>, _>>()?;
        match self {
            DocumentStore::Embedded(store) => {
                let writes = writes
                    .into_iter()
                    .zip(checked)
                    .map(|(write, action)| (write.collection, action, write.expect_matched))
                    .collect();
                store.transact(writes, budget).await
            }
            DocumentStore::Mongo(store) => store.transact(writes, budget).await,
        }
    }
}
