//! The module's own document collections, queried with the MongoDB filter
//! and update language.
//!
//! ```no_run
//! use modhost_sdk::db::{Collection, FindOptions};
//! use serde_json::json;
//! # #[derive(serde::Deserialize)]
//! # struct Item { name: String, stock: u32 }
//! # fn handler() -> modhost_sdk::Result<()> {
//!
//! const ITEMS: Collection = Collection::new("items");
//!
//! let id = ITEMS.insert_one(&json!({"name": "pen", "stock": 3}))?;
//! let low: Vec<Item> = ITEMS.find(json!({"stock": {"$lt": 5}}), &FindOptions::new().sort_asc("name"))?;
//! ITEMS.update_one(json!({"_id": id, "stock": {"$gte": 1}}), json!({"$inc": {"stock": -1}}))?;
//! # Ok(())
//! # }
//! ```
//!
//! A collection always means this module's own; another module's data is
//! reached by calling that module. Failures are [`DbError`] values (a
//! fitting HTTP status when returned from a handler with `?`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod transaction;

use crate::bindings::modhost::module::db as host;
pub use crate::bindings::modhost::module::db::{DbError, UpdateResult};
use crate::error::HostError;
pub use transaction::{Transaction, TransactionError, WriteResult};

/// One of the module's collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collection {
    name: &'static str,
}

/// A document exactly as the database sent it, its fields not parsed: find
/// `RawDocument`s to pass documents on (into a response, say) without
/// parsing and encoding each again. Serializing one writes its JSON text
/// as it is; `serde_json::from_str(raw.get())` reads it when needed.
///
/// ```no_run
/// use modhost_sdk::db::{Collection, FindOptions, RawDocument};
/// use serde_json::json;
///
/// const ITEMS: Collection = Collection::new("items");
/// let page: Vec<RawDocument> = ITEMS.find(json!({}), &FindOptions::new().limit(100))?;
/// # Ok::<(), modhost_sdk::db::DbError>(())
/// ```
pub type RawDocument = Box<serde_json::value::RawValue>;

/// How `find` orders, pages and trims its results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindOptions {
    sort: serde_json::Map<String, Value>,
    skip: u64,
    limit: Option<u64>,
    projection: Option<Value>,
}

impl FindOptions {
    /// No sort, no paging, whole documents.
    pub fn new() -> Self {
        Self::default()
    }

    /// Then sorts ascending by `field`.
    pub fn sort_asc(mut self, field: &str) -> Self {
        self.sort.insert(field.to_string(), Value::from(1));
        self
    }

    /// Then sorts descending by `field`.
    pub fn sort_desc(mut self, field: &str) -> Self {
        self.sort.insert(field.to_string(), Value::from(-1));
        self
    }

    /// Leaves out the first `n` matches.
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }

    /// Returns at most `n` matches.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Returns only these fields (and `_id`).
    pub fn fields(mut self, fields: &[&str]) -> Self {
        let keep = fields.iter().map(|f| (f.to_string(), Value::from(1)));
        self.projection = Some(Value::Object(keep.collect()));
        self
    }

    fn to_wit(&self) -> host::FindOptions {
        host::FindOptions {
            sort: (!self.sort.is_empty()).then(|| Value::Object(self.sort.clone()).to_string()),
            skip: self.skip,
            limit: self.limit,
            projection: self.projection.as_ref().map(Value::to_string),
        }
    }
}

impl Collection {
    /// The module's collection `name` (1 to 64 of `A-Z a-z 0-9 _ -`).
    pub const fn new(name: &'static str) -> Self {
        Self { name }
    }

    /// The documents matching `filter`.
    pub fn find<T: DeserializeOwned>(
        &self,
        filter: Value,
        options: &FindOptions,
    ) -> Result<Vec<T>, DbError> {
        let docs = host::find(self.name, &filter.to_string(), &options.to_wit())?;
        docs.iter().map(|doc| self.decode(doc)).collect()
    }

    /// The first document matching `filter`.
    pub fn find_one<T: DeserializeOwned>(&self, filter: Value) -> Result<Option<T>, DbError> {
        let doc = host::find_one(self.name, &filter.to_string(), &FindOptions::new().to_wit())?;
        doc.map(|doc| self.decode(&doc)).transpose()
    }

    /// Stores `doc` (an `_id` is made when it has none); returns the `_id`.
    pub fn insert_one<T: Serialize + ?Sized>(&self, doc: &T) -> Result<String, DbError> {
        host::insert_one(self.name, &encode(doc)?)
    }

