//! Every configured module, its state, and the route table built from them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::bindings::Manifest;
use crate::routing::RouteTable;
use crate::sandbox::ModuleSandbox;

/// Whether a module serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleState {
    /// Loaded and initialised; its routes are served.
    Ready,
    /// Not serving, with the reason. Its routes (if it got far enough to
    /// declare them) answer 503 with that reason.
    Failed(String),
}

/// One configured module.
pub struct ModuleEntry {
    /// The name under `[modules.<name>]`.
    pub name: String,
    /// Its component file as clients may be shown it (see
    /// [`RuntimeConfig::shown_module_path`]).
    ///
    /// [`RuntimeConfig::shown_module_path`]: crate::config::RuntimeConfig::shown_module_path
    pub relative_source: PathBuf,
    /// What `describe` returned, once it has.
    pub manifest: Option<Manifest>,
    /// The module, ready to be called, once it has loaded.
    pub sandbox: Option<Arc<ModuleSandbox>>,
    /// Whether it serves.
    pub state: ModuleState,
}

/// All configured modules by name, and the routes of those that declared any.
pub struct ModuleRegistry {
    modules: BTreeMap<String, ModuleEntry>,
    routes: RouteTable,
    init_order: Vec<String>,
}

impl ModuleRegistry {
    /// A registry of `modules` served through `routes`, initialised in
    /// `init_order`.
    pub fn new(
        modules: BTreeMap<String, ModuleEntry>,
        routes: RouteTable,
        init_order: Vec<String>,
    ) -> Self {
        Self {
            modules,
            routes,
            init_order,
        }
    }

    /// The modules that declared themselves, dependencies first: the order
    /// `init` ran in.
    pub fn init_order(&self) -> &[String] {
        &self.init_order
    }

    /// The module called `name`.
    pub fn get(&self, name: &str) -> Option<&ModuleEntry> {
        self.modules.get(name)
    }

    /// Every module, by name.
    pub fn modules(&self) -> impl Iterator<Item = &ModuleEntry> {
        self.modules.values()
    }

    /// The route table.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }
}
