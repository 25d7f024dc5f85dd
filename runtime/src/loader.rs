//! From `runtime.toml` to a registry of running modules: read each `.wasm`,
//! compile it, check it against the world, ask it to `describe` itself,
//! build the route table and call `init` in dependency order.
//!
//! A module that fails to load is marked failed with its reason and the
//! others go on; routes that clash are a startup error, because serving
//! either module's route would silently hide the other's.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Result, bail};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::admission::Admission;
use crate::auth::check_roles;
use crate::bindings::Manifest;
use crate::callable_modules::{CallTarget, CallableModules};
use crate::capabilities::{self, HostCapabilities};
use crate::compile_cache::CompileCache;
use crate::compiled_components::CompiledComponents;
use crate::config::{RuntimeConfig, check_module_name};
use crate::dependency_graph;
use crate::host_state::{Deploying, HostState, ModuleContext};
use crate::host_status::LoadProgress;
use crate::limits::ModuleLimits;
use crate::long_calls::LongCallLane;
use crate::registry::{ModuleEntry, ModuleRegistry, ModuleState};
use crate::routing::{DeclaredRoute, RoutePattern, RouteTable};
use crate::sandbox::ModuleSandbox;
use crate::tenant_quota::TenantQuota;
use crate::tenants::{Tenant, Tenants};

/// Loads and initialises every module of every tenant of `config`.
///
/// Returns an error only for what stops the whole runtime (clashing or
/// reserved routes, a dependency cycle); a module's own failure, or that of
/// a dependency, is recorded in its entry.
pub async fn load_deployment(
    config: &RuntimeConfig,
    engine: &Engine,
    capabilities: &HostCapabilities,
    progress: &LoadProgress,
    previous: Option<Previous<'_>>,
) -> Result<Loaded> {
    let mut linker = Linker::new(engine);
    capabilities::add_to_linker(&mut linker)?;
    let long_calls =
        LongCallLane::for_workers(tokio::runtime::Handle::current().metrics().num_workers());
    let compile_cache = CompileCache::new(&config.compile_cache, config.folder());
    let views = config.tenant_views();
    let reusable = previous.map(|previous| previous.components);
    let components =
        CompiledComponents::compile(&views, engine, &compile_cache, progress, reusable).await;
    // This load's own directory: a reload's modules never call the
    // modules of the set they replace, nor those of one that failed.
    let callable = Arc::new(CallableModules::default());
    let mut tenants = Vec::new();
    for view in &views {
        let loader = Loader {
            config: view,
            linker: &linker,
            long_calls: long_calls.clone(),
            capabilities,
            callable: &callable,
            components: &components,
            serving: previous.map(|previous| previous.tenants),
            progress,
        };
        let registry = loader.load_tenant().await?;
        let quota = match &view.quota {
            Some(quota) => Some(TenantQuota::new(
                quota,
                &view.tenant,
                capabilities.cache.shared_redis(),
                &view.quota_key(),
                &config.source.display().to_string(),
            )?),
            None => None,
        };
        tenants.push(Tenant::new(config, &view.tenant, registry, quota));
    }
    Ok(Loaded {
        tenants: Tenants::new(tenants, callable),
        components,
    })
}

/// What a load made.
pub struct Loaded {
    /// The tenants and their modules, to serve.
    pub tenants: Tenants,
    /// Every component it compiled, which the next reload reuses for the
    /// files that did not change.
    pub components: CompiledComponents,
}

/// What a reload takes from the set it replaces.
#[derive(Clone, Copy)]
pub struct Previous<'a> {
    /// Its components: a file whose bytes did not change is not compiled again.
    pub components: &'a CompiledComponents,
    /// Its tenants: a module that stays with the same concurrency keeps
    /// its slots, so the old and the new set together never run more of
    /// it at once than its limit.
    pub tenants: &'a Tenants,
}

