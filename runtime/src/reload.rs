//! Hot deploy: the config is read again and its modules loaded beside the
//! set being served (files whose bytes did not change are not compiled
//! again, modules that keep their concurrency keep their slots), checked
//! (every module must load and `init`, routes must not clash, no
//! dependency may be missing or cyclic), and swapped in whole. Requests in
//! flight finish on the set they started with; the next ones go to the
//! new one. A set that fails leaves the old one serving, and the reason,
//! naming the module or the key, goes to the log, to `POST /admin/reload`'s
//! answer and to `modhost_reloads_total{outcome="failed"}`.
//!
//! What the host was started with (the listener, the backends, keys, the
//! instance pool) stays: a reload that changes those sections is refused,
//! saying a restart applies them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};
use wasmtime::Engine;

use crate::auth::Gate;
use crate::capabilities::HostCapabilities;
use crate::capacity::HostCapacity;
use crate::compiled_components::CompiledComponents;
use crate::config::RuntimeConfig;
use crate::host_status::{HostStatus, Phase};
use crate::loader::{self, Previous};
use crate::registry::ModuleState;
use crate::server::{Deployment, HttpService};
use crate::tenants::Tenants;

/// A reload asked for, by a signal, the admin endpoint or the watcher.
pub struct ReloadRequest {
    /// What asked, for the log.
    pub cause: &'static str,
    /// Where the outcome goes, when someone waits for it.
    pub reply: Option<oneshot::Sender<Result<String, String>>>,
}

/// How many reloads may wait while one runs; more are dropped, since a
/// waiting reload will read the latest files anyway.
pub const QUEUED_RELOADS: usize = 4;

/// Reloads the config at `config_path` into `service`, one at a time.
pub struct Reloader {
    config_path: PathBuf,
    started: RestartOnly,
    engine: Engine,
    capacity: HostCapacity,
    capabilities: Arc<HostCapabilities>,
    service: Arc<HttpService>,
    status: Arc<HostStatus>,
    /// The components of the set being served.
    components: CompiledComponents,
    /// Sets replaced earlier, alive while requests still run on them.
    retired: Vec<Weak<Deployment>>,
}

/// What the host was started with, for a reload to compare against.
pub struct Started {
    /// The config as the host read it at start.
    pub config: RuntimeConfig,
    /// The engine, built for `capacity`.
    pub engine: Engine,
    /// What the engine's instance pool holds.
    pub capacity: HostCapacity,
    /// Every capability, started once.
    pub capabilities: Arc<HostCapabilities>,
}

impl Reloader {
    /// A reloader for the host `started` from `config_path`, serving
    /// through `service` the set whose components are `components`.
    pub fn new(
        config_path: PathBuf,
        started: Started,
        service: Arc<HttpService>,
        status: Arc<HostStatus>,
        components: CompiledComponents,
    ) -> Self {
        Self {
            config_path,
            started: RestartOnly::of(&started.config),
            engine: started.engine,
            capacity: started.capacity,
            capabilities: started.capabilities,
            service,
            status,
            components,
            retired: Vec::new(),
        }
    }

    /// Serves `requests` one after another until every sender is gone.
    pub async fn run(mut self, mut requests: mpsc::Receiver<ReloadRequest>) {
        while let Some(request) = requests.recv().await {
            let outcome = self.reload(request.cause).await;
            if let Some(reply) = request.reply {
                let _ = reply.send(outcome);
            }
        }
    }

    /// Reloads once; the summary of the new set, or why the old one stays.
    async fn reload(&mut self, cause: &str) -> Result<String, String> {
        tracing::info!(config = %self.config_path.display(), "{cause}: reloading");
        if !self.status.shift(Phase::Serving, Phase::Reloading) {
            return Err("the host is shutting down".into());
        }
        let outcome = self.load_and_swap().await;
        self.status.shift(Phase::Reloading, Phase::Serving);
        match &outcome {
            Ok(summary) => {
                crate::metrics::host().reload("succeeded");
                tracing::info!("reloaded: {summary}");
            }
            Err(why) => {
                crate::metrics::host().reload("failed");
                tracing::error!("reload failed; the previous modules keep serving: {why}");
            }
        }
        outcome
    }

    async fn load_and_swap(&mut self) -> Result<String, String> {
        let config = RuntimeConfig::load(&self.config_path).map_err(|err| format!("{err:#}"))?;
        self.started.check_unchanged(&config)?;
        let serving = self
            .service
            .deployment()
            .ok_or("nothing is served yet to reload")?;
        self.check_fits(&config, &serving.tenants)?;
        let gate = Gate::from_config(&config).map_err(|err| format!("{err:#}"))?;
        let previous = Previous {
            components: &self.components,
            tenants: &serving.tenants,
        };
        let progress = self.status.progress();
        let loaded = loader::load_deployment(
            &config,
            &self.engine,
            &self.capabilities,
            progress,
            Some(previous),
        )
        .await
        .map_err(|err| format!("{err:#}"))?;
        let failed: Vec<String> = loaded
            .tenants
            .iter()
            .flat_map(|tenant| {
                tenant
                    .registry
                    .modules()
                    .filter_map(|entry| match &entry.state {
                        ModuleState::Failed(reason) => Some(format!(
                            "module {} of tenant {}: {reason}",
                            entry.name, tenant.name
                        )),
                        ModuleState::Ready => None,
                    })
            })
            .collect();
        if !failed.is_empty() {
            return Err(failed.join("; "));
        }
        let modules: usize = loaded
            .tenants
            .iter()
            .map(|tenant| tenant.registry.modules().count())
            .sum();
        let tenants = loaded.tenants.iter().count();
        self.service.install(Deployment {
            tenants: loaded.tenants,
            gate,
        });
        self.retired.push(Arc::downgrade(&serving));
        self.components = loaded.components;
        Ok(format!("{modules} modules of {tenants} tenants"))
    }

