//! The MongoDB backend: the official driver against a URI (a single server,
//! a replica set or a sharded cluster). A tenant is a database
//! (`<prefix>_<tenant>`), a module's collection is `<module>.<collection>`
//! in it. The driver reconnects by itself; every call is bounded by the
//! configured timeout or, when nearer, the request's deadline (also sent as
//! `maxTimeMS` where the command takes it, so the server stops too); a
//! failure to reach the server is `Unavailable`, a deadline met `Timeout`.
//! Sorting and matching happen on the server, under its own limits; the
//! bytes a `find` returns are held within `max_query_bytes`. A scope's
//! quota of stored bytes is not enforced here: the server's own quotas
//! apply.

mod transaction;

use std::future::{Future, IntoFuture};
use std::time::Duration;

use futures_util::{FutureExt, TryFutureExt, TryStreamExt};
use mongodb::bson::{self, Bson, Document, RawDocumentBuf};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};
use serde_json::Value;

use crate::budget::{Held, QueryBudget};
use crate::document::{encode, prepare};
use crate::error::{DbError, DbResult};
use crate::scope::Namespace;
use crate::{Limits, Matches, UpdateResult, Upsert};

/// MongoDB's code for a duplicate key.
const DUPLICATE_KEY: i32 = 11000;

/// MongoDB's code for an operation stopped by its `maxTimeMS`.
const MAX_TIME_MS_EXPIRED: i32 = 50;

/// The shortest time a call is started with: `maxTimeMS` is whole
/// milliseconds, and 0 would mean no limit at all.
const SHORTEST_CALL: Duration = Duration::from_millis(1);

/// The MongoDB document store.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    database_prefix: String,
    timeout: Duration,
    limits: Limits,
}

