//! What one call may spend: the time left of the request that makes it,
//! the documents it reads and the bytes of documents it holds at once.
//! The store-wide numbers are in [`Limits`]; the deadline comes with each
//! call. Checked as the work is done, so a scan stops itself: a blocking
//! scan cannot be cancelled from outside.

use std::time::{Duration, Instant};

use crate::Limits;
use crate::error::{DbError, DbResult};

/// How often, in documents, a scan looks at the clock (about 20 ns a look).
const DEADLINE_EVERY: u64 = 32;

/// How long one call may hold the embedded store's single writer: every
/// module's writes wait behind it, so a long update or delete of many is
/// stopped (and rolled back) here rather than at its request's deadline.
pub(crate) const MAX_WRITE_HOLD: Duration = Duration::from_millis(1000);

/// The part of a request's budget one database call may use:
/// `QueryBudget { deadline: Some(request_deadline) }`, or
/// `QueryBudget::default()` for none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryBudget {
    /// When the request's time is up; the call fails with
    /// [`DbError::Timeout`] past it. `None` (the default): no deadline, only
    /// the store's [`Limits`] and, on MongoDB, its configured timeout.
    pub deadline: Option<Instant>,
}

impl QueryBudget {
    /// The time left before the deadline (zero once it has passed), or
    /// `None` without one.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }
}

/// The work of one embedded call: documents read against
/// `max_examined_documents`, and the clock against the deadline.
pub(crate) struct Work {
    deadline: Option<Instant>,
    /// For a write: when it has held the writer too long.
    write_until: Option<Instant>,
    max_examined: u64,
    examined: u64,
    steps: u64,
}

impl Work {
    /// Nothing done yet.
    pub(crate) fn new(budget: QueryBudget, limits: &Limits) -> Work {
        Work {
            deadline: budget.deadline,
            write_until: None,
            max_examined: limits.max_examined_documents,
            examined: 0,
            steps: 0,
        }
    }

    /// Nothing done yet by a write that holds the writer from now on, for
    /// at most [`MAX_WRITE_HOLD`].
    pub(crate) fn for_write(budget: QueryBudget, limits: &Limits) -> Work {
        Work::holding_the_writer(budget, limits, MAX_WRITE_HOLD)
    }

    fn holding_the_writer(budget: QueryBudget, limits: &Limits, hold: Duration) -> Work {
        Work {
            write_until: Some(Instant::now() + hold),
            ..Work::new(budget, limits)
        }
    }

    /// How many documents were read.
    pub(crate) fn examined(&self) -> u64 {
        self.examined
    }

    /// Counts one more document read; fails past the deadline or the most
    /// documents a call may read.
    pub(crate) fn examine(&mut self) -> DbResult<()> {
        self.step()?;
        if self.examined >= self.max_examined {
            return Err(DbError::QueryTooLarge(format!(
                "the call would read more than {} documents (max_examined_documents); use a filter on an indexed field, or a narrower one",
                self.max_examined
            )));
        }
        self.examined += 1;
        Ok(())
    }

    /// Counts one unit of work (a document read or written); the first and
    /// every 32nd look at the clock and fail past the deadline.
    pub(crate) fn step(&mut self) -> DbResult<()> {
        let look = self.steps.is_multiple_of(DEADLINE_EVERY);
        self.steps += 1;
        if !look {
            return Ok(());
        }
        let now = Instant::now();
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            return Err(DbError::Timeout(format!(
                "the call ran past the request's deadline after examining {} documents",
                self.examined
            )));
        }
        if self.write_until.is_some_and(|until| now >= until) {
            return Err(DbError::QueryTooLarge(format!(
                "the write held the database's writer for more than {} ms (after examining {} documents) and was rolled back; change documents in smaller batches",
                MAX_WRITE_HOLD.as_millis(),
                self.examined
            )));
        }
        Ok(())
    }
}

/// The bytes of documents one call holds in memory at once, against
/// `max_query_bytes`. A document counts as its stored size (JSON text on the
/// embedded store, BSON on MongoDB).
pub(crate) struct Held {
    max: usize,
    bytes: usize,
}

impl Held {
    /// Nothing held yet.
    pub(crate) fn new(limits: &Limits) -> Held {
        Held {
            max: limits.max_query_bytes,
            bytes: 0,
        }
    }

    /// Takes `bytes` more; fails when that is more than a call may hold.
    pub(crate) fn hold(&mut self, bytes: usize) -> DbResult<()> {
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > self.max {
            return Err(DbError::QueryTooLarge(format!(
                "the call would hold more than {} bytes of documents at once (max_query_bytes); add a limit, use a filter on an indexed field or a narrower one, or change documents in smaller batches",
                self.max
            )));
        }
        Ok(())
    }

    /// Gives back `bytes` taken before.
    pub(crate) fn release(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_document_bytes: 1 << 20,
        max_find_documents: 100,
        max_query_bytes: 1 << 20,
        max_examined_documents: 1_000,
    };

    #[test]
    fn a_write_that_holds_the_writer_too_long_is_stopped() {
        let mut write = Work::holding_the_writer(QueryBudget::default(), &LIMITS, Duration::ZERO);
        let err = write.step().unwrap_err();
        assert!(
            matches!(&err, DbError::QueryTooLarge(m) if m.contains("smaller batches")),
            "{err:?}"
        );
        let mut read = Work::new(QueryBudget::default(), &LIMITS);
        assert!(read.step().is_ok(), "a read has no writer to hold");
        // A write may hold the writer for the README's one second.
        assert_eq!(MAX_WRITE_HOLD, Duration::from_secs(1));
        let mut within = Work::for_write(QueryBudget::default(), &LIMITS);
        assert!(within.step().is_ok());
    }
}
