//! The host side of the `modhost:module` world, generated from `wit/`.
//!
//! Exports are async because every guest call runs on tokio with an epoch
//! deadline; imports are synchronous unless they wait (a module call and
//! every database and cache call, and the password hashing, do).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "modhost:module/module",
    imports: {
        "modhost:module/modules.call": async,
        "modhost:module/db": async,
        "modhost:module/cache": async,
        "modhost:module/auth.hash-password": async,
        "modhost:module/auth.verify-password": async,
    },
    exports: { default: async },
});
