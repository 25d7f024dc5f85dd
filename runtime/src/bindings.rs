//! The host side of the `modhost:module` world, generated from `wit/`.
//!
//! Exports are async because every guest call runs on tokio with an epoch
//! deadline; the imports linked so far never wait, so they stay synchronous.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "modhost:module/module",
    exports: { default: async },
});
