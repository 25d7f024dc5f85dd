//! The `db` interface's calls: what the guest passed is checked against the
//! module's `max_host_call_bytes` before any of it is parsed, parsed, put
//! in the module's scope, and run within the request's deadline.

use modhost_docstore::{
    FindOptions as StoreFindOptions, Matches, Namespace, QueryBudget, TransactionError, Upsert,
    Write as StoreWrite, WriteAction as StoreWriteAction, WriteResult as StoreWriteResult,
};
use serde_json::Value;

use super::{DbView, ModuleDb};
use crate::bindings::modhost::module::db::{
    self as wit, DbError, FindOptions, TransactionError as WitTransactionError, UpdateResult,
    Write, WriteAction, WriteResult,
};
use crate::grants::Grant;
use crate::metrics::{Backend, metered};

type DbResult<T> = std::result::Result<T, DbError>;

impl wit::Host for DbView<'_> {
    async fn find(
        &mut self,
        collection: String,
        filter: String,
        options: FindOptions,
    ) -> DbResult<Vec<String>> {
        let who = (self.tenant, self.module);
        metered(Backend::Db, who, "find", async {
            let budget = self.admit(&find_texts(&filter, &options))?;
            let (namespace, filter, options) = self.query(&collection, &filter, options)?;
            let docs = self
                .db()?
                .store
                .find_json(&namespace, &filter, &options, budget);
            Ok(docs.await?)
        })
        .await
    }

    async fn find_one(
        &mut self,
        collection: String,
        filter: String,
        options: FindOptions,
    ) -> DbResult<Option<String>> {
        let who = (self.tenant, self.module);
        metered(Backend::Db, who, "find_one", async {
            let budget = self.admit(&find_texts(&filter, &options))?;
            let (namespace, filter, options) = self.query(&collection, &filter, options)?;
            let doc = self
                .db()?
                .store
                .find_one_json(&namespace, &filter, &options, budget);
            Ok(doc.await?)
        })
        .await
    }

    async fn insert_one(&mut self, collection: String, document: String) -> DbResult<String> {
        let mut ids = self.insert_many(collection, vec![document]).await?;
        Ok(ids.remove(0))
    }

    async fn insert_many(
        &mut self,
        collection: String,
        documents: Vec<String>,
    ) -> DbResult<Vec<String>> {
        let who = (self.tenant, self.module);
        metered(Backend::Db, who, "insert_many", async {
            let texts: Vec<&str> = documents.iter().map(String::as_str).collect();
            let budget = self.admit(&texts)?;
            let namespace = self.namespace(&collection)?;
            let docs = documents
                .iter()
                .map(|text| json(text, DbError::InvalidDocument))
                .collect::<DbResult<Vec<_>>>()?;
            let ids = self.db()?.store.insert(&namespace, docs, budget).await?;
            Ok(ids.iter().map(id_text).collect())
        })
        .await
    }

    async fn update_one(
        &mut self,
        collection: String,
        filter: String,
        update: String,
        upsert: bool,
    ) -> DbResult<UpdateResult> {
        let who = (self.tenant, self.module);
        metered(Backend::Db, who, "update_one", async {
            self.update(&collection, &filter, &update, Matches::First, upsert)
                .await
        })
        .await
    }

    async fn update_many(
        &mut self,
        collection: String,
        filter: String,
        update: String,
        upsert: bool,
    ) -> DbResult<UpdateResult> {
        let who = (self.tenant, self.module);
        metered(Backend::Db, who, "update_many", async {
            self.update(&collection, &filter, &update, Matches::All, upsert)
                .await
        })
        .await
    }

    async fn delete_one(&mut self, collection: String, filter: String) -> DbResult<u64> {
        let who = (self.tenant, self.module);
        metered(Backend::Db, who, "delete_one", async {
            self.delete(&collection, &filter, Matches::First).await
        })
        .await
    }

    async fn delete_many(&mut self, collection: String, filter: String) -> DbResult<u64> {
        let who = (self.tenant, self.module);
        metered(Backend::Db, who, "delete_many", async {
            self.delete(&collection, &filter, Matches::All).await
        })
        .await
    }

    async fn count(&mut self, collection: String, filter: String) -> DbResult<u64> {
        let who = (self.tenant, self.module);
        metered(Backend::Db, who, "count", async {
            let budget = self.admit(&[&filter])?;
            let (namespace, filter) = self.filtered(&collection, &filter)?;
            Ok(self.db()?.store.count(&namespace, &filter, budget).await?)
        })
        .await
    }

    async fn transact(
        &mut self,
        writes: Vec<Write>,
    ) -> std::result::Result<Vec<WriteResult>, WitTransactionError> {
        let who = (self.tenant, self.module);
        metered(Backend::Db, who, "transact", async {
            let texts: Vec<&str> = writes.iter().flat_map(write_texts).collect();
            let budget = self.admit(&texts).map_err(whole)?;
            let writes = writes
                .into_iter()
                .enumerate()
                .map(|(index, write)| {
                    self.store_write(write)
                        .map_err(|error| WitTransactionError {
                            index: Some(index as u32),
                            error,
                        })
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            match self
                .db()
                .map_err(whole)?
                .store
                .transact(writes, budget)
                .await
            {
                Ok(results) => Ok(results.into_iter().map(write_result).collect()),
                Err(TransactionError { index, error }) => Err(WitTransactionError {
                    index: index.map(|index| index as u32),
                    error: error.into(),
                }),
            }
        })
        .await
    }

    async fn create_index(
        &mut self,
        collection: String,
        field: String,
        unique: bool,
    ) -> DbResult<()> {
        let who = (self.tenant, self.module);
        metered(Backend::Db, who, "create_index", async {
            let budget = self.admit(&[&field])?;
            let namespace = self.namespace(&collection)?;
            let created = self
                .db()?
                .store
                .create_index(&namespace, &field, unique, budget);
            Ok(created.await?)
        })
        .await
    }
}

impl DbView<'_> {
    /// Lets a call in: the module is granted `db`, what the guest passed fits the module's
    /// `max_host_call_bytes` (checked before any of it is parsed), and the
    /// call gets what is left of the request's deadline.
    fn admit(&self, texts: &[&str]) -> DbResult<QueryBudget> {
        self.db()?;
        let sizes = texts.iter().map(|text| text.len());
        self.limits
            .admit_host_call(sizes)
            .map_err(DbError::QueryTooLarge)?;
        Ok(QueryBudget {
            deadline: Some(self.deadline),
        })
    }

    /// The module's database; an error when it is not granted `db`.
    fn db(&self) -> DbResult<&ModuleDb> {
        self.db
            .ok_or_else(|| DbError::NotGranted(Grant::Db.missing(self.tenant, self.module)))
    }

    fn namespace(&self, collection: &str) -> DbResult<Namespace> {
        Ok(self.db()?.scope.collection(collection)?)
    }

    /// The module's `collection` and the parsed `filter` a call applies to.
    fn filtered(&self, collection: &str, filter: &str) -> DbResult<(Namespace, Value)> {
        Ok((
            self.namespace(collection)?,
            json(filter, DbError::InvalidFilter)?,
        ))
    }

    fn query(
        &self,
        collection: &str,
        filter: &str,
        options: FindOptions,
    ) -> DbResult<(Namespace, Value, StoreFindOptions)> {
        let optional =
            |text: Option<String>| text.map(|t| json(&t, DbError::InvalidFilter)).transpose();
        let options = StoreFindOptions {
            sort: optional(options.sort)?,
            skip: options.skip,
            limit: options.limit,
            projection: optional(options.projection)?,
        };
        let (namespace, filter) = self.filtered(collection, filter)?;
        Ok((namespace, filter, options))
    }

    async fn update(
        &self,
        collection: &str,
        filter: &str,
        update: &str,
        which: Matches,
        upsert: bool,
    ) -> DbResult<UpdateResult> {
        let budget = self.admit(&[filter, update])?;
        let (namespace, filter) = self.filtered(collection, filter)?;
        let update = json(update, DbError::InvalidUpdate)?;
        let upsert = if upsert { Upsert::Yes } else { Upsert::No };
        let result = self
            .db()?
            .store
            .update(&namespace, &filter, &update, which, upsert, budget)
            .await?;
        Ok(UpdateResult {
            matched: result.matched,
            modified: result.modified,
            upserted_id: result.upserted_id.as_ref().map(id_text),
        })
    }

    /// A guest's write of a transaction, parsed and put in the module's scope.
    fn store_write(&self, write: Write) -> DbResult<StoreWrite> {
        let action = match write.action {
            WriteAction::Insert(doc) => {
                StoreWriteAction::Insert(json(&doc, DbError::InvalidDocument)?)
            }
            WriteAction::Update(op) => StoreWriteAction::Update {
                filter: json(&op.filter, DbError::InvalidFilter)?,
                update: json(&op.update, DbError::InvalidUpdate)?,
                which: matches(op.many),
                upsert: if op.upsert { Upsert::Yes } else { Upsert::No },
            },
            WriteAction::Delete(op) => StoreWriteAction::Delete {
                filter: json(&op.filter, DbError::InvalidFilter)?,
                which: matches(op.many),
            },
        };
        Ok(StoreWrite {
            collection: self.namespace(&write.collection)?,
            action,
            expect_matched: write.expect_matched,
        })
    }

    async fn delete(&self, collection: &str, filter: &str, which: Matches) -> DbResult<u64> {
        let budget = self.admit(&[filter])?;
        let (namespace, filter) = self.filtered(collection, filter)?;
        Ok(self
            .db()?
            .store
            .delete(&namespace, &filter, which, budget)
            .await?)
    }
}