impl Loader<'_> {
    /// Loads and initialises the modules of this loader's tenant.
    async fn load_tenant(&self) -> Result<ModuleRegistry> {
        let config = self.config;
        let mut modules = BTreeMap::new();
        for name in config.modules.keys() {
            let entry = self.load_entry(name).await?;
            if entry.manifest.is_none() {
                // Failed before describing itself: not in the init order.
                self.progress.module_done();
            }
            modules.insert(name.clone(), entry);
        }
        let callable = self.callable;
        let routes = build_route_table(&modules, config)?;
        let declared: BTreeMap<String, Vec<String>> = modules
            .values()
            .filter_map(|entry| {
                let manifest = entry.manifest.as_ref()?;
                Some((entry.name.clone(), manifest.dependencies.clone()))
            })
            .collect();
        let order = dependency_graph::init_order(&declared)
            .map_err(|cycle| anyhow::anyhow!("{}: {cycle}", config.source.display()))?;
        for name in &order {
            match unavailable_dependency(&modules, &declared[name], config) {
                Some(reason) => {
                    tracing::error!(module = %name, "module failed: {reason}");
                    let entry = modules.get_mut(name).expect("ordered modules are loaded");
                    entry.state = ModuleState::Failed(reason);
                }
                None => {
                    let entry = modules.get_mut(name).expect("ordered modules are loaded");
                    initialise(entry).await;
                    publish_if_ready(callable, entry, config);
                }
            }
            self.progress.module_done();
        }
        Ok(ModuleRegistry::new(modules, routes, order))
    }
}

/// Why a module cannot start for want of a dependency: the first one that is
/// not configured or not ready.
fn unavailable_dependency(
    modules: &BTreeMap<String, ModuleEntry>,
    dependencies: &[String],
    config: &RuntimeConfig,
) -> Option<String> {
    dependencies
        .iter()
        .find_map(|dependency| match modules.get(dependency) {
            None => Some(format!(
                "its dependency {dependency} is not configured; add [{}] to {}",
                config.module_key(dependency),
                config.source.display()
            )),
            Some(entry) => match &entry.state {
                ModuleState::Ready => None,
                ModuleState::Failed(_) => Some(format!("its dependency {dependency} failed")),
            },
        })
}

/// What loading the modules of one tenant needs; all but the config (a
/// view of the tenant) is shared by every tenant.
struct Loader<'a> {
    config: &'a RuntimeConfig,
    linker: &'a Linker<HostState>,
    /// The worker threads long-running guest calls take turns on.
    long_calls: LongCallLane,
    capabilities: &'a HostCapabilities,
    /// The modules of this load that serve calls, as they come up.
    callable: &'a Arc<CallableModules>,
    /// Every component of the deployment, compiled.
    components: &'a CompiledComponents,
    /// The tenants being served, when this is a reload.
    serving: Option<&'a Tenants>,
    /// Where the modules loaded are counted.
    progress: &'a LoadProgress,
}

impl Loader<'_> {
    /// The slots of module `name`: those of the module being served under
    /// that name in this tenant when it has the same concurrency and
    /// queue, else new ones.
    fn admission_of(&self, name: &str, limits: &ModuleLimits) -> Arc<Admission> {
        let serving = self
            .serving
            .and_then(|tenants| tenants.iter().find(|t| t.name == self.config.tenant))
            .and_then(|tenant| tenant.registry.get(name))
            .and_then(|entry| entry.sandbox.as_ref())
            .map(|sandbox| sandbox.context().admission.clone())
            .filter(|admission| admission.has_shape(limits.max_concurrency, limits.max_queue));
        serving
            .unwrap_or_else(|| Arc::new(Admission::new(limits.max_concurrency, limits.max_queue)))
    }

    /// Loads module `name` into an entry, ready or failed with the reason.
    /// The error is a startup error: a capability that cannot be set up for
    /// the module (its scope or cache keys refused, naming the module), or
    /// a component named as another module.
    async fn load_entry(&self, name: &str) -> Result<ModuleEntry> {
        let config = self.config;
        let module_config = &config.modules[name];
        let source = config.module_path(module_config);
        let shown = config.shown_module_path(module_config);
        let limits = config.module_limits(name);
        let admission = self.admission_of(name, &limits);
        let context = Arc::new(ModuleContext::new(
            name,
            &config.tenant,
            module_config,
            limits,
            Deploying {
                capabilities: self.capabilities,
                callable: self.callable,
                admission,
            },
            self.long_calls.clone(),
        )?);
        let described = match self.components.get(&source) {
            Ok(component) => describe(context.clone(), &component, &shown, self.linker).await,
            Err(reason) => Err(reason),
        };
        if let Ok((_, manifest)) = &described {
            check_not_named_as_another(name, &manifest.name, config)?;
        }
        let loaded = described.and_then(|(sandbox, manifest)| {
            check_manifest(name, &manifest)?;
            check_auth_configured(&manifest, config)?;
            // Set once, right after the only describe of this context.
            let _ = context.dependencies.set(manifest.dependencies.clone());
            Ok((sandbox, manifest))
        });
        Ok(match loaded {
            Ok((sandbox, manifest)) => {
                tracing::info!(
                    module = %name,
                    version = %manifest.version,
                    routes = manifest.routes.len(),
                    source = %source.display(),
                    "module loaded"
                );
                ModuleEntry {
                    name: name.to_string(),
                    relative_source: shown.clone(),
                    manifest: Some(manifest),
                    sandbox: Some(Arc::new(sandbox)),
                    state: ModuleState::Ready,
                }
            }
            Err(reason) => {
                // The reason is shown to clients (/health, /modules): it names
                // the file as the config does; the log has the full paths.
                let reason = format!("{reason} ({})", config.module_key(name));
                tracing::error!(
                    module = %name,
                    source = %source.display(),
                    config = %config.source.display(),
                    "module failed to load: {reason}"
                );
                ModuleEntry {
                    name: name.to_string(),
                    relative_source: shown.clone(),
                    manifest: None,
                    sandbox: None,
                    state: ModuleState::Failed(reason),
                }
            }
        })
    }
}

