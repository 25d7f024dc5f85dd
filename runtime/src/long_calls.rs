//! Long-running guest calls take turns on all but one of the worker
//! threads, so short requests always find a worker free.
//!
//! Every guest yields its thread at each epoch tick. That alone shares the
//! workers evenly among runnable calls: with four looping guests on two
//! workers, a short request still waits behind a millisecond slice of two
//! of them. So a call that has used [`LONG_CALL_CPU`] of CPU time runs on a
//! *seat*: there are as many seats as workers less one (at least one), a
//! long call holds one only while it runs, and at each tick it gives its
//! seat up and queues (first come, first served) for the next free one.
//! Waiting for a seat is not CPU time, and the request's deadline still
//! stops the call.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The CPU time after which a call counts as long-running: far more than a
/// request's usual share, so ordinary requests never wait for a seat.
pub const LONG_CALL_CPU: Duration = Duration::from_millis(10);

/// Whether a call that has used `cpu_used` of CPU time is long-running.
pub fn is_long(cpu_used: Duration) -> bool {
    cpu_used >= LONG_CALL_CPU
}

/// The host's seats for long-running calls.
#[derive(Clone)]
pub struct LongCallLane {
    seats: Arc<Semaphore>,
}

impl LongCallLane {
    /// Seats for a runtime of `workers` worker threads: one fewer, and at
    /// least one.
    pub fn for_workers(workers: usize) -> Self {
        Self {
            seats: Arc::new(Semaphore::new(workers.saturating_sub(1).max(1))),
        }
    }

    /// A long call's turn at an epoch tick: it gives up its seat, lets
    /// every runnable task go first, then waits for a free seat.
    pub fn next_turn(&self, seat: &Seat) -> impl Future<Output = ()> + Send + 'static {
        let seats = self.seats.clone();
        let seat = seat.clone();
        async move {
            seat.give_up();
            tokio::task::yield_now().await;
            // The semaphore is never closed.
            if let Ok(permit) = seats.acquire_owned().await {
                seat.take(permit);
            }
        }
    }
}

/// The seat one call holds, if any.
#[derive(Clone, Default)]
pub struct Seat {
    permit: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl Seat {
    fn slot(&self) -> MutexGuard<'_, Option<OwnedSemaphorePermit>> {
        // Only an assignment happens under the lock.
        self.permit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take(&self, permit: OwnedSemaphorePermit) {
        *self.slot() = Some(permit);
    }

    fn give_up(&self) {
        self.slot().take();
    }

    /// Runs `future`, giving the seat up whenever it stops running (it
    /// waits on the host, or yields): a call holds a seat only while it
    /// runs, so a long call waiting on another module (which may need a
    /// seat of its own) or on the database never keeps one.
    pub async fn held_while_running<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        std::future::poll_fn(|cx| {
            let poll = future.as_mut().poll(cx);
            if poll.is_pending() {
                self.give_up();
            }
            poll
        })
        .await
    }

    /// Whether a seat is held.
    #[cfg(test)]
    fn is_held(&self) -> bool {
        self.slot().is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;

    use super::*;

    #[test]
    fn a_call_is_long_from_10_ms_of_cpu_time() {
        assert!(!is_long(Duration::from_micros(9_999)));
        assert!(is_long(Duration::from_millis(10)));
    }

    #[test]
    fn there_is_one_seat_fewer_than_workers_and_at_least_one() {
        assert_eq!(LongCallLane::for_workers(1).seats.available_permits(), 1);
        assert_eq!(LongCallLane::for_workers(2).seats.available_permits(), 1);
        assert_eq!(LongCallLane::for_workers(8).seats.available_permits(), 7);
    }

    #[tokio::test]
    async fn long_calls_get_the_seat_first_come_first_served() {
        let lane = LongCallLane::for_workers(2);
        let holder = Seat::default();
        lane.next_turn(&holder).await;
        let (order, mut served) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for n in 0..4 {
            let (lane, order) = (lane.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let seat = Seat::default();
                lane.next_turn(&seat).await;
                order.send(n).unwrap();
                // Stops running: the seat goes to the next in line.
                seat.held_while_running(tokio::task::yield_now()).await;
            }));
            // On this one-thread runtime, a few turns let it queue up.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        }
        holder.held_while_running(tokio::task::yield_now()).await;
        for waiter in waiters {
            waiter.await.unwrap();
        }
        drop(order);
        let mut seen = Vec::new();
        while let Some(n) = served.recv().await {
            seen.push(n);
        }
        assert_eq!(seen, [0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn a_long_call_waits_for_the_seat_another_holds_and_gets_it_when_given_up() {
        let lane = LongCallLane::for_workers(2);
        let (first, second) = (Seat::default(), Seat::default());
        lane.next_turn(&first).await;
        assert!(first.is_held());
        let mut waiting = tokio::spawn(lane.next_turn(&second));
        let still_waiting = tokio::time::timeout(Duration::from_millis(50), &mut waiting).await;
        assert!(still_waiting.is_err(), "both took the only seat");
        // The holder stops running: its seat goes to the one waiting.
        first
            .held_while_running(std::future::poll_fn(|_| Poll::Ready(())))
            .await;
        assert!(first.is_held(), "a call that ran to the end keeps it");
        first.held_while_running(tokio::task::yield_now()).await;
        assert!(!first.is_held());
        waiting.await.unwrap();
        assert!(second.is_held());
    }
}
