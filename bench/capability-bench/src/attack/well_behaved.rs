//! The well-behaved module's workload, the same in both phases: a fixed
//! number of GETs from a few keep-alive clients, each paced to its share of
//! the rate, every request timed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::http::Client;
use super::outcomes::{Outcomes, SharedOutcomes, take};

/// How long one well-behaved request may take, connect included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// `requests` GETs of `path` from `clients` connections at `rate` per second
/// in all (back to back when the rate is 0).
#[derive(Clone)]
pub struct Workload {
    /// Where modhost listens.
    pub addr: SocketAddr,
    /// The route.
    pub path: Arc<str>,
    /// How many requests.
    pub requests: u64,
    /// How many concurrent keep-alive clients.
    pub clients: u64,
    /// Requests per second over all clients; 0 for no pacing.
    pub rate: f64,
}

impl Workload {
    /// Sends the requests; those not started by `deadline` count as unsent.
    pub async fn run(self, deadline: Instant) -> Outcomes {
        let claimed = Arc::new(AtomicU64::new(0));
        let outcomes = SharedOutcomes::default();
        let mut clients = JoinSet::new();
        for _ in 0..self.clients {
            let client = self
                .clone()
                .client(claimed.clone(), outcomes.clone(), deadline);
            clients.spawn(client);
        }
        clients.join_all().await;
        let mut outcomes = take(&outcomes);
        outcomes.add_unsent(self.requests - outcomes.total());
        outcomes
    }

    /// One client: takes the next request number until all are taken or
    /// the deadline has passed.
    async fn client(self, claimed: Arc<AtomicU64>, outcomes: SharedOutcomes, deadline: Instant) {
        let mut pace = (self.rate > 0.0).then(|| {
            let mut ticks =
                tokio::time::interval(Duration::from_secs_f64(self.clients as f64 / self.rate));
            // A slow response delays the next request rather than bunching them.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks
        });
        let mut client = Client::new(self.addr);
        loop {
            if let Some(ticks) = &mut pace {
                ticks.tick().await;
            }
            if Instant::now() >= deadline
                || claimed.fetch_add(1, Ordering::Relaxed) >= self.requests
            {
                return;
            }
            let result = client.get(&self.path, REQUEST_TIMEOUT).await;
            outcomes
                .lock()
                .expect("no recording task panics")
                .record(result);
        }
    }
}
