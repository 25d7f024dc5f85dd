//! Logging into the host's log. The host tags every record with the module
//! name and the request id, so messages need not repeat them.
//!
//! Use the macros, which format like `format!`: `modhost_sdk::info!("saved {id}")`.
//! For structured fields call [`write`] with key/value pairs.

pub use crate::bindings::modhost::module::log::Level;

/// Writes one record at `level` with structured `fields`.
pub fn write(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    crate::bindings::modhost::module::log::log(level, message, &fields);
}

/// Logs at a level with `format!` arguments; used by the level macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_at {
    ($level:expr, $($arg:tt)+) => {
        $crate::log::write($level, &::std::format!($($arg)+), &[])
    };
}

/// Logs at trace level.
#[macro_export]
macro_rules! trace { ($($arg:tt)+) => { $crate::__log_at!($crate::log::Level::Trace, $($arg)+) }; }
/// Logs at debug level.
#[macro_export]
macro_rules! debug { ($($arg:tt)+) => { $crate::__log_at!($crate::log::Level::Debug, $($arg)+) }; }
/// Logs at info level.
#[macro_export]
macro_rules! info { ($($arg:tt)+) => { $crate::__log_at!($crate::log::Level::Info, $($arg)+) }; }
/// Logs at warn level.
#[macro_export]
macro_rules! warn { ($($arg:tt)+) => { $crate::__log_at!($crate::log::Level::Warn, $($arg)+) }; }
/// Logs at error level.
#[macro_export]
macro_rules! error { ($($arg:tt)+) => { $crate::__log_at!($crate::log::Level::Error, $($arg)+) }; }
