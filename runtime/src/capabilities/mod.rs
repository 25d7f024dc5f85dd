//! The host side of each interface the `module` world imports, one folder
//! per capability. Each folder implements [`Capability`]: its state for the
//! host, for one module and for one call, its host traits on a view of its
//! own, and its tests. Adding a capability is its WIT interface, a folder
//! here, and one line in the list at the bottom of this file (see the
//! README, "Adding a capability").

mod auth;
mod cache;
mod capability;
mod clock;
mod config;
mod db;
mod log;
mod metrics;
mod modules;
mod wasi;

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::modhost::module::types;
use crate::config::RuntimeConfig;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;

pub use capability::{Capability, ModuleSetup};

/// A capability whose backend did not answer.
#[derive(Debug, Clone)]
pub struct BackendDown {
    /// The capability (`db`, `cache`).
    pub capability: &'static str,
    /// What went wrong.
    pub why: String,
    /// Whether the host is not ready without it.
    pub required: bool,
}

/// Declares the capabilities: for each `name: Type`, a field `name` in
/// [`HostCapabilities`], [`ModuleCapabilities`] and [`CallCapabilities`]
/// holding that capability's state, and its interfaces in [`add_to_linker`].
macro_rules! capabilities {
    ($($name:ident: $capability:ty),* $(,)?) => {
        /// Every capability's state for the whole host.
        pub struct HostCapabilities {
            $(
                #[doc = concat!("The `", stringify!($name), "` capability's.")]
                pub $name: <$capability as Capability>::Host,
            )*
        }

        /// Every capability's state for one module.
        pub struct ModuleCapabilities {
            $(
                #[doc = concat!("The `", stringify!($name), "` capability's.")]
                pub $name: <$capability as Capability>::Module,
            )*
        }

        /// Every capability's state for one call.
        pub struct CallCapabilities {
            $(
                #[doc = concat!("The `", stringify!($name), "` capability's.")]
                pub $name: <$capability as Capability>::Call,
            )*
        }

        impl HostCapabilities {
            /// Starts every capability from `config`.
            pub async fn start(config: &RuntimeConfig) -> anyhow::Result<Self> {
                Ok(Self {
                    $($name: <$capability as Capability>::start(config).await?,)*
                })
            }

            /// Asks every capability whether its backend answers; those
            /// that do not, with why.
            pub async fn check_ready(&self) -> Vec<BackendDown> {
                let mut down = Vec::new();
                $(if let Err(why) = <$capability as Capability>::check_ready(&self.$name).await {
                    down.push(BackendDown {
                        capability: stringify!($name),
                        why,
                        required: <$capability as Capability>::BACKEND_REQUIRED,
                    });
                })*
                down
            }

            /// Sets every capability up for one module.
            pub fn for_module(&self, module: &ModuleSetup<'_>) -> anyhow::Result<ModuleCapabilities> {
                Ok(ModuleCapabilities {
                    $($name: <$capability as Capability>::for_module(&self.$name, module)?,)*
                })
            }
        }

        impl ModuleCapabilities {
            /// Every capability's state for one call under `limits`.
            pub fn for_call(&self, limits: &ModuleLimits) -> CallCapabilities {
                CallCapabilities {
                    $($name: <$capability as Capability>::for_call(&self.$name, limits),)*
                }
            }
        }

        impl CallCapabilities {
            /// Readies every capability's state of a reused instance for
            /// its next call under `limits`.
            pub fn renew(&mut self, module: &ModuleCapabilities, limits: &ModuleLimits) {
                $(<$capability as Capability>::renew(&mut self.$name, &module.$name, limits);)*
            }

            /// Lets every capability report on a call that has ended.
            pub fn end(&self, module: &str, request_id: &str) {
                $(<$capability as Capability>::end_call(&self.$name, module, request_id);)*
            }
        }

        /// Links every capability's interfaces into `linker`, with the
        /// types they share.
        pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
            types::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
            $(<$capability as Capability>::link(linker)?;)*
            Ok(())
        }
    };
}

impl types::Host for HostState {}

capabilities! {
    // First, so that a guest's unended last line of output is logged before
    // `log` reports what the call's quota dropped.
    wasi: wasi::Wasi,
    log: log::Log,
    metrics: metrics::Metrics,
    config: config::Config,
    clock: clock::Clock,
    modules: modules::ModuleCalls,
    db: db::Db,
    cache: cache::Cache,
    auth: auth::Auth,
}
