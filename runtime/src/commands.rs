//! What the command line runs: `serve`, `check` and `hash-password`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use wasmtime::Engine;

use crate::auth::{Gate, PasswordHashing};
use crate::capabilities::HostCapabilities;
use crate::capacity::HostCapacity;
use crate::check_report::{CheckFormat, CheckReport};
use crate::config::RuntimeConfig;
use crate::host_status::{HostStatus, LoadProgress, Phase};
use crate::listener::{ConnectionLimits, OpenConnections};
use crate::loader::Loaded;
use crate::new_module::{self, Language};
use crate::registry::ModuleState;
use crate::reload::{QUEUED_RELOADS, ReloadRequest, Reloader, Started};
use crate::server::{Deployment, Door, HttpService};
use crate::shutdown::{IMMEDIATE_EXIT_CODE, StopSignals};
use crate::{engine, listener, loader};

/// A config read, with what its modules need before they load: the auth
/// keys, the engine sized for the capacity it asks for, and every
/// capability started.
struct Prepared {
    config: RuntimeConfig,
    capacity: HostCapacity,
    engine: Engine,
    capabilities: Arc<HostCapabilities>,
    gate: Gate,
}

impl Prepared {
    /// Reads the config at `config_path` and starts what it needs.
    async fn read(config_path: &Path) -> Result<Self> {
        let config = RuntimeConfig::load(config_path)?;
        // Keys first: a key that cannot be read stops the start before any
        // module is compiled.
        let gate = Gate::from_config(&config)?;
        let capacity = HostCapacity::of(&config, component_bytes(&config));
        let engine = engine::build_engine(&capacity)
            .with_context(|| format!("{}", config.source.display()))?;
        let capabilities = Arc::new(HostCapabilities::start(&config).await?);
        Ok(Self {
            config,
            capacity,
            engine,
            capabilities,
            gate,
        })
    }

    /// Loads every module, counting compiled components on `progress`.
    async fn load(&self, progress: &LoadProgress) -> Result<Loaded> {
        loader::load_deployment(
            &self.config,
            &self.engine,
            &self.capabilities,
            progress,
            None,
        )
        .await
    }
}

/// How `serve` runs: its addresses and whether it watches its files.
pub struct ServeOptions {
    /// Overrides `server.listen`.
    pub listen: Option<SocketAddr>,
    /// Overrides `server.admin_listen`.
    pub admin_listen: Option<SocketAddr>,
    /// Reload when the config or a component file changes.
    pub watch: bool,
}

