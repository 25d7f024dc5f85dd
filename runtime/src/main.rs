//! `modhost`: runs backend modules as sandboxed WebAssembly components
//! behind one HTTP server. See the README for the config reference.

mod bindings;
mod capabilities;
mod config;
mod dependency_graph;
mod engine;
mod guest_request;
mod host_state;
mod http_response;
mod loader;
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

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::config::RuntimeConfig;
use crate::registry::ModuleState;
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
    /// Loads and checks every module of a config without serving; exits
    /// non-zero when any module fails.
    Check {
        /// The deployment to check.
        #[arg(long, default_value = "runtime.toml")]
        config: PathBuf,
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
        Command::Check { config } => check(&config).await,
    }
}

async fn serve(config_path: &std::path::Path, listen: Option<SocketAddr>) -> Result<ExitCode> {
    let config = RuntimeConfig::load(config_path)?;
    let engine = engine::build_engine()?;
    let services = services::HostServices::start(&config).await?;
    let registry = loader::load_deployment(&config, &engine, services).await?;
    let addr = listen.unwrap_or(config.server.listen);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: pass another address with --listen"))?;
    let local = listener.local_addr()?;
    let runtime = Arc::new(Runtime::new(registry, config.server.max_body_bytes));
    // Printed on stdout so scripts and tests can find a port picked with :0.
    println!("modhost listening on http://{local}");
    tokio::select! {
        result = server::serve(listener, runtime) => result?,
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
    }
    Ok(ExitCode::SUCCESS)
}

/// One module for `check`: state, dependencies and routes.
fn print_module(entry: &registry::ModuleEntry) {
    match &entry.state {
        ModuleState::Ready => println!("  ok      {}", entry.name),
        ModuleState::Failed(reason) => println!("  FAILED  {}: {reason}", entry.name),
    }
    if let Some(manifest) = &entry.manifest {
        if !manifest.dependencies.is_empty() {
            println!("          depends on {}", manifest.dependencies.join(", "));
        }
        for route in &manifest.routes {
            println!("          route {} {}", route.method, route.path);
        }
    }
}

async fn check(config_path: &std::path::Path) -> Result<ExitCode> {
    let config = RuntimeConfig::load(config_path)?;
    let engine = engine::build_engine()?;
    let services = services::HostServices::start(&config).await?;
    let registry = loader::load_deployment(&config, &engine, services).await?;
    println!("init order (dependencies first):");
    for name in registry.init_order() {
        let entry = registry.get(name).expect("ordered modules are registered");
        print_module(entry);
    }
    let unordered = registry
        .modules()
        .filter(|entry| !registry.init_order().contains(&entry.name));
    for entry in unordered {
        print_module(entry);
    }
    let failed = registry
        .modules()
        .filter(|entry| entry.state != ModuleState::Ready)
        .count();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