/// Links and describes one module's compiled component; the error is the
/// reason it failed, written for the operator.
async fn describe(
    context: Arc<ModuleContext>,
    component: &Component,
    source: &Path,
    linker: &Linker<HostState>,
) -> Result<(ModuleSandbox, Manifest), String> {
    let sandbox = ModuleSandbox::new(linker, component, context)
        .map_err(|err| format!("{} does not fit: {err}", source.display()))?;
    let manifest = sandbox
        .describe()
        .await
        .map_err(|err| format!("its describe export {err}"))?;
    Ok((sandbox, manifest))
}

/// A component that calls itself by the name of another configured module
/// would make two modules of one name: a startup error naming both tables.
fn check_not_named_as_another(
    configured: &str,
    claimed: &str,
    config: &RuntimeConfig,
) -> Result<()> {
    if claimed != configured && config.modules.contains_key(claimed) {
        let (theirs, ours) = (config.module_key(claimed), config.module_key(configured));
        bail!(
            "{}: two modules are named {claimed}: [{theirs}] and [{ours}], whose component also calls itself {claimed}; point [{ours}] at its own component",
            config.source.display()
        );
    }
    Ok(())
}

/// Checks what `describe` returned against the config: the names agree, and
/// the version and every route are well formed.
fn check_manifest(name: &str, manifest: &Manifest) -> Result<(), String> {
    if manifest.name != name {
        return Err(format!(
            "the component calls itself {:?}, but it is configured as {name:?}; rename its table to [modules.{}] (or [tenants.<t>.modules.{}]) or load the right file",
            manifest.name, manifest.name, manifest.name
        ));
    }
    check_module_name(&manifest.name)?;
    if manifest.version.trim().is_empty() {
        return Err("its manifest has an empty version".to_string());
    }
    for route in &manifest.routes {
        check_method(&route.method)?;
        RoutePattern::parse(&route.path)?;
        if let Some(auth) = &route.auth {
            check_roles(&format!("its route {}", route.path), &auth.roles)?;
        }
    }
    Ok(())
}

/// A route that needs a token can only be served when `[auth]` says how
/// to check one.
fn check_auth_configured(manifest: &Manifest, config: &RuntimeConfig) -> Result<(), String> {
    let needs_token = manifest.routes.iter().find(|route| route.auth.is_some());
    match (needs_token, &config.auth) {
        (Some(route), None) => Err(format!(
            "its route {} {} needs a bearer token, but {} has no [auth] section to check one; add [auth] with issuer, audience and [[auth.keys]]",
            route.method,
            route.path,
            config.source.display()
        )),
        _ => Ok(()),
    }
}

fn check_method(method: &str) -> Result<(), String> {
    let valid =
        method == "*" || (!method.is_empty() && method.chars().all(|c| c.is_ascii_uppercase()));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "its route method {method:?} is not valid: use an upper-case HTTP method or '*'"
        ))
    }
}

/// The routes a module declared, each needing a token (and the roles)
/// when its manifest or the operator's `[modules.<name>.auth]` says so:
/// one requirement per route, which the HTTP gate and module calls read.
fn declared_routes<'a>(
    entry: &'a ModuleEntry,
    config: &'a RuntimeConfig,
) -> impl Iterator<Item = DeclaredRoute> + 'a {
    let operator = config
        .modules
        .get(&entry.name)
        .and_then(|module| module.auth.as_ref())
        .filter(|auth| auth.required);
    entry.manifest.iter().flat_map(move |manifest| {
        manifest.routes.iter().map(move |route| {
            let declared = route.auth.as_ref().map(|auth| &auth.roles);
            let required = operator.map(|auth| &auth.roles);
            let auth = (declared.is_some() || required.is_some()).then(|| {
                declared
                    .into_iter()
                    .chain(required)
                    .flatten()
                    .cloned()
                    .collect()
            });
            DeclaredRoute {
                module: entry.name.clone(),
                method: route.method.clone(),
                pattern: RoutePattern::parse(&route.path).expect("checked by check_manifest"),
                auth,
            }
        })
    })
}

