//! `log`: guest log records into the host's `tracing` output, tagged with
//! the module and the request, under the target `modhost::guest`. A call
//! may write so many records and bytes ([`LogQuota`]); past that, records
//! are counted and dropped with one warning, and every control character a
//! guest writes is escaped, so no guest can flood or forge the host's log.

use wasmtime::Result;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::modhost::module::log::{self, Level};
use crate::host_state::HostState;

/// Links the `log` interface.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    log::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

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
    fn take(&mut self, bytes: usize) -> bool {
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

impl log::Host for HostState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let module = self.module.name.as_str();
        let request_id = &*self.request_id;
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if !self.log_quota.take(size) {
            // Counted; the sandbox warns once when the call ends.
            return;
        }
        let fields = format_fields(&fields);
        // A guest must not be able to forge log lines or terminal output.
        let message = escape_controls(&message);
        // tracing needs the level at compile time, hence one arm per level.
        macro_rules! emit {
            ($macro:ident) => {
                tracing::$macro!(
                    target: "modhost::guest",
                    module = %module,
                    request_id = %request_id,
                    fields = %fields,
                    "{message}"
                )
            };
        }
        match level {
            Level::Trace => emit!(trace),
            Level::Debug => emit!(debug),
            Level::Info => emit!(info),
            Level::Warn => emit!(warn),
            Level::Error => emit!(error),
        }
    }
}

/// `k=v` pairs separated by spaces; values with spaces, quotes or line
/// breaks are quoted (and escaped) so that a record stays one unambiguous line.
fn format_fields(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(key, value)| format!("{}={}", quote_if_needed(key), quote_if_needed(value)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote_if_needed(text: &str) -> String {
    if text.is_empty() || text.contains([' ', '"', '=']) || text.contains(char::is_control) {
        format!("{text:?}")
    } else {
        text.to_string()
    }
}

/// `text` with every control character escaped (`\n`, `\u{1b}`...).
fn escape_controls(text: &str) -> String {
    if !text.contains(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_one_line_with_quoted_values_where_needed() {
        let fields = vec![
            ("user".to_string(), "42".to_string()),
            ("note".to_string(), "two words".to_string()),
            ("empty".to_string(), String::new()),
            ("forged\nkey".to_string(), "a\nb".to_string()),
        ];
        assert_eq!(
            format_fields(&fields),
            r#"user=42 note="two words" empty="" "forged\nkey"="a\nb""#
        );
    }

    #[test]
    fn every_control_character_is_escaped() {
        assert_eq!(
            escape_controls("a\nb\rc\u{1b}[31md\u{7}"),
            "a\\nb\\rc\\u{1b}[31md\\u{7}"
        );
        assert_eq!(quote_if_needed("x\u{1b}y"), r#""x\u{1b}y""#);
    }

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
