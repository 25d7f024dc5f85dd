//! Group commit: one writer thread takes the writes that are waiting, runs
//! each in a transaction of its own and makes the lot durable with one sync
//! to disk, then answers their callers. Concurrent writers share one fsync
//! instead of waiting for one each.
//!
//! Each write but the batch's last commits with redb's
//! [`Durability::None`] (kept in memory, on disk only with a later durable
//! commit); the last commits durably, which makes every earlier one durable
//! too, or, when the last did not commit, an empty durable commit follows.
//! A caller hears of its write only after that: acknowledged means durable.
//! A write that fails rolls back its own transaction alone, so one caller's
//! duplicate key or failed expectation never undoes another's write; a
//! multi-write transaction is one write here. A write whose caller has gone
//! (its request timed out) while it waited is dropped unapplied. A batch
//! holds at most [`MAX_BATCH_WRITES`] writes and starts applying them for at
//! most [`MAX_BATCH_TIME`]; those it has no time left for go first into the
//! next batch. So an applied write waits for its sync behind at most that
//! time plus one write (itself bounded by the writer's hold limit).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{Database, Durability};
use tokio::sync::{mpsc, oneshot};

use super::storage_error;
use super::writer::{Writer, write};
use crate::error::DbError;
use crate::scope::Namespace;

/// The most writes one batch applies before its sync.
pub const MAX_BATCH_WRITES: usize = 64;

/// How long a batch starts applying writes before it syncs.
pub const MAX_BATCH_TIME: Duration = Duration::from_millis(20);

/// How many writes may wait for the writer; more wait to be queued.
const QUEUE_LENGTH: usize = 1024;

/// The store's writer thread and the queue into it. Dropping it lets the
/// thread finish the writes queued and waits for it, so the database is
/// closed once the last handle on the store is gone.
pub struct GroupCommit {
    queue: Option<mpsc::Sender<Box<dyn Queued>>>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the writer thread of `db`.
    pub fn start(db: Arc<Database>) -> Result<GroupCommit, String> {
        let (queue, waiting) = mpsc::channel(QUEUE_LENGTH);
        let thread = std::thread::Builder::new()
            .name("docstore-writer".into())
            .spawn(move || run_batches(&db, waiting))
            .map_err(|err| format!("cannot start the database writer: {err}"))?;
        Ok(GroupCommit {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Runs `body` in a write transaction on `namespace`'s scope, in the
    /// next batch; answers once the write is durable, or with why not.
    pub async fn write<T, E>(
        &self,
        namespace: Namespace,
        body: impl FnOnce(&mut Writer) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: AsRef<DbError> + From<DbError> + Send + 'static,
    {
        let gone = || E::from(storage_error("the database writer has stopped"));
        let queue = self.queue.as_ref().ok_or_else(gone)?;
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            namespace,
            body: Some(body),
            outcome: None,
            reply,
        };
        queue.send(Box::new(pending)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // A writer that panicked has already answered its callers.
            thread.join().ok();
        }
    }
}

/// A write waiting in the queue, with the caller to answer.
trait Queued: Send {
    /// Whether the caller stopped waiting for the answer.
    fn abandoned(&self) -> bool;
    /// Runs the write in a transaction of its own, committed with
    /// `durability`; says whether it committed.
    fn apply(&mut self, db: &Database, durability: Durability) -> bool;
    /// Answers the caller once the batch's sync is done (`synced`).
    fn answer(self: Box<Self>, synced: Result<(), DbError>);
}

/// A write and its caller.
struct Pending<T, E, F> {
    namespace: Namespace,
    body: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Queued for Pending<T, E, F>
where
    T: Send,
    E: AsRef<DbError> + From<DbError> + Send,
    F: FnOnce(&mut Writer) -> Result<T, E> + Send,
{
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn apply(&mut self, db: &Database, durability: Durability) -> bool {
        let Some(body) = self.body.take() else {
            return false;
        };
        let namespace = &self.namespace;
        let outcome = catch_unwind(AssertUnwindSafe(|| write(db, namespace, durability, body)))
            .unwrap_or_else(|_| Err(E::from(storage_error("a write panicked; rolled back"))));
        if let Err(err) = &outcome {
            super::log_stopped(&namespace.key(), err.as_ref());
        }
        let committed = outcome.is_ok();
        self.outcome = Some(outcome);
        committed
    }

    fn answer(self: Box<Self>, synced: Result<(), DbError>) {
        let outcome = match (self.outcome, synced) {
            (Some(Ok(_)), Err(err)) => Err(E::from(err)),
            (Some(outcome), _) => outcome,
            // Never applied: its caller is gone.
            (None, _) => return,
        };
        // The caller may have gone meanwhile; the write stands.
        self.reply.send(outcome).ok();
    }
}

/// The writer thread: batch after batch until every handle is dropped.
fn run_batches(db: &Database, mut waiting: mpsc::Receiver<Box<dyn Queued>>) {
    // Writes a batch took in but left for the next, when its time ran out.
    let mut carried: VecDeque<Box<dyn Queued>> = VecDeque::new();
    loop {
        let first = match carried.pop_front() {
            Some(write) => write,
            None => match waiting.blocking_recv() {
                Some(write) => write,
                None => return,
            },
        };
        let started = Instant::now();
        let mut batch = vec![first];
        let mut unsynced = false;
        let mut index = 0;
        while index < batch.len() {
            if started.elapsed() >= MAX_BATCH_TIME && index > 0 {
                // Those not applied yet go first into the next batch.
                let rest: Vec<_> = batch.drain(index..).collect();
                for write in rest.into_iter().rev() {
                    carried.push_front(write);
                }
                break;
            }
            while batch.len() < MAX_BATCH_WRITES {
                match carried.pop_front().or_else(|| waiting.try_recv().ok()) {
                    Some(next) => batch.push(next),
                    None => break,
                }
            }
            let last = index + 1 == batch.len();
            let write = &mut batch[index];
            index += 1;
            if write.abandoned() {
                continue;
            }
            if last {
                // Durable, and with it every write of the batch before it.
                unsynced &= !write.apply(db, Durability::Immediate);
            } else {
                unsynced |= write.apply(db, Durability::None);
            }
        }
        let synced = if unsynced { sync(db) } else { Ok(()) };
        for write in batch {
            write.answer(synced.clone());
        }
    }
}

/// An empty durable commit: the batch's writes so far reach the disk.
fn sync(db: &Database) -> Result<(), DbError> {
    catch_unwind(AssertUnwindSafe(|| {
        let txn = db.begin_write().map_err(storage_error)?;
        txn.commit().map_err(storage_error)
    }))
    .unwrap_or_else(|_| Err(storage_error("the sync to disk panicked")))
}
