//! Several writes as one: all take effect or none does.
//!
//! ```no_run
//! use modhost_sdk::db::{Collection, Transaction};
//! use serde_json::json;
//! # fn handler() -> modhost_sdk::Result<()> {
//! const ACCOUNTS: Collection = Collection::new("accounts");
//! const LEDGER: Collection = Collection::new("ledger");
//!
//! Transaction::new()
//!     .update_one(&ACCOUNTS, json!({"_id": "a", "balance": {"$gte": 5}}), json!({"$inc": {"balance": -5}}))
//!     .expect_matched(1)
//!     .update_one(&ACCOUNTS, json!({"_id": "b"}), json!({"$inc": {"balance": 5}}))
//!     .expect_matched(1)
//!     .insert_one(&LEDGER, &json!({"from": "a", "to": "b", "amount": 5}))
//!     .commit()?;
//! # Ok(())
//! # }
//! ```
//!
//! The host runs the whole list in one call, in order, each write seeing
//! the ones before it. A write that fails, or matches other than its
//! [`Transaction::expect_matched`], rolls back all of them; the error says
//! which write it was.

use serde::Serialize;
use serde_json::Value;

use super::{Collection, DbError, encode, host};
use crate::error::HostError;
pub use host::{TransactionError, WriteResult};

/// A list of writes to commit together; build it, then [`Transaction::commit`].
#[derive(Debug, Default)]
#[must_use = "a transaction does nothing until it is committed"]
pub struct Transaction {
    writes: Vec<host::Write>,
    /// The first mistake made while building, reported by `commit`.
    mistake: Option<TransactionError>,
}

impl Transaction {
    /// No writes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Then stores `doc` in `collection`.
    pub fn insert_one<T: Serialize + ?Sized>(self, collection: &Collection, doc: &T) -> Self {
        match encode(doc) {
            Ok(doc) => self.push(collection, host::WriteAction::Insert(doc)),
            Err(error) => self.fail(error),
        }
    }

    /// Then updates the first match of `filter`.
    pub fn update_one(self, collection: &Collection, filter: Value, update: Value) -> Self {
        self.update(collection, filter, update, false, false)
    }

    /// Then updates every match of `filter`.
    pub fn update_many(self, collection: &Collection, filter: Value, update: Value) -> Self {
        self.update(collection, filter, update, true, false)
    }

    /// Then updates the first match of `filter`, inserting a document made
    /// from the filter's equalities when nothing matches.
    pub fn upsert_one(self, collection: &Collection, filter: Value, update: Value) -> Self {
        self.update(collection, filter, update, false, true)
    }

    /// Then deletes the first match of `filter`.
    pub fn delete_one(self, collection: &Collection, filter: Value) -> Self {
        self.delete(collection, filter, false)
    }

    /// Then deletes every match of `filter`.
    pub fn delete_many(self, collection: &Collection, filter: Value) -> Self {
        self.delete(collection, filter, true)
    }

    /// Makes the write added last a condition: unless it matches exactly
    /// `count` documents, the whole transaction is rolled back with
    /// [`DbError::ExpectationFailed`] (HTTP 409 when returned with `?`).
    pub fn expect_matched(mut self, count: u64) -> Self {
        match self.writes.last_mut() {
            Some(write) => write.expect_matched = Some(count),
            None => {
                return self.fail(DbError::InvalidUpdate(
                    "expect_matched needs a write before it".into(),
                ));
            }
        }
        self
    }

    /// Runs every write, all or none; returns what each did, in order.
    pub fn commit(self) -> Result<Vec<WriteResult>, TransactionError> {
        if let Some(mistake) = self.mistake {
            return Err(mistake);
        }
        host::transact(&self.writes)
    }

    fn update(
        self,
        collection: &Collection,
        filter: Value,
        update: Value,
        many: bool,
        upsert: bool,
    ) -> Self {
        let op = host::UpdateOp {
            filter: filter.to_string(),
            update: update.to_string(),
            many,
            upsert,
        };
        self.push(collection, host::WriteAction::Update(op))
    }

    fn delete(self, collection: &Collection, filter: Value, many: bool) -> Self {
        let op = host::DeleteOp {
            filter: filter.to_string(),
            many,
        };
        self.push(collection, host::WriteAction::Delete(op))
    }

    fn push(mut self, collection: &Collection, action: host::WriteAction) -> Self {
        self.writes.push(host::Write {
            collection: collection.name.to_string(),
            action,
            expect_matched: None,
        });
        self
    }

    /// Remembers the first mistake, naming the write it concerns.
    fn fail(mut self, error: DbError) -> Self {
        let index = u32::try_from(self.writes.len()).ok();
        self.mistake
            .get_or_insert(TransactionError { index, error });
        self
    }
}

impl TransactionError {
    /// Whether the write at `index` (counting from 0) failed its
    /// expectation: the usual way to tell which condition did not hold.
    pub fn expectation_failed_at(&self, index: u32) -> bool {
        self.index == Some(index) && matches!(self.error, DbError::ExpectationFailed(_))
    }
}

/// A failed transaction answers as its error does.
impl HostError for TransactionError {
    fn message(&self) -> &str {
        self.error.message()
    }

    fn status(&self) -> u16 {
        self.error.status()
    }
}
