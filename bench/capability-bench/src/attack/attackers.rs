//! The attack itself: looping requests, a flood and half-open sockets,
//! started together on a tokio runtime of their own and stopped by shutting
//! that runtime down, which drops every task and closes its sockets.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use super::flood::flood;
use super::half_open::{HalfOpen, SharedHalfOpen, hold};
use super::loops::keep_looping;
use super::options::Options;
use super::outcomes::{Outcomes, SharedOutcomes, take};

/// How long the attackers' tasks get to notice the runtime shutting down.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// The running attackers and what they record.
pub struct Attackers {
    runtime: Runtime,
    loops: SharedOutcomes,
    flood: SharedOutcomes,
    flood_took: Arc<OnceLock<Duration>>,
    half_open: SharedHalfOpen,
}

/// What the attackers saw, once stopped.
pub struct AttackReport {
    /// The looping requests that ended, and how.
    pub loops: Outcomes,
    /// The flood's requests that ended, and how.
    pub flood: Outcomes,
    /// How long the whole flood took, if it ended before the phase did.
    pub flood_took: Option<Duration>,
    /// The half-open sockets.
    pub half_open: HalfOpen,
}

impl Attackers {
    /// Starts every attacker on `runtime` at once; `started` is the start of
    /// the phase, which the half-open sockets' closing times count from.
    pub fn start(runtime: Runtime, options: &Options, started: Instant) -> Attackers {
        let attackers = Attackers {
            runtime,
            loops: SharedOutcomes::default(),
            flood: SharedOutcomes::default(),
            flood_took: Arc::default(),
            half_open: SharedHalfOpen::default(),
        };
        let addr = options.addr;
        let loop_path: Arc<str> = options.loop_path.as_str().into();
        for _ in 0..options.loops {
            let looping = keep_looping(addr, loop_path.clone(), attackers.loops.clone());
            attackers.runtime.spawn(looping);
        }
        let flooding = flood(
            addr,
            options.flood_path.as_str().into(),
            options.flood,
            options.flood_connections,
            attackers.flood.clone(),
        );
        let flood_took = attackers.flood_took.clone();
        attackers.runtime.spawn(async move {
            flooding.await;
            let _ = flood_took.set(started.elapsed());
        });
        for index in 0..options.half_open as usize {
            let holding = hold(addr, index, started, attackers.half_open.clone());
            attackers.runtime.spawn(holding);
        }
        attackers
    }

    /// Stops every attacker and collects what they saw.
    pub fn stop(self) -> AttackReport {
        self.runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
        AttackReport {
            loops: take(&self.loops),
            flood: take(&self.flood),
            flood_took: self.flood_took.get().copied(),
            half_open: std::mem::take(
                &mut *self.half_open.lock().expect("no recording task panics"),
            ),
        }
    }
}
