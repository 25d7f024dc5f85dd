//! How much one call may log: records and bytes, and what was dropped.

/// What one call may still log.
#[derive(Debug)]
pub struct LogQuota {
    bytes_left: usize,
    lines_left: u32,
    dropped: u64,
}

impl LogQuota {
    /// Room for `bytes` of messages and fields in at most `lines` records.
    pub fn new(bytes: usize, lines: u32) -> Self {
        Self {
            bytes_left: bytes,
            lines_left: lines,
            dropped: 0,
        }
    }

    /// Takes room for one record of `bytes`; false (and the record counted
    /// as dropped) when there is none.
    pub(super) fn take(&mut self, bytes: usize) -> bool {
        if self.dropped == 0 && self.lines_left > 0 && bytes <= self.bytes_left {
            self.lines_left -= 1;
            self.bytes_left -= bytes;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// Warns once, at the end of a call, of the records it dropped.
    pub fn report(&self, module: &str, request_id: &str) {
        if self.dropped > 0 {
            tracing::warn!(
                %module,
                %request_id,
                dropped = self.dropped,
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
        let mut quota = LogQuota::new(10, 2);
        assert!(quota.take(4));
        assert!(!quota.take(7), "over the bytes");
        assert!(
            !quota.take(1),
            "nothing after the first drop, so a log never has gaps"
        );
        assert_eq!(quota.dropped, 2);
        let mut lines = LogQuota::new(100, 1);
        assert!(lines.take(1));
        assert!(!lines.take(1), "over the lines");
    }
}
