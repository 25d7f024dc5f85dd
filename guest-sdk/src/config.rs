//! The module's own settings: its `[modules.<name>.config]` table in
//! runtime.toml, read as typed values.

use serde::de::DeserializeOwned;

use crate::bindings::modhost::module::config as host;
use crate::error::{Error, Result};

/// The whole table as `T`, typically a `#[derive(Deserialize)]` struct with
/// `#[serde(default)]` fields. A table that does not fit `T` is a 500 naming
/// the mismatch, so an operator's typo surfaces on the first request.
pub fn load<T: DeserializeOwned>() -> Result<T> {
    serde_json::from_str(&host::get_all())
        .map_err(|err| Error::internal(format!("module config does not fit: {err}")))
}

/// One top-level key as `T`, or `None` when it is not set.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    host::get(key)
        .map(|text| {
            serde_json::from_str(&text)
                .map_err(|err| Error::internal(format!("config key {key} does not fit: {err}")))
        })
        .transpose()
}