    /// Stores every document of `docs`, or none; returns their `_id`s.
    pub fn insert_many<T: Serialize>(&self, docs: &[T]) -> Result<Vec<String>, DbError> {
        let docs = docs.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        host::insert_many(self.name, &docs)
    }

    /// Applies `update` to the first match, atomically: a filter such as
    /// `{"_id": id, "stock": {"$gte": 1}}` makes it conditional.
    pub fn update_one(&self, filter: Value, update: Value) -> Result<UpdateResult, DbError> {
        host::update_one(self.name, &filter.to_string(), &update.to_string(), false)
    }

    /// Like [`Collection::update_one`], inserting a document made from the
    /// filter's equalities when nothing matches.
    pub fn upsert_one(&self, filter: Value, update: Value) -> Result<UpdateResult, DbError> {
        host::update_one(self.name, &filter.to_string(), &update.to_string(), true)
    }

    /// Applies `update` to every match.
    pub fn update_many(&self, filter: Value, update: Value) -> Result<UpdateResult, DbError> {
        host::update_many(self.name, &filter.to_string(), &update.to_string(), false)
    }

    /// Deletes the first match; returns 1 when one was deleted.
    pub fn delete_one(&self, filter: Value) -> Result<u64, DbError> {
        host::delete_one(self.name, &filter.to_string())
    }

    /// Deletes every match; returns how many.
    pub fn delete_many(&self, filter: Value) -> Result<u64, DbError> {
        host::delete_many(self.name, &filter.to_string())
    }

    /// How many documents match.
    pub fn count(&self, filter: Value) -> Result<u64, DbError> {
        host::count(self.name, &filter.to_string())
    }

    /// Makes an index on `field`, unique or not; call it from `init`.
    pub fn create_index(&self, field: &str, unique: bool) -> Result<(), DbError> {
        host::create_index(self.name, field, unique)
    }

    fn decode<T: DeserializeOwned>(&self, doc: &str) -> Result<T, DbError> {
        serde_json::from_str(doc).map_err(|err| {
            DbError::InvalidDocument(format!(
                "a document of {} does not have the expected shape: {err}",
                self.name
            ))
        })
    }
}

fn encode<T: Serialize + ?Sized>(doc: &T) -> Result<String, DbError> {
    serde_json::to_string(doc)
        .map_err(|err| DbError::InvalidDocument(format!("could not encode the document: {err}")))
}

/// A database failure as an HTTP answer: 409 for a duplicate or a
/// transaction whose expectation failed, 413 for a
/// document too large, 400 for a document the client shaped, 503 when the
/// database is unavailable, 504 when the request's deadline passed during
/// the query, 507 over the module's storage quota, 500 for the module's own
/// mistakes (a malformed filter, a query too large for its budget).
impl HostError for DbError {
    fn message(&self) -> &str {
        match self {
            DbError::InvalidName(why)
            | DbError::InvalidFilter(why)
            | DbError::InvalidUpdate(why)
            | DbError::InvalidDocument(why)
            | DbError::InvalidIndex(why)
            | DbError::DuplicateKey(why)
            | DbError::DocumentTooLarge(why)
            | DbError::TooManyResults(why)
            | DbError::Unavailable(why)
            | DbError::Backend(why)
            | DbError::Timeout(why)
            | DbError::QueryTooLarge(why)
            | DbError::QuotaExceeded(why)
            | DbError::ExpectationFailed(why)
            | DbError::NotGranted(why) => why,
        }
    }

    fn status(&self) -> u16 {
        match self {
            DbError::DuplicateKey(_) | DbError::ExpectationFailed(_) => 409,
            DbError::DocumentTooLarge(_) => 413,
            DbError::InvalidDocument(_) => 400,
            DbError::Unavailable(_) => 503,
            DbError::Timeout(_) => 504,
            DbError::QuotaExceeded(_) => 507,
            _ => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_database_error_has_its_status_and_message() {
        let why = || "why".to_string();
        let cases = [
            (DbError::DuplicateKey(why()), 409),
            (DbError::ExpectationFailed(why()), 409),
            (DbError::DocumentTooLarge(why()), 413),
            (DbError::InvalidDocument(why()), 400),
            (DbError::Unavailable(why()), 503),
            (DbError::Timeout(why()), 504),
            (DbError::QuotaExceeded(why()), 507),
            (DbError::InvalidFilter(why()), 500),
            (DbError::QueryTooLarge(why()), 500),
            (DbError::TooManyResults(why()), 500),
            (DbError::NotGranted(why()), 500),
        ];
        crate::error::assert_statuses(cases);
    }
}
