//! The looping requests: each is sent again as soon as it ends (on the
//! sandbox's time limit, if the host has one), so they last the whole phase.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::http::get_once;
use super::outcomes::{Outcome, SharedOutcomes};

/// How long the client waits for one looping request: far past any sandbox
/// time limit the benchmark sets, so an answer that never comes shows.
const LOOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The pause after a failed connection, so a server that refuses them does
/// not turn the loop into a busy one on the client.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Sends `GET path` again and again, recording each end into `outcomes`,
/// until the task is dropped.
pub async fn keep_looping(addr: SocketAddr, path: Arc<str>, outcomes: SharedOutcomes) {
    loop {
        let result = Outcome::of(LOOP_TIMEOUT, get_once(addr, &path)).await;
        outcomes
            .lock()
            .expect("no recording task panics")
            .record(result);
        if !matches!(result.0, Outcome::Status(_)) {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}
