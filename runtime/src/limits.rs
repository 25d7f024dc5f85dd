//! The limits of one module's sandbox: `[sandbox]` sets them for every
//! module, `[modules.<name>.limits]` overrides any of them for one module.
//! The same table is meant to be carried by tenants later, so a limit reads
//! the same wherever it is set.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One `[sandbox]` or `[modules.<name>.limits]` table: every key optional;
/// an absent key falls back to the table above it, then to the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsTable {
    /// Linear memory one instance may grow to, in bytes.
    pub memory_bytes: Option<usize>,
    /// Wall-clock budget of one request, in milliseconds (504 past it).
    pub timeout_ms: Option<u64>,
    /// Guest CPU time one call may use, in milliseconds (504 past it).
    pub cpu_ms: Option<u64>,
    /// Calls of this module that may run at once.
    pub max_concurrency: Option<u32>,
    /// Requests that may wait for a free slot; more get 503.
    pub max_queue: Option<u32>,
    /// How many module calls may be chained below one of this module's calls.
    pub max_call_depth: Option<u32>,
    /// Bytes of documents the module may keep in the database.
    pub db_bytes: Option<u64>,
    /// Bytes the module may keep in the embedded cache: keys, values and
    /// 256 bytes per entry for the cache's own structures.
    pub cache_bytes: Option<usize>,
    /// Bytes of log messages and fields one call may write.
    pub log_bytes: Option<usize>,
    /// Log records one call may write.
    pub log_lines: Option<u32>,
    /// Bytes the guest may pass to the host in one host call.
    pub max_host_call_bytes: Option<usize>,
}

/// A module's limits with every value settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleLimits {
    /// Linear memory one instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget of one request, in milliseconds.
    pub timeout_ms: u64,
    /// Guest CPU time one call may use, in milliseconds.
    pub cpu_ms: u64,
    /// Calls of this module that may run at once.
    pub max_concurrency: u32,
    /// Requests that may wait for a free slot.
    pub max_queue: u32,
    /// How many module calls may be chained below one of this module's calls.
    pub max_call_depth: u32,
    /// Bytes of documents the module may keep in the database.
    pub db_bytes: u64,
    /// Bytes the module may keep in the embedded cache.
    pub cache_bytes: usize,
    /// Bytes of log messages and fields one call may write.
    pub log_bytes: usize,
    /// Log records one call may write.
    pub log_lines: u32,
    /// Bytes the guest may pass to the host in one host call.
    pub max_host_call_bytes: usize,
}

/// The limits of a module when neither `[sandbox]` nor its own table says.
pub const DEFAULT_LIMITS: ModuleLimits = ModuleLimits {
    memory_bytes: 64 << 20,
    timeout_ms: 10_000,
    cpu_ms: 5_000,
    max_concurrency: 8,
    max_queue: 32,
    max_call_depth: 8,
    db_bytes: 1 << 30,
    cache_bytes: 8 << 20,
    log_bytes: 64 << 10,
    log_lines: 256,
    max_host_call_bytes: 4 << 20,
};

/// The most memory a module may ask for per instance; the pool reserves
/// address space for the largest configured value.
pub const MAX_MEMORY_BYTES: usize = 4 << 30;

impl LimitsTable {
    /// These values where set, `base`'s elsewhere.
    pub fn over(&self, base: &ModuleLimits) -> ModuleLimits {
        ModuleLimits {
            memory_bytes: self.memory_bytes.unwrap_or(base.memory_bytes),
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            cpu_ms: self.cpu_ms.unwrap_or(base.cpu_ms),
            max_concurrency: self.max_concurrency.unwrap_or(base.max_concurrency),
            max_queue: self.max_queue.unwrap_or(base.max_queue),
            max_call_depth: self.max_call_depth.unwrap_or(base.max_call_depth),
            db_bytes: self.db_bytes.unwrap_or(base.db_bytes),
            cache_bytes: self.cache_bytes.unwrap_or(base.cache_bytes),
            log_bytes: self.log_bytes.unwrap_or(base.log_bytes),
            log_lines: self.log_lines.unwrap_or(base.log_lines),
            max_host_call_bytes: self.max_host_call_bytes.unwrap_or(base.max_host_call_bytes),
        }
    }
}

