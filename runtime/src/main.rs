//! `modhost`: runs backend modules as sandboxed WebAssembly components
//! behind one HTTP server. See the README for the config reference.

mod admission;
mod bindings;
mod call_budget;
mod capabilities;
mod capacity;
mod check_report;
mod config;
mod dependency_graph;
mod engine;
mod guest_request;
mod host_state;
mod http_response;
mod limits;
mod listener;
mod loader;
mod long_calls;
mod module_directory;
mod registry;
mod request_id;
mod routing;
mod runtime_endpoints;
mod sandbox;
mod server;
mod services;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::capacity::HostCapacity;
use crate::check_report::{CheckFormat, CheckReport};
use crate::config::RuntimeConfig;
use crate::listener::ConnectionLimits;
use crate::registry::{ModuleRegistry, ModuleState};
use crate::server::Runtime;

/// Runs backend modules as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "modhost", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Loads the modules of a config and serves them over HTTP.
    Serve {
        /// The deployment to serve.
        #[arg(long, default_value = "runtime.toml")]
        config: PathBuf,
        /// Address to listen on, overriding server.listen (port 0 picks a free one).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Loads and checks every module of a config without serving, and
    /// prints each module's limits and the host's worst-case memory; exits
    /// non-zero when any module fails.
    Check {
        /// The deployment to check.
        #[arg(long, default_value = "runtime.toml")]
        config: PathBuf,
        /// `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MODHOST_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Serve { config, listen } => serve(&config, listen).await,
        Command::Check { config, format } => check(&config, format).await,
    }
}

/// Reads the config, builds the engine for the capacity it asks for, opens
/// its services and loads its modules: what `serve` and `check` share.
async fn load(
    config_path: &std::path::Path,
) -> Result<(RuntimeConfig, HostCapacity, ModuleRegistry)> {
    let config = RuntimeConfig::load(config_path)?;
    let capacity = HostCapacity::of(&config, component_bytes(&config));
    let engine =
        engine::build_engine(&capacity).with_context(|| format!("{}", config.source.display()))?;
    let services = services::HostServices::start(&config).await?;
    let registry = loader::load_deployment(&config, &engine, services).await?;
    Ok((config, capacity, registry))
}

async fn serve(config_path: &std::path::Path, listen: Option<SocketAddr>) -> Result<ExitCode> {
    let (config, _, registry) = load(config_path).await?;
    let addr = listen.unwrap_or(config.server.listen);
    let limits = ConnectionLimits::of(&config.server);
    let listener = listener::bind(addr, limits.max_connections)
        .with_context(|| format!("cannot listen on {addr}: pass another address with --listen"))?;
    let local = listener.local_addr()?;
    let body_timeout = Duration::from_millis(config.server.body_timeout_ms);
    let runtime = Arc::new(Runtime::new(
        registry,
        config.server.max_body_bytes,
        body_timeout,
    ));
    // Printed on stdout so scripts and tests can find a port picked with :0.
    println!("modhost listening on http://{local}");
    tokio::select! {
        result = listener::serve(listener, runtime, limits) => result?,
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The size of every configured component file, for the memory bound; a
/// file that cannot be read counts 0 (it fails to load anyway).
fn component_bytes(config: &RuntimeConfig) -> u64 {
    config
        .modules
        .values()
        .filter_map(|module| std::fs::metadata(config.module_path(module)).ok())
        .map(|meta| meta.len())
        .sum()
}

async fn check(config_path: &std::path::Path, format: CheckFormat) -> Result<ExitCode> {
    let (config, capacity, registry) = load(config_path).await?;
    let report = CheckReport::new(&registry, &config, &capacity);
    match format {
        CheckFormat::Text => report.print_text(),
        CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    let all_ready = registry
        .modules()
        .all(|entry| entry.state == ModuleState::Ready);
    Ok(if all_ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
