//! Write modhost modules in idiomatic Rust.
//!
//! A module is a type that implements [`Module`]: its name, version and
//! dependencies as constants, and its routes as a [`Router`] of plain
//! functions from [`Request`] to [`Result<Response>`]. [`export_module!`] turns
//! it into the exports of the `modhost:module` WIT world; nothing else of the
//! generated bindings needs to be touched.
//!
//! ```no_run
//! use modhost_sdk::{Module, Request, Response, Result, Router, export_module};
//!
//! struct Hello;
//!
//! impl Module for Hello {
//!     const NAME: &'static str = "hello";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!
//!     fn routes() -> Router {
//!         Router::new().get("/hello/:name", greet)
//!     }
//! }
//!
//! fn greet(req: Request) -> Result<Response> {
//!     Response::json(&serde_json::json!({ "hello": req.param("name")? }))
//! }
//!
//! export_module!(Hello);
//! ```
//!
//! Every call runs in a fresh instance: nothing kept in a `static` outlives
//! one request. Use the host's capabilities for what must persist.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod allocator;
pub mod auth;
pub mod cache;
pub mod config;
pub mod db;
mod error;
mod export;
pub mod log;
pub mod metrics;
mod module;
pub mod modules;
mod request;
mod response;
mod router;
pub mod time;

pub use error::{Error, HostError, Result};
pub use module::{Health, HealthStatus, Module};
pub use modules::{CallError, Dependency};
pub use request::{Principal, Request};
pub use response::Response;
pub use router::{Handler, Router};

/// The generated bindings of the `modhost:module` world. Authors do not need
/// them; [`export_module!`] and the safe wrappers in this crate use them.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)] // Generated code, one argument per WIT parameter.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "modhost:module/module",
        default_bindings_module: "modhost_sdk::bindings",
        pub_export_macro: true,
        export_macro_name: "__export_module_world",
    });
}

#[doc(hidden)]
pub use export::Exports;

/// Exports a [`Module`] implementation as the module's component exports.
///
/// Call it once, at the top level of the module's crate (a `cdylib`).
#[macro_export]
macro_rules! export_module {
    ($module:ty) => {
        struct __ModhostExports;

        impl $crate::bindings::Guest for __ModhostExports {
            fn describe() -> $crate::bindings::modhost::module::types::Manifest {
                $crate::Exports::<$module>::describe()
            }
            fn init() -> ::core::result::Result<(), ::std::string::String> {
                $crate::Exports::<$module>::init()
            }
            fn handle(
                request: $crate::bindings::modhost::module::types::Request,
            ) -> $crate::bindings::modhost::module::types::Response {
                $crate::Exports::<$module>::handle(request)
            }
            fn health() -> $crate::bindings::modhost::module::types::Health {
                $crate::Exports::<$module>::health()
            }
        }

        $crate::bindings::__export_module_world!(__ModhostExports with_types_in $crate::bindings);
    };
}