/// Serves the modules of the config at `config_path` over HTTP on the
/// public address, and the operator's endpoints on the admin address if
/// any; reloads on SIGHUP, `POST /admin/reload` and (with `watch`) a
/// changed file; runs until SIGTERM or SIGINT, then stops gracefully (see
/// [`drain`]).
pub async fn serve(config_path: &Path, options: ServeOptions) -> Result<ExitCode> {
    let mut signals = StopSignals::install()?;
    let mut hangups = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let prepared = Prepared::read(config_path).await?;
    let server = prepared.config.server.clone();
    let limits = ConnectionLimits::of(&server);
    let status = Arc::new(HostStatus::default());
    let (reloads, reload_requests) = mpsc::channel(QUEUED_RELOADS);
    let service = Arc::new(HttpService::new(
        status.clone(),
        prepared.capabilities.clone(),
        reloads.clone(),
        server.max_body_bytes,
        Duration::from_millis(server.body_timeout_ms),
    ));
    let (stop, stopped) = watch::channel(false);
    // Bound before the modules load, so the probes answer (not ready) and a
    // port taken fails at once.
    let public = bind_door(options.listen.unwrap_or(server.listen), &limits, "--listen")?;
    let public_addr = public.local_addr()?;
    let mut doors = vec![tokio::spawn(listener::serve(
        public,
        service.clone(),
        Door::Public,
        limits.clone(),
        stopped.clone(),
    ))];
    if let Some(addr) = options.admin_listen.or(server.admin_listen) {
        let admin = bind_door(addr, &limits, "--admin-listen")?;
        // Printed on stdout, like the public address below.
        println!("modhost admin on http://{}", admin.local_addr()?);
        let open = listener::serve(admin, service.clone(), Door::Admin, limits, stopped);
        doors.push(tokio::spawn(open));
    }
    tracing::info!(
        "accepting connections on {public_addr}; loading the modules of {}",
        prepared.config.source.display()
    );
    let loaded = tokio::select! {
        loaded = prepared.load(status.progress()) => loaded?,
        signal = signals.next() => {
            tracing::info!("{signal} while loading; stopping");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let modules: usize = loaded
        .tenants
        .iter()
        .map(|tenant| tenant.registry.modules().count())
        .sum();
    service.install(Deployment {
        tenants: loaded.tenants,
        gate: prepared.gate,
    });
    status.set_phase(Phase::Serving);
    let started = Started {
        config: prepared.config,
        engine: prepared.engine,
        capacity: prepared.capacity,
        capabilities: prepared.capabilities,
    };
    let reloader = Reloader::new(
        config_path.to_path_buf(),
        started,
        service.clone(),
        status.clone(),
        loaded.components,
    );
    tokio::spawn(reloader.run(reload_requests));
    if options.watch {
        tokio::spawn(crate::watch::watch(
            config_path.to_path_buf(),
            reloads.clone(),
        ));
    }
    tracing::info!(modules, "ready: serving on http://{public_addr}");
    // Printed on stdout so scripts and tests can find a port picked with :0.
    println!("modhost listening on http://{public_addr}");
    let signal = loop {
        tokio::select! {
            signal = signals.next() => break signal,
            _ = hangups.recv() => {
                let request = ReloadRequest { cause: "SIGHUP", reply: None };
                if reloads.try_send(request).is_err() {
                    tracing::info!("SIGHUP: a reload is already waiting");
                }
            }
        }
    };
    let grace = Duration::from_millis(server.shutdown_grace_ms);
    Ok(drain(signal, &status, stop, doors, grace, &mut signals).await)
}

/// Binds one listener, or says which address could not be had and how to
/// pass another.
fn bind_door(addr: SocketAddr, limits: &ConnectionLimits, flag: &str) -> Result<TcpListener> {
    listener::bind(addr, limits.max_connections)
        .with_context(|| format!("cannot listen on {addr}: pass another address with {flag}"))
}

/// The graceful stop after `signal`: readiness turns false, the listeners
/// close (new connections are refused), every connection finishes its
/// request in flight and closes; after `grace` the host exits anyway, and
/// a second signal exits at once with [`IMMEDIATE_EXIT_CODE`]. Every write
/// a module made was committed before its request was answered, so there
/// is nothing left to flush; the backends' connections close with the
/// process.
async fn drain(
    signal: &str,
    status: &HostStatus,
    stop: watch::Sender<bool>,
    doors: Vec<JoinHandle<Result<OpenConnections>>>,
    grace: Duration,
    signals: &mut StopSignals,
) -> ExitCode {
    status.set_phase(Phase::Draining);
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        "{signal}: stopping; no new connections, finishing the requests in flight"
    );
    let _ = stop.send(true);
    let mut open = Vec::new();
    for door in doors {
        match door.await {
            Ok(Ok(connections)) => open.push(connections),
            Ok(Err(err)) => tracing::warn!("a listener ended with an error: {err:#}"),
            Err(err) => tracing::warn!("a listener's task ended early: {err}"),
        }
    }
    let all_closed = async {
        for connections in &open {
            connections.closed().await;
        }
    };
    tokio::select! {
        _ = all_closed => tracing::info!("every request finished; exiting"),
        _ = tokio::time::sleep(grace) => {
            let still: usize = open.iter().map(OpenConnections::still_open).sum();
            tracing::warn!(
                connections = still,
                "server.shutdown_grace_ms passed with {still} connections open; exiting"
            );
        }
        again = signals.next() => {
            tracing::warn!("{again} during the graceful stop: exiting at once");
            // Returning ends the process: the runtime is dropped with the
            // connections still open (main waits for nothing but the log).
            return ExitCode::from(IMMEDIATE_EXIT_CODE);
        }
    }
    ExitCode::SUCCESS
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
    let prepared = Prepared::read(config_path).await?;
    let tenants = prepared.load(&LoadProgress::default()).await?.tenants;
    let report = CheckReport::new(&tenants, &prepared.config, &prepared.capacity);
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
