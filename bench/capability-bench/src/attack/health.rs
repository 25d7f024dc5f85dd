//! The `/health` prober: a GET on a fresh connection at a fixed interval,
//! each on a task of its own so a slow answer delays no later probe.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinSet;

use super::http::get_once;
use super::outcomes::{Outcome, Outcomes, SharedOutcomes, take};

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Probes `GET /health` on `addr` every `every` while `work` runs, then waits
/// for the probes still in flight (each ends within [`PROBE_TIMEOUT`]).
/// Returns what `work` returned and how the probes went.
pub async fn probe_while<T>(
    addr: SocketAddr,
    every: Duration,
    work: impl Future<Output = T>,
) -> (T, Outcomes) {
    let outcomes = SharedOutcomes::default();
    let mut probes = JoinSet::new();
    let mut ticks = tokio::time::interval(every);
    let mut work = std::pin::pin!(work);
    let value = loop {
        tokio::select! {
            value = &mut work => break value,
            _ = ticks.tick() => {
                let outcomes = outcomes.clone();
                probes.spawn(async move {
                    let result = Outcome::of(PROBE_TIMEOUT, get_once(addr, "/health")).await;
                    outcomes.lock().expect("no recording task panics").record(result);
                });
            }
        }
    };
    probes.join_all().await;
    (value, take(&outcomes))
}
