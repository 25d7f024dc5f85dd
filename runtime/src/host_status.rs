//! Where the host is in its life, for the probes and the log: loading
//! (with how far), serving, reloading, or draining for a shutdown; and
//! whether the backends it needs answer.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::capabilities::{BackendDown, HostCapabilities};

/// How long a backend check's answer is kept: probes from many places (or
/// a client hammering `/readyz`) cost the backends one check a second.
const BACKEND_CHECK_KEPT: Duration = Duration::from_secs(1);

/// A phase of the host's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Loading the modules; nothing is served but the probes.
    Loading = 0,
    /// Serving the modules.
    Serving = 1,
    /// Serving, while a new set of modules loads beside the old.
    Reloading = 2,
    /// Stopped accepting; finishing the requests in flight.
    Draining = 3,
}

impl Phase {
    fn of(value: u8) -> Phase {
        match value {
            0 => Phase::Loading,
            1 => Phase::Serving,
            2 => Phase::Reloading,
            _ => Phase::Draining,
        }
    }

    /// Its name in the probes' answers.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Serving => "serving",
            Phase::Reloading => "reloading",
            Phase::Draining => "draining",
        }
    }
}

/// The host's phase, its load's progress and its backends' last check.
pub struct HostStatus {
    phase: AtomicU8,
    progress: LoadProgress,
    backends: Mutex<Option<(Instant, Vec<BackendDown>)>>,
}

impl Default for HostStatus {
    fn default() -> Self {
        Self {
            phase: AtomicU8::new(Phase::Loading as u8),
            progress: LoadProgress::default(),
            backends: Mutex::new(None),
        }
    }
}

impl HostStatus {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        Phase::of(self.phase.load(Ordering::Acquire))
    }

    /// Moves to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Moves from `from` to `to` if the phase is still `from` (a drain
    /// that began meanwhile is never undone); says whether it did.
    pub fn shift(&self, from: Phase, to: Phase) -> bool {
        self.phase
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// How far the current load has come.
    pub fn progress(&self) -> &LoadProgress {
        &self.progress
    }

    /// The backends of `capabilities` that do not answer, checked at most
    /// once per [`BACKEND_CHECK_KEPT`].
    pub async fn backends_down(&self, capabilities: &HostCapabilities) -> Vec<BackendDown> {
        let mut last = self.backends.lock().await;
        if let Some((at, down)) = &*last
            && at.elapsed() < BACKEND_CHECK_KEPT
        {
            return down.clone();
        }
        let down = capabilities.check_ready().await;
        *last = Some((Instant::now(), down.clone()));
        down
    }
}

/// Components compiled, and then modules loaded, of those a load needs,
/// logged as they come (at most once a second, and the last of each).
#[derive(Default)]
pub struct LoadProgress {
    done: AtomicUsize,
    total: AtomicUsize,
    modules_done: AtomicUsize,
    modules_total: AtomicUsize,
    last_logged: std::sync::Mutex<Option<Instant>>,
}

impl LoadProgress {
    /// Starts counting a load of `total` components and `modules` modules.
    pub fn start(&self, total: usize, modules: usize) {
        self.done.store(0, Ordering::Release);
        self.total.store(total, Ordering::Release);
        self.modules_done.store(0, Ordering::Release);
        self.modules_total.store(modules, Ordering::Release);
        *self.lock_logged() = Some(Instant::now());
    }

    /// Counts one more component ready, logging the count now and then.
    pub fn one_done(&self) {
        let (done, total) = self.count(&self.done, &self.total);
        if self.time_to_log(done == total) {
            tracing::info!(done, total, "compiled {done} of {total} components");
        }
    }

    /// Counts one more module loaded and initialised (or failed), logging
    /// the count now and then.
    pub fn module_done(&self) {
        let (done, total) = self.count(&self.modules_done, &self.modules_total);
        if self.time_to_log(done == total) {
            tracing::info!(done, total, "loaded {done} of {total} modules");
        }
    }

    /// Components compiled and needed, modules loaded and configured.
    pub fn counts(&self) -> [usize; 4] {
        [
            &self.done,
            &self.total,
            &self.modules_done,
            &self.modules_total,
        ]
        .map(|count| count.load(Ordering::Acquire))
    }

    fn count(&self, done: &AtomicUsize, total: &AtomicUsize) -> (usize, usize) {
        (
            done.fetch_add(1, Ordering::AcqRel) + 1,
            total.load(Ordering::Acquire),
        )
    }

    /// Whether to log now: always for the `last`, else once a second.
    fn time_to_log(&self, last: bool) -> bool {
        let mut logged = self.lock_logged();
        let due = last || logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if due {
            *logged = Some(Instant::now());
        }
        due
    }

    fn lock_logged(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.last_logged
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