impl ModuleLimits {
    /// The wall-clock budget of one request.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The guest CPU budget of one call.
    pub fn cpu(&self) -> Duration {
        Duration::from_millis(self.cpu_ms)
    }

    /// Whether a host call passing `sizes` (the lengths of what the guest
    /// handed over) fits `max_host_call_bytes`; if not, a message for the
    /// guest saying by how much.
    pub fn admit_host_call(&self, sizes: impl IntoIterator<Item = usize>) -> Result<(), String> {
        let limit = self.max_host_call_bytes;
        let size = sizes.into_iter().fold(0, usize::saturating_add);
        if size > limit {
            return Err(format!(
                "the call passes {size} bytes, more than this module's max_host_call_bytes ({limit})"
            ));
        }
        Ok(())
    }

    /// Checks the settled values; the error names the key (under `table`,
    /// such as `sandbox` or `modules.users.limits`) and the allowed range.
    pub fn check(&self, table: &str) -> Result<(), String> {
        let positive: [(&str, u64); 9] = [
            ("memory_bytes", self.memory_bytes as u64),
            ("timeout_ms", self.timeout_ms),
            ("cpu_ms", self.cpu_ms),
            ("max_concurrency", u64::from(self.max_concurrency)),
            ("db_bytes", self.db_bytes),
            ("cache_bytes", self.cache_bytes as u64),
            ("log_bytes", self.log_bytes as u64),
            ("log_lines", u64::from(self.log_lines)),
            ("max_host_call_bytes", self.max_host_call_bytes as u64),
        ];
        if let Some(key) = zero_key(&positive) {
            return Err(format!("{table}.{key} must be at least 1"));
        }
        if self.memory_bytes > MAX_MEMORY_BYTES {
            return Err(format!(
                "{table}.memory_bytes must be at most {MAX_MEMORY_BYTES} (4 GiB, the most a 32-bit guest can address)"
            ));
        }
        if self.max_concurrency > 10_000 {
            return Err(format!("{table}.max_concurrency must be at most 10000"));
        }
        if self.max_queue > 100_000 {
            return Err(format!("{table}.max_queue must be at most 100000"));
        }
        Ok(())
    }
}

/// The first of `values` (key, value) whose value is 0: settings that must
/// be at least 1.
pub fn zero_key<'a>(values: &[(&'a str, u64)]) -> Option<&'a str> {
    values
        .iter()
        .find(|(_, value)| *value == 0)
        .map(|(key, _)| *key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_table_overrides_only_what_it_sets() {
        let table = LimitsTable {
            cpu_ms: Some(7),
            ..LimitsTable::default()
        };
        let limits = table.over(&DEFAULT_LIMITS);
        assert_eq!(limits.cpu_ms, 7);
        assert_eq!(limits.timeout_ms, DEFAULT_LIMITS.timeout_ms);
    }

    #[test]
    fn a_host_call_is_admitted_up_to_its_limit_and_refused_past_it() {
        let limits = LimitsTable {
            max_host_call_bytes: Some(10),
            ..LimitsTable::default()
        }
        .over(&DEFAULT_LIMITS);
        assert_eq!(limits.admit_host_call([4, 6]), Ok(()));
        let err = limits.admit_host_call([4, 7]).unwrap_err();
        assert!(
            err.contains("11 bytes") && err.contains("max_host_call_bytes (10)"),
            "{err}"
        );
        assert!(limits.admit_host_call([usize::MAX, 1]).is_err());
    }

    #[test]
    fn zero_and_oversized_values_name_the_key() {
        let zero = LimitsTable {
            max_concurrency: Some(0),
            ..LimitsTable::default()
        };
        let err = zero
            .over(&DEFAULT_LIMITS)
            .check("modules.m.limits")
            .unwrap_err();
        assert_eq!(err, "modules.m.limits.max_concurrency must be at least 1");
        let huge = LimitsTable {
            memory_bytes: Some(MAX_MEMORY_BYTES + 1),
            ..LimitsTable::default()
        };
        let err = huge.over(&DEFAULT_LIMITS).check("sandbox").unwrap_err();
        assert!(
            err.starts_with("sandbox.memory_bytes must be at most"),
            "{err}"
        );
    }
}
