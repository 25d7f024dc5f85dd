//! The host side of each interface the `module` world imports. Each file owns
//! one interface; adding a capability adds a file and one line below.

mod cache;
mod clock;
mod config;
mod db;
mod log;
mod modules;
mod wasi;

use wasmtime::Result;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::modhost::module::types;
use crate::host_state::HostState;

pub use config::toml_table_to_json;
pub use log::LogQuota;

/// Links every capability into `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    types::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    log::add_to_linker(linker)?;
    config::add_to_linker(linker)?;
    clock::add_to_linker(linker)?;
    modules::add_to_linker(linker)?;
    db::add_to_linker(linker)?;
    cache::add_to_linker(linker)?;
    wasi::add_to_linker(linker)?;
    Ok(())
}

impl types::Host for HostState {}
