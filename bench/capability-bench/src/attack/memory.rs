//! The host's memory: its resident set from /proc, sampled while the
//! benchmark runs, its peak, and the bound `modhost check` claims for it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the resident set is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Field `field` of /proc/`pid`/status (`VmRSS`, `VmHWM`) in bytes; `None`
/// once the process is gone.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A thread that samples a process's `VmRSS` and keeps the largest value
/// seen since it was last asked.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl RssSampler {
    /// Starts sampling process `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (peak, stop) = (peak.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rss) = status_bytes(pid, "VmRSS:") {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
            }
        });
        RssSampler { peak, stop, thread }
    }

    /// The largest `VmRSS` sampled since the last call (or the start).
    pub fn take_peak(&self) -> u64 {
        self.peak.swap(0, Ordering::Relaxed)
    }

    /// Stops the sampling thread.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler does not panic");
    }
}

/// The `worst_case_memory_bytes` of the JSON object `modhost check --format
/// json` wrote to `report`; `None` when there is no such report (a modhost
/// without that feature) or no such field.
pub fn check_bound(report: Option<&Path>) -> Option<u64> {
    let text = std::fs::read_to_string(report?).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("worst_case_memory_bytes")?.as_u64()
}