/// The texts of a find the guest passes: its filter, sort and projection.
fn find_texts<'a>(filter: &'a str, options: &'a FindOptions) -> [&'a str; 3] {
    let text = |option: &'a Option<String>| option.as_deref().unwrap_or_default();
    [filter, text(&options.sort), text(&options.projection)]
}

/// The texts a write of a transaction passes.
fn write_texts(write: &Write) -> Vec<&str> {
    let mut texts = vec![write.collection.as_str()];
    match &write.action {
        WriteAction::Insert(doc) => texts.push(doc),
        WriteAction::Update(op) => texts.extend([op.filter.as_str(), op.update.as_str()]),
        WriteAction::Delete(op) => texts.push(&op.filter),
    }
    texts
}

fn matches(many: bool) -> Matches {
    if many { Matches::All } else { Matches::First }
}

/// A failure of a transaction as a whole, before any write ran.
fn whole(error: DbError) -> WitTransactionError {
    WitTransactionError { index: None, error }
}

fn write_result(result: StoreWriteResult) -> WriteResult {
    WriteResult {
        matched: result.matched,
        modified: result.modified,
        id: result.id.as_ref().map(id_text),
    }
}

/// Parses JSON text from the guest; bad text is the error `kind`.
fn json(text: &str, kind: fn(String) -> DbError) -> DbResult<Value> {
    serde_json::from_str(text).map_err(|err| kind(format!("not valid JSON: {err}")))
}

/// An `_id` as the guest gets it: a string as is, a number as its text.
fn id_text(id: &Value) -> String {
    match id {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    }
}
