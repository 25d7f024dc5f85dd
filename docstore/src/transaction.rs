//! Several writes as one: a list of inserts, updates and deletes across one
//! scope's collections, each with an optional expectation, committed all
//! together or not at all. One call carries the whole list, so no backend
//! holds a transaction open while guest code runs.

use serde_json::Value;

use crate::error::{DbError, DbResult};
use crate::filter::Filter;
use crate::scope::Namespace;
use crate::update::Update;
use crate::{Matches, Upsert};

/// The most writes one transaction may hold.
pub const MAX_WRITES: usize = 100;

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// The collection it changes (all writes of a transaction are in one
    /// scope).
    pub collection: Namespace,
    /// What it does.
    pub action: WriteAction,
    /// When set, the transaction aborts unless the write matched exactly
    /// this many documents (see [`WriteResult::matched`]).
    pub expect_matched: Option<u64>,
}

/// What one write does.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteAction {
    /// Stores a document (one without `_id` gets an ObjectId string).
    Insert(Value),
    /// Applies an update document to the first match or every match.
    Update {
        /// Which documents.
        filter: Value,
        /// The `$` operators to apply.
        update: Value,
        /// The first match or all.
        which: Matches,
        /// Whether to insert when nothing matches.
        upsert: Upsert,
    },
    /// Deletes the first match or every match.
    Delete {
        /// Which documents.
        filter: Value,
        /// The first match or all.
        which: Matches,
    },
}

/// What one write of a committed transaction did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteResult {
    /// Documents the write matched: for an update those its filter matched,
    /// for a delete those it deleted, for an insert 1.
    pub matched: u64,
    /// Documents it changed: updated, deleted, or the one inserted.
    pub modified: u64,
    /// The `_id` an insert stored or an upsert inserted.
    pub id: Option<Value>,
}

/// Why a transaction changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionError {
    /// The position of the write that failed or whose expectation did not
    /// hold; `None` when the failure is not one write's (the backend is
    /// down, the deadline passed, the list is too long).
    pub index: Option<usize>,
    /// What went wrong.
    pub error: DbError,
}

impl TransactionError {
    /// A failure of the write at `index`.
    pub fn at(index: usize) -> impl FnOnce(DbError) -> TransactionError {
        move |error| TransactionError {
            index: Some(index),
            error,
        }
    }

    /// A failure of the transaction as a whole.
    pub fn whole(error: DbError) -> TransactionError {
        TransactionError { index: None, error }
    }
}

/// A write whose filter and update are parsed, for the embedded store.
pub(crate) enum CheckedAction {
    Insert(Value),
    Update {
        filter: Filter,
        update: Update,
        which: Matches,
        upsert: Upsert,
    },
    Delete {
        filter: Filter,
        which: Matches,
    },
}

impl WriteAction {
    /// Parses the filter and update, so a malformed write is refused before
    /// anything is written, with the same error on every backend.
    pub(crate) fn check(&self) -> DbResult<CheckedAction> {
        Ok(match self {
            WriteAction::Insert(doc) => CheckedAction::Insert(doc.clone()),
            WriteAction::Update {
                filter,
                update,
                which,
                upsert,
            } => CheckedAction::Update {
                filter: Filter::parse(filter)?,
                update: Update::parse(update)?,
                which: *which,
                upsert: *upsert,
            },
            WriteAction::Delete { filter, which } => CheckedAction::Delete {
                filter: Filter::parse(filter)?,
                which: *which,
            },
        })
    }
}

/// Checks a whole list before any of it runs: not empty, not too long, one
/// scope.
pub(crate) fn check_list(writes: &[Write]) -> Result<(), TransactionError> {
    let whole = |why: String| Err(TransactionError::whole(DbError::InvalidUpdate(why)));
    if writes.is_empty() {
        return whole("a transaction needs at least one write".into());
    }
    if writes.len() > MAX_WRITES {
        return whole(format!(
            "a transaction holds at most {MAX_WRITES} writes; this one has {}",
            writes.len()
        ));
    }
    let scope = writes[0].collection.scope_key();
    if let Some(other) = writes
        .iter()
        .position(|w| w.collection.scope_key() != scope)
    {
        return Err(TransactionError::at(other)(DbError::InvalidName(
            "every write of a transaction must be in the same module's collections".into(),
        )));
    }
    Ok(())
}

/// Fails the write at `index` when it matched other than it expected.
pub(crate) fn check_expectation(
    index: usize,
    expected: Option<u64>,
    matched: u64,
) -> Result<(), TransactionError> {
    match expected {
        Some(expected) if expected != matched => Err(TransactionError::at(index)(
            DbError::ExpectationFailed(format!(
                "write {index} of the transaction matched {matched} documents, not the {expected} it expected; nothing was written"
            )),
        )),
        _ => Ok(()),
    }
}

impl From<DbError> for TransactionError {
    fn from(error: DbError) -> Self {
        TransactionError::whole(error)
    }
}

impl AsRef<DbError> for TransactionError {
    fn as_ref(&self) -> &DbError {
        &self.error
    }
}
