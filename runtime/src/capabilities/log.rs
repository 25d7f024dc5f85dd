//! `log`: guest log records into the host's `tracing` output, tagged with
//! the module and the request, under the target `modhost::guest`.

use wasmtime::Result;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::modhost::module::log::{self, Level};
use crate::host_state::HostState;

/// Links the `log` interface.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    log::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

impl log::Host for HostState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let module = self.module.name.as_str();
        let request_id = &*self.request_id;
        let fields = format_fields(&fields);
        // A guest must not be able to forge log lines of its own.
        let message = message.replace('\n', "\\n").replace('\r', "\\r");
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
    if text.is_empty() || text.contains([' ', '"', '=', '\n', '\r']) {
        format!("{text:?}")
    } else {
        text.to_string()
    }
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
}
