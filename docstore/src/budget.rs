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
    max_examined: u64,
    examined: u64,
    steps: u64,
}

impl Work {
    /// Nothing done yet.
    pub(crate) fn new(budget: QueryBudget, limits: &Limits) -> Work {
        Work {
            deadline: budget.deadline,
            max_examined: limits.max_examined_documents,
            examined: 0,
            steps: 0,
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
        match self.deadline {
            Some(deadline) if look && Instant::now() >= deadline => Err(DbError::Timeout(format!(
                "the call ran past the request's deadline after examining {} documents",
                self.examined
            ))),
            _ => Ok(()),
        }
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
