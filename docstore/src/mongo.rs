//! The MongoDB backend: the official driver against a URI (a single server,
//! a replica set or a sharded cluster). A tenant is a database
//! (`<prefix>_<tenant>`), a module's collection is `<module>.<collection>`
//! in it. The driver reconnects by itself; every call is bounded by the
//! configured timeout and a failure to reach the server is `Unavailable`.

use std::future::Future;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{self, Bson, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};
use serde_json::Value;

use crate::document::{encode, prepare};
use crate::error::{DbError, DbResult};
use crate::scope::Namespace;
use crate::{Limits, UpdateResult};

/// MongoDB's code for a duplicate key.
const DUPLICATE_KEY: i32 = 11000;

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

    /// Runs one driver call within the timeout.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = mongodb::error::Result<T>>,
    ) -> DbResult<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(driver_error),
            Err(_) => Err(DbError::Unavailable(format!(
                "MongoDB did not answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// Matches of `filter`, at most `limit` of them after `skip`.
    pub async fn find(
        &self,
        namespace: &Namespace,
        filter: &Value,
        sort: Option<&Value>,
        page: (u64, Option<u64>),
        projection: Option<&Value>,
    ) -> DbResult<Vec<Value>> {
        let max = u64::from(self.limits.max_find_documents);
        let cap = page.1.map_or(max + 1, |limit| limit.min(max + 1));
        let collection = self.collection(namespace);
        let mut find = collection
            .find(to_document(filter)?)
            .skip(page.0)
            .limit(i64::try_from(cap).unwrap_or(i64::MAX));
        if let Some(sort) = sort {
            find = find.sort(to_document(sort)?);
        }
        if let Some(projection) = projection {
            find = find.projection(to_document(projection)?);
        }
        let docs: Vec<Document> = self
            .bounded(async { find.await?.try_collect().await })
            .await?;
        if docs.len() as u64 > max {
            return Err(DbError::TooManyResults(self.limits.max_find_documents));
        }
        Ok(docs.into_iter().map(to_json).collect())
    }

    /// How many documents match.
    pub async fn count(&self, namespace: &Namespace, filter: &Value) -> DbResult<u64> {
        let filter = to_document(filter)?;
        self.bounded(
            self.collection(namespace)
                .count_documents(filter)
                .into_future(),
        )
        .await
    }

    /// Inserts documents; returns their `_id`s.
    pub async fn insert(&self, namespace: &Namespace, docs: Vec<Value>) -> DbResult<Vec<Value>> {
        let mut ids = Vec::with_capacity(docs.len());
        let mut prepared = Vec::with_capacity(docs.len());
        for mut doc in docs {
            ids.push(prepare(&mut doc)?);
            encode(&doc, self.limits.max_document_bytes)?;
            prepared.push(to_document(&doc)?);
        }
        self.bounded(
            self.collection(namespace)
                .insert_many(prepared)
                .into_future(),
        )
        .await?;
        Ok(ids)
    }

    /// Updates the first match, or all with `many`; upserts when asked.
    pub async fn update(
        &self,
        namespace: &Namespace,
        filter: &Value,
        update: &Value,
        many: bool,
        upsert: bool,
    ) -> DbResult<UpdateResult> {
        let mut update = to_document(update)?;
        if upsert && filter.get("_id").is_none() {
            give_upsert_an_id(&mut update);
        }
        let filter = to_document(filter)?;
        let collection = self.collection(namespace);
        let result = if many {
            self.bounded(
                collection
                    .update_many(filter, update)
                    .upsert(upsert)
                    .into_future(),
            )
            .await?
        } else {
            self.bounded(
                collection
                    .update_one(filter, update)
                    .upsert(upsert)
                    .into_future(),
            )
            .await?
        };
        Ok(UpdateResult {
            matched: result.matched_count,
            modified: result.modified_count,
            upserted_id: result.upserted_id.map(|id| id.into_relaxed_extjson()),
        })
    }

    /// Deletes the first match, or all with `many`.
    pub async fn delete(&self, namespace: &Namespace, filter: &Value, many: bool) -> DbResult<u64> {
        let filter = to_document(filter)?;
        let collection = self.collection(namespace);
        let result = if many {
            self.bounded(collection.delete_many(filter).into_future())
                .await?
        } else {
            self.bounded(collection.delete_one(filter).into_future())
                .await?
        };
        Ok(result.deleted_count)
    }

    /// Makes a single-field ascending index.
    pub async fn create_index(
        &self,
        namespace: &Namespace,
        field: &str,
        unique: bool,
    ) -> DbResult<()> {
        let model = IndexModel::builder()
            .keys(bson::doc! { field: 1 })
            .options(IndexOptions::builder().unique(unique).build())
            .build();
        self.bounded(self.collection(namespace).create_index(model).into_future())
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

/// The driver's error as the guest sees it.
fn driver_error(err: mongodb::error::Error) -> DbError {
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
