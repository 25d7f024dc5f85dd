//! What `modhost check` prints: each module's state, dependencies, routes
//! and settled limits, in init order, and the host's worst-case memory
//! computed from the config; as text for people or JSON for scripts.

use serde::Serialize;

use crate::capacity::HostCapacity;
use crate::config::RuntimeConfig;
use crate::grants::{Grant, Grants};
use crate::host_state::DEFAULT_TENANT;
use crate::limits::ModuleLimits;
use crate::registry::{ModuleEntry, ModuleRegistry, ModuleState};
use crate::tenants::Tenants;

/// How `check` prints its report.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CheckFormat {
    /// Lines for people.
    Text,
    /// One JSON object.
    Json,
}

/// The report of one `check`.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// Every module, tenant by tenant (the default one first): those that
    /// declared themselves in init order (dependencies first), then the
    /// others.
    pub modules: Vec<ModuleReport>,
    /// Component instances the pool holds.
    pub instances: u32,
    /// The most memory the host can use, from the config.
    pub worst_case_memory_bytes: u64,
    /// That bound, by what holds it.
    pub memory: crate::capacity::MemoryBound,
}

/// One module in the report.
#[derive(Debug, Serialize)]
pub struct ModuleReport {
    /// Its name.
    pub name: String,
    /// Its tenant.
    pub tenant: String,
    /// `ready` or `failed`.
    pub state: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The modules it depends on.
    pub dependencies: Vec<String>,
    /// Its routes as `METHOD /path`.
    pub routes: Vec<String>,
    /// What its config grants it.
    pub grants: Vec<&'static str>,
    /// The interfaces its component imports, each with whether a grant
    /// it lacks keeps it closed.
    pub imports: Vec<Import>,
    /// Its limits with every default applied.
    pub limits: ModuleLimits,
}

impl CheckReport {
    /// The report of `tenants` loaded from `config`.
    pub fn new(tenants: &Tenants, config: &RuntimeConfig, capacity: &HostCapacity) -> Self {
        let views = config.tenant_views();
        let modules = tenants
            .iter()
            .flat_map(|tenant| {
                // Every tenant loaded is one of the config's.
                let view = views
                    .iter()
                    .find(|view| view.tenant == tenant.name)
                    .expect("a tenant of the config");
                tenant_report(&tenant.registry, view)
            })
            .collect();
        Self {
            modules,
            instances: capacity.pool_instances,
            worst_case_memory_bytes: capacity.memory.total_bytes,
            memory: capacity.memory.clone(),
        }
    }

    /// Prints the report as lines for people.
    pub fn print_text(&self) {
        println!("init order (dependencies first):");
        for module in &self.modules {
            module.print_text();
        }
        let memory = &self.memory;
        println!(
            "worst-case memory: {} (guests {}, request bodies {}, connections {}, queries {}, cache {}, runtime {}); {} instances",
            mib(memory.total_bytes),
            mib(memory.guest_bytes),
            mib(memory.request_body_bytes),
            mib(memory.connection_bytes),
            mib(memory.query_bytes),
            mib(memory.cache_bytes),
            mib(memory.runtime_bytes),
            self.instances,
        );
    }
}

/// One interface a component imports.
#[derive(Debug, Serialize)]
pub struct Import {
    /// Its name, as the component names it.
    pub name: String,
    /// False when it needs a grant the module lacks: every call of it
    /// answers `not-granted`.
    pub granted: bool,
}

/// The modules of one tenant's `registry`, those that declared themselves
/// in init order first; `view` is the config of that tenant.
fn tenant_report(registry: &ModuleRegistry, view: &RuntimeConfig) -> Vec<ModuleReport> {
    let ordered = registry
        .init_order()
        .iter()
        .filter_map(|name| registry.get(name));
    let unordered = registry
        .modules()
        .filter(|entry| !registry.init_order().contains(&entry.name));
    ordered
        .chain(unordered)
        .map(|entry| {
            // Every module loaded is one of the config's.
            let grants = &view.modules[&entry.name].grants;
            let limits = view.module_limits(&entry.name);
            ModuleReport::new(entry, &view.tenant, limits, grants)
        })
        .collect()
}

impl ModuleReport {
    fn new(entry: &ModuleEntry, tenant: &str, limits: ModuleLimits, grants: &Grants) -> Self {
        let (state, reason) = match &entry.state {
            ModuleState::Ready => ("ready", None),
            ModuleState::Failed(reason) => ("failed", Some(reason.clone())),
        };
        let manifest = entry.manifest.as_ref();
        Self {
            name: entry.name.clone(),
            tenant: tenant.to_string(),
            state,
            reason,
            dependencies: manifest.map(|m| m.dependencies.clone()).unwrap_or_default(),
            routes: manifest
                .iter()
                .flat_map(|m| &m.routes)
                .map(|route| format!("{} {}", route.method, route.path))
                .collect(),
            grants: grants.iter().map(|grant| grant.name()).collect(),
            imports: entry
                .sandbox
                .iter()
                .flat_map(|sandbox| sandbox.imports())
                .map(|name| Import {
                    granted: is_open(&name, grants),
                    name,
                })
                .collect(),
            limits,
        }
    }

    fn print_text(&self) {
        let name = match self.tenant.as_str() {
            DEFAULT_TENANT => self.name.clone(),
            tenant => format!("{} (tenant {tenant})", self.name),
        };
        match &self.reason {
            None => println!("  ok      {name}"),
            Some(reason) => println!("  FAILED  {name}: {reason}"),
        }
        if !self.dependencies.is_empty() {
            println!("          depends on {}", self.dependencies.join(", "));
        }
        for route in &self.routes {
            println!("          route {route}");
        }
        let grants = match self.grants.as_slice() {
            [] => "none".to_string(),
            grants => grants.join(", "),
        };
        println!("          grants: {grants}");
        let imports: Vec<String> = self
            .imports
            .iter()
            .map(|import| match import.granted {
                true => import.name.clone(),
                false => format!("{} (not granted)", import.name),
            })
            .collect();
        if !imports.is_empty() {
            println!("          imports: {}", imports.join(", "));
        }
        let l = &self.limits;
        println!(
            "          limits: memory {} per instance, timeout {} ms, cpu {} ms, {} at once + {} queued, call depth {}, db {}, cache {}, log {} / {} lines per call, host calls {}",
            mib(l.memory_bytes as u64),
            l.timeout_ms,
            l.cpu_ms,
            l.max_concurrency,
            l.max_queue,
            l.max_call_depth,
            mib(l.db_bytes),
            mib(l.cache_bytes as u64),
            mib(l.log_bytes as u64),
            l.log_lines,
            mib(l.max_host_call_bytes as u64),
        );
    }
}

/// Whether the interface `import` is open to a module with `grants`: it
/// needs no grant, or one of those that open it is given.
fn is_open(import: &str, grants: &Grants) -> bool {
    let interface = import.split('@').next().unwrap_or(import);
    let opening: Vec<Grant> = Grant::ALL
        .into_iter()
        .filter(|grant| grant.interface() == interface)
        .collect();
    opening.is_empty() || opening.iter().any(|grant| grants.contains(grant))
}

/// Bytes as MiB with one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}
