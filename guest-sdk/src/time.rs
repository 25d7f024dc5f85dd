//! Time from the host's clock: modules built for `wasm32-unknown-unknown`
//! have no clock of their own.

use chrono::{DateTime, Utc};

use crate::bindings::modhost::module::{clock, lifecycle};

/// The current time in UTC.
pub fn now() -> DateTime<Utc> {
    to_datetime(clock::now())
}

/// When the host finished this module's `init`; `None` during `describe`
/// and `init`.
pub fn initialized_at() -> Option<DateTime<Utc>> {
    lifecycle::initialized_at().map(to_datetime)
}

fn to_datetime(instant: clock::Instant) -> DateTime<Utc> {
    // Seconds beyond what chrono can hold (year 262143) cannot come from a
    // real clock; the epoch is a visible, harmless stand-in.
    i64::try_from(instant.seconds)
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, instant.nanoseconds))
        .unwrap_or_default()
}