impl MongoStore {
    /// A store on the server(s) at `uri`. Nothing is contacted yet: the
    /// runtime starts while MongoDB is down, and calls fail until it is up.
    pub async fn connect(
        uri: &str,
        database_prefix: &str,
        timeout: Duration,
        limits: Limits,
    ) -> Result<MongoStore, String> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|err| format!("db.uri is not a usable MongoDB URI: {err}"))?;
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout = Some(timeout);
        options.app_name = Some("modhost".into());
        let client = Client::with_options(options)
            .map_err(|err| format!("cannot make a MongoDB client for db.uri: {err}"))?;
        Ok(MongoStore {
            client,
            database_prefix: database_prefix.to_string(),
            timeout,
            limits,
        })
    }

    fn collection(&self, namespace: &Namespace) -> Collection<Document> {
        self.client
            .database(&format!("{}_{}", self.database_prefix, namespace.tenant))
            .collection(&format!("{}.{}", namespace.module, namespace.collection))
    }

    /// The time a call may take: the configured timeout, or the time left
    /// before the request's deadline when that is shorter. Refuses a call
    /// with less than a millisecond left.
    fn time_limit(&self, budget: QueryBudget) -> DbResult<Duration> {
        match budget.remaining() {
            Some(left) if left < SHORTEST_CALL => Err(deadline_passed()),
            Some(left) => Ok(left.min(self.timeout)),
            None => Ok(self.timeout),
        }
    }

    /// Runs one call within `limit` (from [`MongoStore::time_limit`]).
    async fn bounded<T, E: From<DbError>>(
        &self,
        limit: Duration,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) if limit < self.timeout => Err(deadline_passed().into()),
            Err(_) => Err(DbError::Unavailable(format!(
                "MongoDB did not answer within {} ms",
                self.timeout.as_millis()
            ))
            .into()),
        }
    }

    /// Whether the server answers a `ping` within the configured timeout.
    pub async fn ping(&self) -> DbResult<()> {
        let admin = self.client.database("admin");
        let ping = admin
            .run_command(bson::doc! { "ping": 1 })
            .into_future()
            .map_err(|err| DbError::Unavailable(format!("MongoDB ping failed: {err}")));
        self.bounded(self.timeout, ping).await.map(drop)
    }

    /// Matches of `filter`, at most `limit` of them after `skip`.
    pub async fn find(
        &self,
        namespace: &Namespace,
        filter: &Value,
        sort: Option<&Value>,
        page: (u64, Option<u64>),
        projection: Option<&Value>,
        budget: QueryBudget,
    ) -> DbResult<Vec<Value>> {
        let limit = self.time_limit(budget)?;
        let max = u64::from(self.limits.max_find_documents);
        let cap = page.1.map_or(max + 1, |limit| limit.min(max + 1));
        let collection = self
            .collection(namespace)
            .clone_with_type::<RawDocumentBuf>();
        let mut find = collection
            .find(to_document(filter)?)
            .skip(page.0)
            .limit(i64::try_from(cap).unwrap_or(i64::MAX))
            .max_time(limit);
        if let Some(sort) = sort {
            find = find.sort(to_document(sort)?);
        }
        if let Some(projection) = projection {
            find = find.projection(to_document(projection)?);
        }
        let mut held = Held::new(&self.limits);
        let docs = self
            .bounded(limit, async {
                let mut cursor = find.await.map_err(driver_error)?;
                let mut docs = Vec::new();
                while let Some(raw) = cursor.try_next().await.map_err(driver_error)? {
                    held.hold(raw.as_bytes().len())?;
                    let doc = Document::try_from(raw).map_err(|err| {
                        DbError::Backend(format!("MongoDB sent a bad document: {err}"))
                    })?;
                    docs.push(to_json(doc));
                }
                Ok(docs)
            })
            .await?;
        if docs.len() as u64 > max {
            return Err(DbError::TooManyResults(self.limits.max_find_documents));
        }
        Ok(docs)
    }

    /// How many documents match.
    pub async fn count(
        &self,
        namespace: &Namespace,
        filter: &Value,
        budget: QueryBudget,
    ) -> DbResult<u64> {
        let limit = self.time_limit(budget)?;
        let filter = to_document(filter)?;
        let collection = self.collection(namespace);
        let count = collection.count_documents(filter).max_time(limit);
        self.bounded(limit, count.into_future().map_err(driver_error))
            .await
    }

    /// Inserts documents; returns their `_id`s.
    pub async fn insert(
        &self,
        namespace: &Namespace,
        docs: Vec<Value>,
        budget: QueryBudget,
    ) -> DbResult<Vec<Value>> {
        let limit = self.time_limit(budget)?;
        let mut ids = Vec::with_capacity(docs.len());
        let mut prepared = Vec::with_capacity(docs.len());
        for mut doc in docs {
            ids.push(prepare(&mut doc)?);
            encode(&doc, self.limits.max_document_bytes)?;
            prepared.push(to_document(&doc)?);
        }
        let stored_ids: Vec<Bson> = prepared
            .iter()
            .filter_map(|doc| doc.get("_id").cloned())
            .collect();
        let collection = self.collection(namespace);
        let insert = collection.insert_many(prepared).into_future();
        let Err(err) = self.bounded(limit, insert.map(Ok)).await? else {
            return Ok(ids);
        };
        // An ordered insert stops at its first refused document, and those
        // before it stay stored. Take them out again, so that a batch is
        // all or none as the `db` interface promises. Not atomic: a reader
        // may see them meanwhile (MongoDB's transactions need a replica
        // set, which a deployment may not have).
        if let Some(stored) = stored_before_failure(&err).filter(|&n| n > 0) {
            let undo =
                collection.delete_many(bson::doc! { "_id": { "$in": &stored_ids[..stored] } });
            let undone = self
                .bounded(self.timeout, undo.into_future().map_err(driver_error))
                .await;
            if let Err(undo_err) = undone {
                return Err(DbError::Backend(format!(
                    "MongoDB refused document {stored} of the batch ({}) and the {stored} stored before it could not be removed again: {undo_err}",
                    driver_error(err)
                )));
            }
        }
        Err(driver_error(err))
    }

    /// Updates the first match, or all; upserts when asked.
    pub async fn update(
        &self,
        namespace: &Namespace,
        filter: &Value,
        update: &Value,
        which: Matches,
        upsert: Upsert,
        budget: QueryBudget,
    ) -> DbResult<UpdateResult> {
        let limit = self.time_limit(budget)?;
        let mut update = to_document(update)?;
        let upsert = upsert == Upsert::Yes;
        if upsert && filter.get("_id").is_none() {
            give_upsert_an_id(&mut update);
        }
        let filter = to_document(filter)?;
        let collection = self.collection(namespace);
        // The update commands take no maxTimeMS: only the wait is bounded.
        let call = if which == Matches::All {
            collection.update_many(filter, update)
        } else {
            collection.update_one(filter, update)
        };
        let result = self
            .bounded(
                limit,
                call.upsert(upsert).into_future().map_err(driver_error),
            )
            .await?;
        Ok(UpdateResult {
            matched: result.matched_count,
            modified: result.modified_count,
            upserted_id: result.upserted_id.map(|id| id.into_relaxed_extjson()),
        })
    }

    /// Deletes the first match, or all.
    pub async fn delete(
        &self,
        namespace: &Namespace,
        filter: &Value,
        which: Matches,
        budget: QueryBudget,
    ) -> DbResult<u64> {
        let limit = self.time_limit(budget)?;
        let filter = to_document(filter)?;
        let collection = self.collection(namespace);
        // The delete commands take no maxTimeMS: only the wait is bounded.
        let call = if which == Matches::All {
            collection.delete_many(filter)
        } else {
            collection.delete_one(filter)
        };
        let result = self
            .bounded(limit, call.into_future().map_err(driver_error))
            .await?;
        Ok(result.deleted_count)
    }

    /// Makes a single-field ascending index.
    pub async fn create_index(
        &self,
        namespace: &Namespace,
        field: &str,
        unique: bool,
        budget: QueryBudget,
    ) -> DbResult<()> {
        let limit = self.time_limit(budget)?;
        let model = IndexModel::builder()
            .keys(bson::doc! { field: 1 })
            .options(IndexOptions::builder().unique(unique).build())
            .build();
        let collection = self.collection(namespace);
        let create = collection.create_index(model).max_time(limit);
        self.bounded(limit, create.into_future().map_err(driver_error))
            .await?;
        Ok(())
    }
}

