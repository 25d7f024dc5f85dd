//! Transactions on MongoDB: one session transaction per call, run through
//! the driver's `and_run`, which retries the whole transaction on a
//! `TransientTransactionError` and the commit on an
//! `UnknownTransactionCommitResult`. A write whose expectation fails aborts
//! it. Transactions need a replica set or a sharded cluster: a standalone
//! server refuses them, and the error says so.

use futures_util::FutureExt;
use mongodb::bson::{Bson, Document};
use mongodb::error::{Error, ErrorKind, TRANSIENT_TRANSACTION_ERROR};
use mongodb::{ClientSession, Collection};
use serde_json::Value;

use super::{MongoStore, driver_error, give_upsert_an_id, to_document};
use crate::budget::QueryBudget;
use crate::document::{encode, prepare};
use crate::error::{DbError, DbResult};
use crate::transaction::{TransactionError, Write, WriteAction, WriteResult, check_expectation};
use crate::{Matches, Upsert};

/// MongoDB's code for "this server cannot do that": what a standalone
/// server answers to a transaction.
const ILLEGAL_OPERATION: i32 = 20;

/// One write, as BSON, ready to run in the session.
struct Prepared {
    collection: Collection<Document>,
    action: PreparedAction,
    expect_matched: Option<u64>,
}

enum PreparedAction {
    Insert(Document, Value),
    Update {
        filter: Document,
        update: Document,
        which: Matches,
        upsert: bool,
    },
    Delete {
        filter: Document,
        which: Matches,
    },
}

impl MongoStore {
    /// Runs `writes` in one session transaction: all or none.
    pub async fn transact(
        &self,
        writes: Vec<Write>,
        budget: QueryBudget,
    ) -> Result<Vec<WriteResult>, TransactionError> {
        let limit = self.time_limit(budget)?;
        let prepared = writes
            .into_iter()
            .enumerate()
            .map(|(index, write)| self.prepare(write).map_err(TransactionError::at(index)))
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.client.clone();
        self.bounded(limit, async move {
            let mut session = client.start_session().await.map_err(driver_error)?;
            session
                .start_transaction()
                .and_run(&prepared, |session, prepared| {
                    run_all(prepared, session).boxed()
                })
                .await
                .map_err(transaction_error)
        })
        .await
    }

    fn prepare(&self, write: Write) -> DbResult<Prepared> {
        let action = match write.action {
            WriteAction::Insert(mut doc) => {
                let id = prepare(&mut doc)?;
                encode(&doc, self.limits.max_document_bytes)?;
                PreparedAction::Insert(to_document(&doc)?, id)
            }
            WriteAction::Update {
                filter,
                update,
                which,
                upsert,
            } => {
                let mut update = to_document(&update)?;
                let upsert = upsert == Upsert::Yes;
                if upsert && filter.get("_id").is_none() {
                    give_upsert_an_id(&mut update);
                }
                PreparedAction::Update {
                    filter: to_document(&filter)?,
                    update,
                    which,
                    upsert,
                }
            }
            WriteAction::Delete { filter, which } => PreparedAction::Delete {
                filter: to_document(&filter)?,
                which,
            },
        };
        Ok(Prepared {
            collection: self.collection(&write.collection),
            action,
            expect_matched: write.expect_matched,
        })
    }
}

/// Runs every write in the session's transaction. A failure that is not
/// transient, and an expectation that does not hold, end it as a custom
/// error carrying the write's position (the driver then aborts).
async fn run_all(
    writes: &[Prepared],
    session: &mut ClientSession,
) -> mongodb::error::Result<Vec<WriteResult>> {
    let mut results = Vec::with_capacity(writes.len());
    for (index, write) in writes.iter().enumerate() {
        let result = run_one(write, session).await.map_err(|err| {
            if err.contains_label(TRANSIENT_TRANSACTION_ERROR) {
                err
            } else {
                Error::custom(write_failure(index, err))
            }
        })?;
        check_expectation(index, write.expect_matched, result.matched).map_err(Error::custom)?;
        results.push(result);
    }
    Ok(results)
}

