//! The flood: many requests to one module, over connections all opened at
//! once, each sending its share of the requests back to back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::http::Client;
use super::outcomes::SharedOutcomes;

/// How long one flood request may take, connect included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends `requests` GETs of `path` over `connections` connections, records
/// each into `outcomes`, and returns once all have ended.
pub async fn flood(
    addr: SocketAddr,
    path: Arc<str>,
    requests: u64,
    connections: u64,
    outcomes: SharedOutcomes,
) {
    let mut senders = JoinSet::new();
    for index in 0..connections {
        let share = requests / connections + u64::from(index < requests % connections);
        let (path, outcomes) = (path.clone(), outcomes.clone());
        senders.spawn(async move {
            let mut client = Client::new(addr);
            for _ in 0..share {
                let result = client.get(&path, REQUEST_TIMEOUT).await;
                outcomes
                    .lock()
                    .expect("no recording task panics")
                    .record(result);
            }
        });
    }
    senders.join_all().await;
}