fn build_route_table(
    modules: &BTreeMap<String, ModuleEntry>,
    config: &RuntimeConfig,
) -> Result<RouteTable> {
    let routes = modules
        .values()
        .flat_map(|entry| declared_routes(entry, config));
    match RouteTable::build(routes) {
        Ok(table) => Ok(table),
        Err(err) => bail!("{err}"),
    }
}

/// Makes a module that came up callable by the modules that depend on it,
/// through a route table of its own routes.
fn publish_if_ready(callable: &CallableModules, entry: &ModuleEntry, config: &RuntimeConfig) {
    let (ModuleState::Ready, Some(sandbox)) = (&entry.state, &entry.sandbox) else {
        return;
    };
    match RouteTable::build(declared_routes(entry, config)) {
        Ok(routes) => callable.publish(
            &config.tenant,
            &entry.name,
            CallTarget {
                sandbox: sandbox.clone(),
                routes,
            },
        ),
        // The whole table was built from these routes already.
        Err(err) => unreachable!("a module's routes passed the global table: {err}"),
    }
}

/// Calls the module's `init`; a failure or trap marks it failed.
async fn initialise(entry: &mut ModuleEntry) {
    let Some(sandbox) = &entry.sandbox else {
        return;
    };
    let outcome = match sandbox.init().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(reason)) => Err(format!("init failed: {reason}")),
        // A trap's text stays in the log; the reason is shown to clients.
        Err(err) => {
            tracing::warn!(module = %entry.name, "init {err}");
            let why = if err.is_exhausted() {
                err.public()
            } else {
                "the guest trapped".to_string()
            };
            Err(format!("init failed: {why}; see the runtime log"))
        }
    };
    match outcome {
        Ok(()) => {
            // Set once; a second init of the same context cannot happen.
            let _ = sandbox.context().initialized_at.set(SystemTime::now());
            tracing::info!(module = %entry.name, "module initialised");
        }
        Err(reason) => {
            tracing::error!(module = %entry.name, "module failed: {reason}");
            entry.state = ModuleState::Failed(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::modhost::module::types::{Route, RouteAuth};

    fn manifest(name: &str, routes: &[(&str, &str)]) -> Manifest {
        Manifest {
            name: name.to_string(),
            version: "1.0.0".to_string(),
            description: String::new(),
            dependencies: Vec::new(),
            routes: routes
                .iter()
                .map(|(method, path)| Route {
                    method: method.to_string(),
                    path: path.to_string(),
                    auth: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_roles_a_route_requires_are_bounded() {
        let mut declared = manifest("m", &[("GET", "/a")]);
        let roles = |n: usize, name: &str| -> Option<RouteAuth> {
            Some(RouteAuth {
                roles: vec![name.to_string(); n],
            })
        };
        declared.routes[0].auth = roles(16, "admin");
        assert!(check_manifest("m", &declared).is_ok());
        declared.routes[0].auth = roles(17, "admin");
        let err = check_manifest("m", &declared).unwrap_err();
        assert!(err.contains("17 roles; at most 16"), "{err}");
        declared.routes[0].auth = roles(1, "");
        assert!(check_manifest("m", &declared).is_err());
        declared.routes[0].auth = roles(1, &"r".repeat(65));
        let err = check_manifest("m", &declared).unwrap_err();
        assert!(err.contains("1 to 64 bytes"), "{err}");
    }

    #[test]
    fn a_manifest_under_another_name_says_how_to_fix_the_config() {
        let err = check_manifest("users", &manifest("user_management", &[])).unwrap_err();
        assert!(err.contains("[modules.user_management]"), "{err}");
    }

    #[test]
    fn bad_routes_and_methods_are_named() {
        let err = check_manifest("m", &manifest("m", &[("GET", "no-slash")])).unwrap_err();
        assert!(err.contains("no-slash"), "{err}");
        let err = check_manifest("m", &manifest("m", &[("get", "/a")])).unwrap_err();
        assert!(err.contains("\"get\""), "{err}");
        assert!(check_manifest("m", &manifest("m", &[("*", "/a"), ("GET", "/b/:id")])).is_ok());
    }
}