async fn run_one(
    write: &Prepared,
    session: &mut ClientSession,
) -> mongodb::error::Result<WriteResult> {
    let collection = &write.collection;
    Ok(match &write.action {
        PreparedAction::Insert(doc, id) => {
            collection.insert_one(doc).session(session).await?;
            WriteResult {
                matched: 1,
                modified: 1,
                id: Some(id.clone()),
            }
        }
        PreparedAction::Update {
            filter,
            update,
            which,
            upsert,
        } => {
            let call = match which {
                Matches::All => collection.update_many(filter.clone(), update.clone()),
                Matches::First => collection.update_one(filter.clone(), update.clone()),
            };
            let done = call.upsert(*upsert).session(session).await?;
            WriteResult {
                matched: done.matched_count,
                modified: done.modified_count,
                id: done.upserted_id.map(Bson::into_relaxed_extjson),
            }
        }
        PreparedAction::Delete { filter, which } => {
            let call = match which {
                Matches::All => collection.delete_many(filter.clone()),
                Matches::First => collection.delete_one(filter.clone()),
            };
            let deleted = call.session(session).await?.deleted_count;
            WriteResult {
                matched: deleted,
                modified: deleted,
                id: None,
            }
        }
    })
}

/// Why the write at `index` failed. A standalone server refuses
/// transactions at the first write: that is the transaction's failure, not
/// the write's.
fn write_failure(index: usize, err: Error) -> TransactionError {
    if refuses_transactions(&err) {
        return TransactionError::whole(standalone(err));
    }
    TransactionError::at(index)(driver_error(err))
}

/// The driver's error as a transaction failure: ours when a write or an
/// expectation ended it, otherwise the transaction's (starting or
/// committing it failed).
fn transaction_error(err: Error) -> TransactionError {
    if let Some(ours) = err.get_custom::<TransactionError>() {
        return ours.clone();
    }
    if refuses_transactions(&err) {
        return TransactionError::whole(standalone(err));
    }
    TransactionError::whole(driver_error(err))
}

/// Whether the server said it cannot run transactions at all.
fn refuses_transactions(err: &Error) -> bool {
    matches!(err.kind.as_ref(), ErrorKind::Command(e) if e.code == ILLEGAL_OPERATION)
}

fn standalone(err: Error) -> DbError {
    DbError::Backend(format!(
        "MongoDB cannot run this transaction: transactions need a replica set or a sharded cluster, and this server looks standalone (a one-member replica set will do; see the README's \"Transactions\"): {err}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a standalone server answers to the first write of a
    /// transaction: code 20, IllegalOperation.
    fn refusal(code: i32) -> Error {
        let answer = mongodb::bson::doc! {
            "code": code,
            "codeName": "IllegalOperation",
            "errmsg": "Transaction numbers are only allowed on a replica set member or mongos",
        };
        let command: mongodb::error::CommandError = mongodb::bson::from_document(answer).unwrap();
        Error::from(ErrorKind::Command(command))
    }

    #[test]
    fn a_standalone_servers_refusal_is_the_transactions_and_says_why() {
        let failure = write_failure(0, refusal(ILLEGAL_OPERATION));
        assert_eq!(failure.index, None);
        assert!(
            matches!(&failure.error, DbError::Backend(m) if m.contains("replica set")),
            "{failure:?}"
        );
        let other = write_failure(3, refusal(2));
        assert_eq!(other.index, Some(3), "another refusal is the write's");
    }

    #[test]
    fn a_failure_a_write_reported_keeps_its_index() {
        let ours = TransactionError::at(2)(DbError::ExpectationFailed("x".into()));
        assert_eq!(transaction_error(Error::custom(ours.clone())), ours);
    }
}
