//! How many calls of one module run at once, and how many requests may
//! wait for a slot. wasmtime's pool has only engine-wide totals, so each
//! module's share is a semaphore of its own here; the pool is sized so that
//! every slot handed out has an instance behind it (capacity.rs).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A slot to run one call; the slot frees when this is dropped.
pub type Slot = OwnedSemaphorePermit;

/// Why a request got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every slot is taken and the queue is full.
    QueueFull,
    /// The request waited in the queue until its deadline.
    WaitedTooLong,
}

/// One module's slots and queue.
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    max_concurrency: usize,
    waiting: AtomicU32,
    max_queue: u32,
}

impl Admission {
    /// How many slots it has.
    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    /// Whether it has `max_concurrency` slots and room for `max_queue`.
    pub fn has_shape(&self, max_concurrency: u32, max_queue: u32) -> bool {
        self.max_concurrency == max_concurrency as usize && self.max_queue == max_queue
    }

    /// `max_concurrency` slots and room for `max_queue` waiting requests.
    pub fn new(max_concurrency: u32, max_queue: u32) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrency as usize)),
            max_concurrency: max_concurrency as usize,
            waiting: AtomicU32::new(0),
            max_queue,
        }
    }

    /// How many slots there are.
    pub fn slots(&self) -> usize {
        self.max_concurrency
    }

    /// How many slots are taken.
    pub fn in_use(&self) -> usize {
        self.max_concurrency
            .saturating_sub(self.slots.available_permits())
    }

    /// A slot now, if one is free. Module calls use this: a caller holds a
    /// slot of its own while it waits, so queueing could deadlock a chain.
    pub fn try_enter(&self) -> Option<Slot> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// A slot now, or after waiting in the queue (first come, first served)
    /// until `deadline`; refused at once when the queue is full.
    pub async fn enter(&self, deadline: Instant) -> Result<Slot, Refused> {
        if let Some(slot) = self.try_enter() {
            return Ok(slot);
        }
        let joined = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                (waiting < self.max_queue).then_some(waiting + 1)
            });
        if joined.is_err() {
            return Err(Refused::QueueFull);
        }
        // Leaves the queue however the wait ends, the client hanging up
        // (this future dropped) included.
        let _place = QueuePlace(&self.waiting);
        let acquire = self.slots.clone().acquire_owned();
        match tokio::time::timeout_at(deadline.into(), acquire).await {
            Ok(Ok(slot)) => Ok(slot),
            // The semaphore is never closed; treat it as no slot all the same.
            Ok(Err(_)) | Err(_) => Err(Refused::WaitedTooLong),
        }
    }
}

/// A request's place in the queue, given up on drop.
struct QueuePlace<'a>(&'a AtomicU32);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn beyond_the_slots_requests_queue_and_beyond_the_queue_are_refused() {
        let admission = Arc::new(Admission::new(1, 1));
        let held = admission.try_enter().unwrap();
        assert!(admission.try_enter().is_none());
        let far = Instant::now() + Duration::from_secs(10);
        let queued = tokio::spawn({
            let admission = admission.clone();
            async move { admission.enter(far).await.map(drop) }
        });
        while admission.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(admission.enter(far).await.unwrap_err(), Refused::QueueFull);
        drop(held);
        assert_eq!(queued.await.unwrap(), Ok(()));
        assert_eq!(admission.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn the_queue_is_first_come_first_served() {
        let admission = Arc::new(Admission::new(1, 8));
        let held = admission.try_enter().unwrap();
        let far = Instant::now() + Duration::from_secs(10);
        let (order, served) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for n in 0..4u32 {
            let (queued, order) = (admission.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let slot = queued.enter(far).await.unwrap();
                order.send(n).unwrap();
                drop(slot);
            }));
            // Each joins the queue before the next arrives.
            while admission.waiting.load(Ordering::Acquire) <= n {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        drop(order);
        let mut served = served;
        let mut seen = Vec::new();
        while let Some(n) = served.recv().await {
            seen.push(n);
        }
        assert_eq!(seen, [0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn a_queued_request_gives_up_at_its_deadline() {
        let admission = Admission::new(1, 4);
        let _held = admission.try_enter().unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            admission.enter(soon).await.unwrap_err(),
            Refused::WaitedTooLong
        );
        assert_eq!(admission.waiting.load(Ordering::Acquire), 0);
    }
}