    /// Refuses a config whose modules need more than the engine was built
    /// for: larger memories, or more instances at once than the pool holds
    /// while the old sets drain (the new set's concurrency, the serving
    /// set's for the modules that do not keep their slots, and all of any
    /// earlier set still finishing requests).
    fn check_fits(&mut self, config: &RuntimeConfig, serving: &Tenants) -> Result<(), String> {
        let file = config.source.display();
        let needed = HostCapacity::of(config, 0);
        if needed.max_memory_bytes > self.capacity.max_memory_bytes {
            return Err(format!(
                "{file}: a module's memory_bytes is {}, larger than the {} the instance pool was built for at start; restart modhost to apply it",
                needed.max_memory_bytes, self.capacity.max_memory_bytes
            ));
        }
        let slots: HashMap<(String, String), (u32, u32, bool)> = config
            .tenant_views()
            .iter()
            .flat_map(|view| {
                view.modules.iter().map(move |(name, module)| {
                    let limits = view.module_limits(name);
                    let reused = module.instance_reuse.is_some();
                    let key = (view.tenant.clone(), name.clone());
                    (key, (limits.max_concurrency, limits.max_queue, reused))
                })
            })
            .collect();
        let draining: u64 = serving
            .iter()
            .flat_map(|tenant| tenant.registry.modules().map(move |entry| (tenant, entry)))
            .filter_map(|(tenant, entry)| {
                let context = entry.sandbox.as_ref()?.context();
                let key = (tenant.name.clone(), entry.name.clone());
                // Warm instances of a reusing module are its own sandbox's:
                // the old set's stay until it is dropped.
                let keeps_slots = slots.get(&key).is_some_and(|(concurrency, queue, reused)| {
                    !reused
                        && context.instance_reuse.is_none()
                        && context.admission.has_shape(*concurrency, *queue)
                });
                (!keeps_slots).then(|| context.admission.max_concurrency() as u64)
            })
            .sum();
        // Sets replaced by earlier reloads that still finish requests may
        // run all their modules' slots.
        self.retired.retain(|set| set.strong_count() > 0);
        let retired: u64 = self
            .retired
            .iter()
            .filter_map(Weak::upgrade)
            .flat_map(|set| {
                set.tenants
                    .iter()
                    .flat_map(|tenant| tenant.registry.modules())
                    .filter_map(|entry| entry.sandbox.as_ref())
                    .map(|sandbox| sandbox.context().admission.max_concurrency() as u64)
                    .collect::<Vec<_>>()
            })
            .sum();
        let draining = draining + retired;
        let total = u64::from(needed.instances) + draining;
        if total > u64::from(self.capacity.pool_instances) {
            return Err(format!(
                "{file}: the new modules may run {} instances at once and the old set's modules that change their slots {draining} more while it drains: {total}, more than the {} the instance pool holds; raise [pool] reload_instances and restart, or reload in smaller steps",
                needed.instances, self.capacity.pool_instances
            ));
        }
        Ok(())
    }
}

/// The sections of a config that only a restart applies, as text.
struct RestartOnly(Vec<(&'static str, String)>);

impl RestartOnly {
    fn of(config: &RuntimeConfig) -> Self {
        // Their Debug text stands for their value: every field of these
        // sections derives Debug, and a change to any shows in it.
        Self(vec![
            ("server", format!("{:?}", config.server)),
            ("db", format!("{:?}", config.db)),
            ("cache", format!("{:?}", config.cache)),
            ("auth", format!("{:?}", config.auth)),
            ("compile_cache", format!("{:?}", config.compile_cache)),
            ("passwords", format!("{:?}", config.passwords)),
            ("pool", format!("{:?}", config.pool)),
            ("metrics", format!("{:?}", config.metrics)),
        ])
    }

    /// Refuses `config` if it changes any of these sections.
    fn check_unchanged(&self, config: &RuntimeConfig) -> Result<(), String> {
        let now = RestartOnly::of(config);
        let changed: Vec<String> = self
            .0
            .iter()
            .zip(&now.0)
            .filter(|(before, after)| before.1 != after.1)
            .map(|((section, _), _)| format!("[{section}]"))
            .collect();
        if changed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}: {} changed, which a reload does not apply (a reload changes [modules], [tenants] and [sandbox]); restart modhost to apply it, or undo the change",
                config.source.display(),
                changed.join(", ")
            ))
        }
    }
}
