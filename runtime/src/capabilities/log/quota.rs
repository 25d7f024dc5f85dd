//! How much one call may log: records and bytes, and what was dropped.
//! One quota covers the `log` interface and the guest's WASI stdout and
//! stderr, which share it through clones.

use std::sync::{Arc, Mutex, PoisonError};

/// What one call may still log; clones share it.
#[derive(Debug, Clone)]
pub struct LogQuota(Arc<Mutex<Room>>);

#[derive(Debug)]
struct Room {
    bytes_left: usize,
    lines_left: u32,
    dropped: u64,
}

impl LogQuota {
    /// Room for `bytes` of messages and fields in at most `lines` records.
    pub fn new(bytes: usize, lines: u32) -> Self {
        Self(Arc::new(Mutex::new(Room {
            bytes_left: bytes,
            lines_left: lines,
            dropped: 0,
        })))
    }

    /// Takes room for one record of `bytes`; false (and the record counted
    /// as dropped) when there is none.
    pub(crate) fn take(&self, bytes: usize) -> bool {
        let mut room = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if room.dropped == 0 && room.lines_left > 0 && bytes <= room.bytes_left {
            room.lines_left -= 1;
            room.bytes_left -= bytes;
            true
        } else {
            room.dropped += 1;
            false
        }
    }

    /// Warns once, at the end of a call, of the records it dropped.
    pub fn report(&self, module: &str, request_id: &str) {
        let dropped = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dropped;
        if dropped > 0 {
            tracing::warn!(
                %module,
                %request_id,
                dropped,
                "log records dropped: the call reached its log quota (limits.log_bytes, limits.log_lines)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_quota_records_are_dropped_and_counted() {
        let quota = LogQuota::new(10, 2);
        assert!(quota.take(4));
        assert!(!quota.take(7), "over the bytes");
        assert!(
            !quota.take(1),
            "nothing after the first drop, so a log never has gaps"
        );
        assert_eq!(quota.0.lock().unwrap().dropped, 2);
        let lines = LogQuota::new(100, 1);
        assert!(lines.take(1));
        assert!(!lines.take(1), "over the lines");
        let shared = LogQuota::new(100, 1);
        assert!(shared.clone().take(1));
        assert!(!shared.take(1), "a clone takes from the same room");
    }
}
