//! `log`: guest log records into the host's `tracing` output, tagged with
//! the module and the request, under the target `modhost::guest`. A call
//! may write so many records and bytes ([`LogQuota`]); past that, records
//! are counted and dropped with one warning, and every control character a
//! guest writes is escaped, so no guest can flood or forge the host's log.

pub(crate) mod format;
mod quota;

use wasmtime::component::{HasData, Linker};

use crate::bindings::modhost::module::log::{self as wit, Level};
use crate::capabilities::{Capability, ModuleSetup};
use crate::config::RuntimeConfig;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;

pub(crate) use quota::LogQuota;

/// The `log` capability.
pub struct Log;

/// What one host call of `log` reaches: who logs, and the call's quota.
pub struct LogView<'a> {
    module: &'a str,
    request_id: &'a str,
    quota: &'a LogQuota,
}

impl HasData for Log {
    type Data<'a> = LogView<'a>;
}

impl Capability for Log {
    type Host = ();
    type Module = ();
    type Call = LogQuota;

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, Log>(linker, |state| LogView {
            module: &state.module.name,
            request_id: &state.request_id,
            quota: &state.capabilities.log,
        })
    }

    async fn start(_config: &RuntimeConfig) -> anyhow::Result<()> {
        Ok(())
    }

    fn for_module(_host: &(), _module: &ModuleSetup<'_>) -> anyhow::Result<()> {
        Ok(())
    }

    fn for_call(_module: &(), limits: &ModuleLimits) -> LogQuota {
        LogQuota::new(limits.log_bytes, limits.log_lines)
    }

    fn end_call(quota: &LogQuota, module: &str, request_id: &str) {
        quota.report(module, request_id);
    }
}

impl wit::Host for LogView<'_> {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if !self.quota.take(size) {
            // Counted; reported once when the call ends.
            return;
        }
        let module = self.module;
        let request_id = self.request_id;
        let fields = format::format_fields(&fields);
        // A guest must not be able to forge log lines or terminal output.
        let message = format::escape_controls(&message);
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