/// Upserted documents get a string `_id` like inserted ones, rather than
/// the server's own ObjectId.
fn give_upsert_an_id(update: &mut Document) {
    let id = Bson::String(bson::oid::ObjectId::new().to_hex());
    match update.get_mut("$setOnInsert") {
        Some(Bson::Document(on_insert)) => {
            on_insert.insert("_id", id);
        }
        _ => {
            update.insert("$setOnInsert", bson::doc! { "_id": id });
        }
    }
}

fn to_document(value: &Value) -> DbResult<Document> {
    match bson::to_bson(value) {
        Ok(Bson::Document(doc)) => Ok(doc),
        Ok(_) => Err(DbError::InvalidDocument("expected a JSON object".into())),
        Err(err) => Err(DbError::InvalidDocument(err.to_string())),
    }
}

fn to_json(doc: Document) -> Value {
    Bson::Document(doc).into_relaxed_extjson()
}

/// A call that ran past the request's deadline.
fn deadline_passed() -> DbError {
    DbError::Timeout("the call ran past the request's deadline (MongoDB)".into())
}

/// How many documents of an ordered `insert_many` were stored before the
/// one the server refused; `None` when that is not known (the server may
/// have stored all, some or none).
fn stored_before_failure(err: &mongodb::error::Error) -> Option<usize> {
    match err.kind.as_ref() {
        ErrorKind::InsertMany(e) => e.write_errors.as_ref()?.iter().map(|e| e.index).min(),
        _ => None,
    }
}

/// The driver's error as the guest sees it.
fn driver_error(err: mongodb::error::Error) -> DbError {
    if matches!(err.kind.as_ref(), ErrorKind::Command(e) if e.code == MAX_TIME_MS_EXPIRED) {
        return DbError::Timeout(format!(
            "MongoDB stopped the call at its time limit (the request's deadline or db.timeout_ms): {err}"
        ));
    }
    let duplicate = match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .flatten()
            .any(|e| e.code == DUPLICATE_KEY),
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    };
    if duplicate {
        return DbError::DuplicateKey(format!("MongoDB refused a duplicate key: {err}"));
    }
    match err.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Authentication { .. } => {
            DbError::Unavailable(format!("MongoDB cannot be reached: {err}"))
        }
        _ => DbError::Backend(format!("MongoDB refused the operation: {err}")),
    }
}
