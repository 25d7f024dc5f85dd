//! The module's own metrics, the original guide's `module_metrics`: the
//! host exposes them on `/metrics` as `modhost_module_<name>` with the
//! module's `tenant` and `module` labels, so names need not repeat the
//! module's. A counter is exposed with `_total`, a timing with `_seconds`.
//!
//! ```ignore
//! let _timer = metrics::timer("order_processing");   // recorded when dropped
//! metrics::increment("orders", &[("kind", "book")])?;
//! ```
//!
//! Metrics are a side channel: a handler may ignore their errors (a bad
//! name, or more series than the module may make), which record nothing.

use crate::bindings::modhost::module::metrics as host;
use crate::error::HostError;
use crate::time;

pub use host::MetricError;

fn owned(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// Adds 1 to counter `name`.
pub fn increment(name: &str, labels: &[(&str, &str)]) -> Result<(), MetricError> {
    add(name, 1, labels)
}

/// Adds `by` to counter `name`.
pub fn add(name: &str, by: u64, labels: &[(&str, &str)]) -> Result<(), MetricError> {
    host::increment(name, by, &owned(labels))
}

/// Sets gauge `name` to `value`.
pub fn gauge(name: &str, value: f64, labels: &[(&str, &str)]) -> Result<(), MetricError> {
    host::set_gauge(name, value, &owned(labels))
}

/// Records `duration` into timing `name`.
pub fn record_duration(
    name: &str,
    duration: std::time::Duration,
    labels: &[(&str, &str)],
) -> Result<(), MetricError> {
    host::record_duration(name, duration.as_secs_f64(), &owned(labels))
}

/// Times until dropped, then records into timing `name` (an error is
/// dropped with it); the host's clock, so modules without WASI can time.
pub fn timer(name: &str) -> Timer {
    Timer {
        name: name.to_string(),
        started: time::now(),
    }
}

/// A running timing, recorded when dropped; see [`timer`].
pub struct Timer {
    name: String,
    started: chrono::DateTime<chrono::Utc>,
}

impl Drop for Timer {
    fn drop(&mut self) {
        let took = (time::now() - self.started).to_std().unwrap_or_default();
        let _ = record_duration(&self.name, took, &[]);
    }
}

impl HostError for MetricError {
    fn message(&self) -> &str {
        match self {
            MetricError::InvalidName(why)
            | MetricError::InvalidLabels(why)
            | MetricError::InvalidValue(why)
            | MetricError::TooManySeries(why) => why,
        }
    }

    /// The module's own mistake: a 500.
    fn status(&self) -> u16 {
        500
    }
}
