//! Half-open sockets: each connects (trying again until it gets through),
//! sends part of a request (half of them an unfinished request line, half
//! unfinished headers) and never the rest, then waits for the server to
//! close it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one attempt to connect and send may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pause between a failed attempt and the next.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The two unfinished requests the sockets send.
const PARTIAL_REQUESTS: [&[u8]; 2] = [
    b"GET /my-module/info HT",
    b"GET /my-module/info HTTP/1.1\r\nhost: modhost\r\nx-slow: ",
];

/// What became of the half-open sockets.
#[derive(Default)]
pub struct HalfOpen {
    /// Sockets that connected and sent their part.
    pub opened: u64,
    /// Attempts to connect and send that failed or timed out (and were
    /// tried again).
    pub failed_attempts: u64,
    /// When the server closed each one it closed, since the phase started.
    pub closed_at: Vec<Duration>,
}

/// [`HalfOpen`] recorded by concurrent tasks.
pub type SharedHalfOpen = Arc<Mutex<HalfOpen>>;

/// Opens half-open socket number `index` and holds it until the server
/// closes it, recording that against `started`, or until the task is dropped.
pub async fn hold(addr: SocketAddr, index: usize, started: Instant, record: SharedHalfOpen) {
    let partial = PARTIAL_REQUESTS[index % PARTIAL_REQUESTS.len()];
    let mut stream = loop {
        match tokio::time::timeout(CONNECT_TIMEOUT, open(addr, partial)).await {
            Ok(Ok(stream)) => break stream,
            _ => {
                record
                    .lock()
                    .expect("no recording task panics")
                    .failed_attempts += 1
            }
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    };
    record.lock().expect("no recording task panics").opened += 1;
    // Whatever the server sends (a 408, say) is read and dropped; the end
    // of the stream or a reset is the server closing the socket.
    let mut buffer = [0u8; 512];
    while matches!(stream.read(&mut buffer).await, Ok(1..)) {}
    let closed_at = started.elapsed();
    record
        .lock()
        .expect("no recording task panics")
        .closed_at
        .push(closed_at);
}

/// A connection to `addr` that has sent `partial`.
async fn open(addr: SocketAddr, partial: &[u8]) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(partial).await?;
    Ok(stream)
}
