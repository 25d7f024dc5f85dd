//! How requests ended and how long they took, tallied per kind of request.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// A whole response with this status arrived.
    Status(u16),
    /// No whole response within the client's time limit.
    Timeout,
    /// The connection failed: refused, reset, or closed mid-response.
    Error(std::io::ErrorKind),
    /// Never sent: the phase's time limit came first.
    Unsent,
}

impl Outcome {
    /// Whether the request got a 200.
    pub fn is_ok(self) -> bool {
        self == Outcome::Status(200)
    }

    /// Runs `request` for at most `limit`; returns how it ended and when.
    pub async fn of(
        limit: Duration,
        request: impl Future<Output = std::io::Result<u16>>,
    ) -> (Outcome, Duration) {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(limit, request).await {
            Ok(Ok(status)) => Outcome::Status(status),
            Ok(Err(err)) => Outcome::Error(err.kind()),
            Err(_) => Outcome::Timeout,
        };
        (outcome, started.elapsed())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Status(status) => write!(f, "{status}"),
            Outcome::Timeout => write!(f, "timeout"),
            Outcome::Error(kind) => write!(f, "{kind:?}"),
            Outcome::Unsent => write!(f, "unsent"),
        }
    }
}

/// Every request of one kind: how many ended each way, and the time each
/// one took (a failed one until it failed; unsent ones have none).
#[derive(Default)]
pub struct Outcomes {
    counts: BTreeMap<Outcome, u64>,
    latencies: Vec<Duration>,
}

/// [`Outcomes`] recorded by concurrent tasks.
pub type SharedOutcomes = Arc<Mutex<Outcomes>>;

impl Outcomes {
    /// Counts one request that ended as `outcome` after `elapsed`.
    pub fn record(&mut self, (outcome, elapsed): (Outcome, Duration)) {
        *self.counts.entry(outcome).or_default() += 1;
        self.latencies.push(elapsed);
    }

    /// Counts `count` requests that were never sent.
    pub fn add_unsent(&mut self, count: u64) {
        if count > 0 {
            *self.counts.entry(Outcome::Unsent).or_default() += count;
        }
    }

    /// Requests counted, sent or not.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Requests that did not get a 200.
    pub fn failures(&self) -> u64 {
        self.total() - self.counts.get(&Outcome::Status(200)).unwrap_or(&0)
    }

    /// The `fraction` quantile of the times taken (nearest rank), if any
    /// request was sent.
    pub fn quantile(&self, fraction: f64) -> Option<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = (fraction * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.saturating_sub(1)).copied()
    }

    /// The longest time a request took.
    pub fn max(&self) -> Option<Duration> {
        self.latencies.iter().max().copied()
    }

    /// How requests ended, most common kinds first: `200: 1990, timeout: 10`.
    pub fn summary(&self) -> String {
        if self.counts.is_empty() {
            return "none".into();
        }
        let mut counts: Vec<_> = self.counts.iter().collect();
        counts.sort_by(|a, b| b.1.cmp(a.1));
        counts
            .iter()
            .map(|(outcome, count)| format!("{outcome}: {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Takes what `shared` has recorded so far, leaving it empty.
pub fn take(shared: &SharedOutcomes) -> Outcomes {
    std::mem::take(&mut *shared.lock().expect("no recording task panics"))
}
