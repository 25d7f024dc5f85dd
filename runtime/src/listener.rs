//! Accepting connections within limits: at most `max_connections` open at
//! once (at the cap the server stops accepting, and the kernel's backlog
//! holds the rest, rather than spinning on errors), optionally a cap per
//! client address, and hyper with a timer, so a client that is slow to send
//! its headers, or a keep-alive connection left idle, is closed; so is one
//! that stops reading its response (a write that makes no progress for the
//! write timeout), which would otherwise hold the response forever.
//!
//! When told to stop, the listener closes (new connections are refused),
//! each connection finishes the request it is serving and closes, and
//! [`OpenConnections::closed`] tells when the last one has.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_io_timeout::TimeoutStream;

use crate::config::ServerConfig;
use crate::server::{Door, HttpService};

/// File descriptors kept free for the database, the cache, guests' files and
/// the log when the connection cap is fitted under the process's limit.
const RESERVED_DESCRIPTORS: u64 = 256;

/// How the server limits connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one address; 0 is no cap.
    pub max_per_client: usize,
    /// How long a client may take to send a request's headers, and how
    /// long an idle keep-alive connection stays open.
    pub header_timeout: Duration,
    /// How long a write to the client may make no progress.
    pub write_timeout: Duration,
}

impl ConnectionLimits {
    /// The limits of `server`, with the connection cap fitted under the
    /// process's file-descriptor limit (raised to its hard limit first).
    pub fn of(server: &ServerConfig) -> Self {
        let descriptors = raise_descriptor_limit();
        let fitting = descriptors.saturating_sub(RESERVED_DESCRIPTORS).max(1);
        let max_connections = if (server.max_connections as u64) > fitting {
            tracing::warn!(
                configured = server.max_connections,
                allowed = fitting,
                "server.max_connections is more than this process's file-descriptor limit allows; using {fitting} (raise `ulimit -n` to allow more)"
            );
            fitting as usize
        } else {
            server.max_connections
        };
        Self {
            max_connections,
            max_per_client: server.max_connections_per_client,
            header_timeout: Duration::from_millis(server.header_timeout_ms),
            write_timeout: Duration::from_millis(server.write_timeout_ms),
        }
    }
}

/// Listens on `addr` with room in the kernel's accept queue for a burst
/// of `max_connections` (capped by the kernel's `somaxconn`), rather than
/// tokio's default of 1024: a burst that overflows the queue costs each
/// dropped client a retry of a second or more.
pub fn bind(addr: SocketAddr, max_connections: usize) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(u32::try_from(max_connections).unwrap_or(u32::MAX).max(1024))
}

/// Serves `service` on `listener` as `door` until `stop` turns true; then
/// closes the listener, asks every connection to close after its current
/// request, and returns what tells when they have.
pub async fn serve(
    listener: TcpListener,
    service: Arc<HttpService>,
    door: Door,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) -> Result<OpenConnections> {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let clients = Arc::new(ClientCounts::default());
    let mut last_accept_warning: Option<Instant> = None;
    loop {
        // Waits here while the cap is reached: new clients queue in the
        // kernel's backlog instead of being accepted and dropped.
        let accepted = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = accept_within(&listener, &open) => accepted,
        };
        let (slot, stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of descriptors and the like passes once connections
                // close; warn at most once a second, not in a hot loop.
                if last_accept_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!("accept failed: {err}");
                    last_accept_warning = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(client) = clients.clone().enter(peer.ip(), limits.max_per_client) else {
            tracing::debug!(%peer, "connection refused: the client has too many open");
            continue;
        };
        let service = service.clone();
        let limits = limits.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, service, door, &limits, stop).await;
            drop((slot, client));
        });
    }
    drop(listener);
    Ok(OpenConnections {
        open,
        max: limits.max_connections,
    })
}

/// Waits until `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A connection's seat under the cap, then the connection.
async fn accept_within(
    listener: &TcpListener,
    open: &Arc<Semaphore>,
) -> std::io::Result<(tokio::sync::OwnedSemaphorePermit, TcpStream, SocketAddr)> {
    let slot = open
        .clone()
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed");
    let (stream, peer) = listener.accept().await?;
    Ok((slot, stream, peer))
}

/// The connections a stopped listener had open.
pub struct OpenConnections {
    open: Arc<Semaphore>,
    max: usize,
}

impl OpenConnections {
    /// Waits until every connection has closed.
    pub async fn closed(&self) {
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        let _all = self.open.acquire_many(all).await;
    }

    /// How many are still open.
    pub fn still_open(&self) -> usize {
        self.max.saturating_sub(self.open.available_permits())
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    service: Arc<HttpService>,
    door: Door,
    limits: &ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(Some(limits.write_timeout));
    let service = service_fn(move |request| {
        let service = service.clone();
        async move { Ok::<_, std::convert::Infallible>(service.handle(request, door).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(Box::pin(stream)), service);
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        _ = stopped(&mut stop) => {
            // Finishes the request in flight (an idle connection closes now).
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = served {
        tracing::debug!(%peer, "connection ended with an error: {err}");
    }
}

/// Open connections per client address.
#[derive(Default)]
struct ClientCounts(Mutex<HashMap<IpAddr, usize>>);

impl ClientCounts {
    /// Counts a connection from `ip`, unless it has `max` open already
    /// (`max` 0: no cap, nothing counted).
    fn enter(self: Arc<Self>, ip: IpAddr, max: usize) -> Option<ClientConnection> {
        if max == 0 {
            return Some(ClientConnection(None));
        }
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let open = counts.entry(ip).or_default();
        if *open >= max {
            return None;
        }
        *open += 1;
        drop(counts);
        Some(ClientConnection(Some((self, ip))))
    }
}

/// One counted connection; uncounted on drop.
struct ClientConnection(Option<(Arc<ClientCounts>, IpAddr)>);

impl Drop for ClientConnection {
    fn drop(&mut self) {
        if let Some((counts, ip)) = self.0.take() {
            let mut counts = counts
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(open) = counts.get_mut(&ip) {
                *open -= 1;
                if *open == 0 {
                    counts.remove(&ip);
                }
            }
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as servers do,
/// and returns the limit in force.
fn raise_descriptor_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_at_its_cap_is_refused_until_one_of_its_connections_closes() {
        let counts = Arc::new(ClientCounts::default());
        let ip: IpAddr = [127, 0, 0, 1].into();
        let first = counts.clone().enter(ip, 2).unwrap();
        let _second = counts.clone().enter(ip, 2).unwrap();
        assert!(counts.clone().enter(ip, 2).is_none());
        assert!(counts.clone().enter([127, 0, 0, 2].into(), 2).is_some());
        drop(first);
        assert!(counts.clone().enter(ip, 2).is_some());
        assert!(counts.clone().enter(ip, 0).is_some(), "0 is no cap");
    }
}
