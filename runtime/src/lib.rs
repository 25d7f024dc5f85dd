//! modhost as a library: the host that runs backend modules as sandboxed
//! WebAssembly components behind one HTTP server. The `modhost` binary is a
//! thin command line over [`commands`]; the capabilities guests import live
//! in `capabilities/`, one folder each. See the README for the config
//! reference.

mod admin;
mod admission;
mod auth;
mod bindings;
mod call_budget;
mod callable_modules;
mod capabilities;
mod capacity;
pub mod check_report;
pub mod commands;
mod compile_cache;
mod compiled_components;
mod config;
mod dependency_graph;
mod engine;
mod grants;
mod guest_request;
mod host_state;
mod host_status;
mod http_proxy;
mod http_response;
mod instance_reuse;
mod limits;
mod listener;
mod loader;
mod long_calls;
mod metrics;
pub mod new_module;
mod outbound_hosts;
mod pool_config;
mod probes;
mod registry;
mod reload;
mod request_id;
mod routing;
mod runtime_endpoints;
mod sandbox;
mod server;
mod shutdown;
mod tenant_config;
mod tenant_quota;
mod tenants;
mod watch;
