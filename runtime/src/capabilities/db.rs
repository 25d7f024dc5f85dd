//! `db`: the module's own document collections. JSON text from the guest is
//! parsed here; the collection name becomes a namespace of the calling
//! module's scope, so nothing the guest passes reaches another's data.

use std::sync::Arc;

use modhost_docstore::{
    DbError as StoreError, FindOptions as StoreFindOptions, Namespace, QueryBudget,
};
use serde_json::Value;
use wasmtime::Result;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::modhost::module::db::{self, DbError, FindOptions, UpdateResult};
use crate::host_state::{HostState, ModuleContext};

/// Links the `db` interface.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    db::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

type DbResult<T> = std::result::Result<T, DbError>;

impl db::Host for HostState {
    async fn find(
        &mut self,
        collection: String,
        filter: String,
        options: FindOptions,
    ) -> DbResult<Vec<String>> {
        let (module, budget) = self.admit(&find_texts(&filter, &options))?;
        let (namespace, filter, options) = module.query(&collection, &filter, options)?;
        let docs = module.db.find(&namespace, &filter, &options, budget).await;
        Ok(docs
            .map_err(wit_error)?
            .iter()
            .map(Value::to_string)
            .collect())
    }

    async fn find_one(
        &mut self,
        collection: String,
        filter: String,
        options: FindOptions,
    ) -> DbResult<Option<String>> {
        let (module, budget) = self.admit(&find_texts(&filter, &options))?;
        let (namespace, filter, options) = module.query(&collection, &filter, options)?;
        let doc = module
            .db
            .find_one(&namespace, &filter, &options, budget)
            .await;
        Ok(doc.map_err(wit_error)?.map(|doc| doc.to_string()))
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
        let texts: Vec<&str> = documents.iter().map(String::as_str).collect();
        let (module, budget) = self.admit(&texts)?;
        let namespace = module.namespace(&collection)?;
        let docs = documents
            .iter()
            .map(|text| json(text, DbError::InvalidDocument))
            .collect::<DbResult<Vec<_>>>()?;
        let ids = module
            .db
            .insert(&namespace, docs, budget)
            .await
            .map_err(wit_error)?;
        Ok(ids.iter().map(id_text).collect())
    }

    async fn update_one(
        &mut self,
        collection: String,
        filter: String,
        update: String,
        upsert: bool,
    ) -> DbResult<UpdateResult> {
        let (module, budget) = self.admit(&[&filter, &update])?;
        let many = false;
        module
            .update(&collection, &filter, &update, many, upsert, budget)
            .await
    }

    async fn update_many(
        &mut self,
        collection: String,
        filter: String,
        update: String,
        upsert: bool,
    ) -> DbResult<UpdateResult> {
        let (module, budget) = self.admit(&[&filter, &update])?;
        let many = true;
        module
            .update(&collection, &filter, &update, many, upsert, budget)
            .await
    }

    async fn delete_one(&mut self, collection: String, filter: String) -> DbResult<u64> {
        let (module, budget) = self.admit(&[&filter])?;
        module.delete(&collection, &filter, false, budget).await
    }

    async fn delete_many(&mut self, collection: String, filter: String) -> DbResult<u64> {
        let (module, budget) = self.admit(&[&filter])?;
        module.delete(&collection, &filter, true, budget).await
    }

    async fn count(&mut self, collection: String, filter: String) -> DbResult<u64> {
        let (module, budget) = self.admit(&[&filter])?;
        let namespace = module.namespace(&collection)?;
        let filter = json(&filter, DbError::InvalidFilter)?;
        module
            .db
            .count(&namespace, &filter, budget)
            .await
            .map_err(wit_error)
    }

    async fn create_index(
        &mut self,
        collection: String,
        field: String,
        unique: bool,
    ) -> DbResult<()> {
        let (module, budget) = self.admit(&[&field])?;
        let namespace = module.namespace(&collection)?;
        let created = module
            .db
            .create_index(&namespace, &field, unique, budget)
            .await;
        created.map_err(wit_error)
    }
}

impl HostState {
    /// Lets a db call in: what the guest passed fits the module's
    /// `max_host_call_bytes` (checked before any of it is parsed), and the
    /// call gets what is left of the request's deadline. Returns the
    /// module's context to make the call on, so nothing of the store is
    /// held across the wait.
    fn admit(&self, texts: &[&str]) -> DbResult<(Arc<ModuleContext>, QueryBudget)> {
        let sizes = texts.iter().map(|text| text.len());
        self.module
            .limits
            .admit_host_call(sizes)
            .map_err(DbError::QueryTooLarge)?;
        let budget = QueryBudget {
            deadline: Some(self.budget.deadline),
        };
        Ok((self.module.clone(), budget))
    }
}

/// The texts of a find the guest passes: its filter, sort and projection.
fn find_texts<'a>(filter: &'a str, options: &'a FindOptions) -> [&'a str; 3] {
    let text = |option: &'a Option<String>| option.as_deref().unwrap_or_default();
    [filter, text(&options.sort), text(&options.projection)]
}

/// The calls, on the module's context: the store's state is not shared
/// with the guest's, so nothing of the store is held across a wait.
impl ModuleContext {
    fn namespace(&self, collection: &str) -> DbResult<Namespace> {
        self.collection(collection).map_err(wit_error)
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
        Ok((
            self.namespace(collection)?,
            json(filter, DbError::InvalidFilter)?,
            options,
        ))
    }

    async fn update(
        &self,
        collection: &str,
        filter: &str,
        update: &str,
        many: bool,
        upsert: bool,
        budget: QueryBudget,
    ) -> DbResult<UpdateResult> {
        let namespace = self.namespace(collection)?;
        let filter = json(filter, DbError::InvalidFilter)?;
        let update = json(update, DbError::InvalidUpdate)?;
        let result = self
            .db
            .update(&namespace, &filter, &update, many, upsert, budget)
            .await;
        let result = result.map_err(wit_error)?;
        Ok(UpdateResult {
            matched: result.matched,
            modified: result.modified,
            upserted_id: result.upserted_id.as_ref().map(id_text),
        })
    }

    async fn delete(
        &self,
        collection: &str,
        filter: &str,
        many: bool,
        budget: QueryBudget,
    ) -> DbResult<u64> {
        let namespace = self.namespace(collection)?;
        let filter = json(filter, DbError::InvalidFilter)?;
        self.db
            .delete(&namespace, &filter, many, budget)
            .await
            .map_err(wit_error)
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

fn wit_error(err: StoreError) -> DbError {
    match err {
        StoreError::InvalidName(m) => DbError::InvalidName(m),
        StoreError::InvalidFilter(m) => DbError::InvalidFilter(m),
        StoreError::InvalidUpdate(m) => DbError::InvalidUpdate(m),
        StoreError::InvalidDocument(m) => DbError::InvalidDocument(m),
        StoreError::InvalidIndex(m) => DbError::InvalidIndex(m),
        StoreError::DuplicateKey(m) => DbError::DuplicateKey(m),
        StoreError::DocumentTooLarge(m) => DbError::DocumentTooLarge(m),
        StoreError::TooManyResults(limit) => DbError::TooManyResults(limit),
        StoreError::Unavailable(m) => DbError::Unavailable(m),
        StoreError::Backend(m) => DbError::Backend(m),
        StoreError::Timeout(m) => DbError::Timeout(m),
        StoreError::QueryTooLarge(m) => DbError::QueryTooLarge(m),
        StoreError::QuotaExceeded(m) => DbError::QuotaExceeded(m),
    }
}
