//! What the command line runs: `serve`, `check` and `hash-password`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use crate::auth::{Gate, PasswordHashing};
use crate::capabilities::HostCapabilities;
use crate::capacity::HostCapacity;
use crate::check_report::{CheckFormat, CheckReport};
use crate::config::RuntimeConfig;
use crate::listener::ConnectionLimits;
use crate::new_module::{self, Language};
use crate::registry::ModuleState;
use crate::server::HttpService;
use crate::tenants::Tenants;
use crate::{engine, listener, loader};

/// Reads the config and its auth keys, builds the engine for the capacity
/// it asks for, starts every capability and loads the modules: what `serve`
/// and `check` share.
async fn load(config_path: &Path) -> Result<(RuntimeConfig, HostCapacity, Tenants, Gate)> {
    let config = RuntimeConfig::load(config_path)?;
    // Keys first: a key that cannot be read stops the start before any
    // module is compiled.
    let gate = Gate::from_config(&config)?;
    let capacity = HostCapacity::of(&config, component_bytes(&config));
    let engine =
        engine::build_engine(&capacity).with_context(|| format!("{}", config.source.display()))?;
    let capabilities = HostCapabilities::start(&config).await?;
    let tenants = loader::load_deployment(&config, &engine, capabilities).await?;
    Ok((config, capacity, tenants, gate))
}

/// Loads the modules of the config at `config_path` and serves them over
/// HTTP on `listen` (or `server.listen`) until interrupted.
pub async fn serve(config_path: &Path, listen: Option<SocketAddr>) -> Result<ExitCode> {
    let (config, _, tenants, gate) = load(config_path).await?;
    let addr = listen.unwrap_or(config.server.listen);
    let limits = ConnectionLimits::of(&config.server);
    let listener = listener::bind(addr, limits.max_connections)
        .with_context(|| format!("cannot listen on {addr}: pass another address with --listen"))?;
    let local = listener.local_addr()?;
    let body_timeout = Duration::from_millis(config.server.body_timeout_ms);
    let service = Arc::new(HttpService::new(
        tenants,
        gate,
        config.server.max_body_bytes,
        body_timeout,
    ));
    // Printed on stdout so scripts and tests can find a port picked with :0.
    println!("modhost listening on http://{local}");
    tokio::select! {
        result = listener::serve(listener, service, limits) => result?,
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The size of every configured component file, for the memory bound; a
/// file that cannot be read counts 0 (it fails to load anyway).
fn component_bytes(config: &RuntimeConfig) -> u64 {
    config
        .tenant_views()
        .iter()
        .flat_map(|view| view.modules.values())
        .filter_map(|module| std::fs::metadata(config.module_path(module)).ok())
        .map(|meta| meta.len())
        .sum()
}

/// Loads and checks every module of the config at `config_path` without
/// serving, prints the report in `format`, and fails when any module does.
pub async fn check(config_path: &Path, format: CheckFormat) -> Result<ExitCode> {
    let (config, capacity, tenants, _) = load(config_path).await?;
    let report = CheckReport::new(&tenants, &config, &capacity);
    match format {
        CheckFormat::Text => report.print_text(),
        CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    let all_ready = tenants
        .iter()
        .flat_map(|tenant| tenant.registry.modules())
        .all(|entry| entry.state == ModuleState::Ready);
    Ok(if all_ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How long `hash-password` waits for its one hash.
const HASH_PASSWORD_DEADLINE: Duration = Duration::from_secs(60);

/// `modhost new`: makes the module and prints what to do next.
pub fn new_module(name: &str, language: Language, modules: &Path) -> Result<ExitCode> {
    let made = new_module::create(name, language, modules)?;
    println!("made {}", made.folder.display());
    println!("build it with `just guests`, then add to runtime.toml:\n");
    print!("{}", made.config_lines);
    Ok(ExitCode::SUCCESS)
}

/// Reads one line from stdin as a password and prints its argon2id hash,
/// made with the costs of the config at `config_path`.
pub async fn hash_password(config_path: &Path) -> Result<ExitCode> {
    let config = RuntimeConfig::load(config_path)?;
    let hashing = PasswordHashing::from_config(&config.passwords, &config.source)?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    let deadline = std::time::Instant::now() + HASH_PASSWORD_DEADLINE;
    let (hash, _) = hashing
        .hash(password, deadline)
        .await
        .map_err(|err| anyhow!("{err}"))?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}
