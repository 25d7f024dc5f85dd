//! The signals that stop the host: SIGTERM (what Kubernetes and systemd
//! send) and SIGINT (Ctrl-C). The first asks for a graceful stop; a second
//! one, of either kind, for an immediate exit.

use anyhow::{Context, Result};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The process's exit code when a second signal cuts the grace period short.
pub const IMMEDIATE_EXIT_CODE: u8 = 130;

/// SIGTERM and SIGINT, listened for from the start, so that a signal during
/// a long load is not the default (killing) action.
pub struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    /// Starts listening.
    pub fn install() -> Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    /// Waits for the next SIGTERM or SIGINT and names it.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
