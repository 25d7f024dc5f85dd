//! What one guest call may spend: the request's wall-clock deadline, shared
//! by every call the request causes, and the call's own guest CPU time,
//! counted only while the guest's future is being polled, so a call that
//! waits behind others (or on the database) is not the one cut off.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

/// Which budget stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// The request's deadline passed.
    Deadline,
    /// The call used its CPU time.
    Cpu,
}

/// The budget of one call.
#[derive(Debug, Clone)]
pub struct CallBudget {
    /// When the request's time is up, for this call and every call it makes.
    pub deadline: Instant,
    /// Guest CPU time this call may use.
    pub cpu_limit: Duration,
    meter: Arc<CpuMeter>,
}

impl CallBudget {
    /// A budget ending at `deadline` with `cpu_limit` of CPU time.
    pub fn new(deadline: Instant, cpu_limit: Duration) -> Self {
        Self {
            deadline,
            cpu_limit,
            meter: Arc::new(CpuMeter::new()),
        }
    }

    /// The guest CPU time used so far.
    pub fn cpu_used(&self) -> Duration {
        self.meter.used()
    }

    /// The guest CPU time this call may still use.
    pub fn cpu_left(&self) -> Duration {
        self.cpu_limit.saturating_sub(self.meter.used())
    }

    /// Counts `spent` (a module call's CPU time, which ran outside this
    /// call's polls) as this call's own.
    pub fn charge(&self, spent: Duration) {
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.meter.used_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Which budget is spent, if any.
    pub fn exhausted(&self) -> Option<Exhausted> {
        if Instant::now() >= self.deadline {
            Some(Exhausted::Deadline)
        } else if self.meter.used() >= self.cpu_limit {
            Some(Exhausted::Cpu)
        } else {
            None
        }
    }

    /// Runs `future`, counting the time spent polling it as this call's CPU
    /// time (the guest runs on its fiber inside those polls).
    pub async fn metered<F: Future>(&self, future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let meter = &self.meter;
        std::future::poll_fn(|cx| {
            meter.begin_slice();
            let poll: Poll<F::Output> = future.as_mut().poll(cx);
            meter.end_slice();
            poll
        })
        .await
    }
}

/// CPU time of one call: whole slices added up, plus the slice that is
/// running now. Atomics because the epoch callback reads it from inside the
/// poll that the meter wraps.
#[derive(Debug)]
struct CpuMeter {
    origin: Instant,
    used_nanos: AtomicU64,
    /// Nanoseconds since `origin` when the running slice began; `IDLE` when
    /// no slice runs.
    slice_start: AtomicU64,
}

const IDLE: u64 = u64::MAX;

impl CpuMeter {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            used_nanos: AtomicU64::new(0),
            slice_start: AtomicU64::new(IDLE),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(IDLE - 1)
    }

    fn begin_slice(&self) {
        self.slice_start.store(self.now(), Ordering::Relaxed);
    }

    fn end_slice(&self) {
        let start = self.slice_start.swap(IDLE, Ordering::Relaxed);
        if start != IDLE {
            let slice = self.now().saturating_sub(start);
            self.used_nanos.fetch_add(slice, Ordering::Relaxed);
        }
    }

    fn used(&self) -> Duration {
        let start = self.slice_start.load(Ordering::Relaxed);
        let running = if start == IDLE {
            0
        } else {
            self.now().saturating_sub(start)
        };
        Duration::from_nanos(self.used_nanos.load(Ordering::Relaxed) + running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn time_spent_waiting_is_not_cpu_time() {
        let budget = CallBudget::new(
            Instant::now() + Duration::from_secs(10),
            Duration::from_millis(30),
        );
        budget
            .metered(tokio::time::sleep(Duration::from_millis(60)))
            .await;
        assert!(budget.meter.used() < Duration::from_millis(30));
        assert_eq!(budget.exhausted(), None);
    }

    #[tokio::test]
    async fn time_spent_running_is_cpu_time() {
        let budget = CallBudget::new(
            Instant::now() + Duration::from_secs(10),
            Duration::from_millis(30),
        );
        budget
            .metered(async { std::thread::sleep(Duration::from_millis(40)) })
            .await;
        assert!(budget.meter.used() >= Duration::from_millis(40));
        assert_eq!(budget.exhausted(), Some(Exhausted::Cpu));
    }

    #[test]
    fn a_module_calls_cpu_time_charged_to_its_caller_counts_against_it() {
        let budget = CallBudget::new(
            Instant::now() + Duration::from_secs(10),
            Duration::from_millis(30),
        );
        budget.charge(Duration::from_millis(20));
        assert!(budget.cpu_left() <= Duration::from_millis(10));
        assert_eq!(budget.exhausted(), None);
        budget.charge(Duration::from_millis(10));
        assert_eq!(budget.cpu_left(), Duration::ZERO);
        assert_eq!(budget.exhausted(), Some(Exhausted::Cpu));
    }

    #[test]
    fn a_past_deadline_is_exhausted_first() {
        let budget = CallBudget::new(Instant::now(), Duration::ZERO);
        assert_eq!(budget.exhausted(), Some(Exhausted::Deadline));
    }
}
