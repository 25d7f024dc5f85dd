//! The modules that other modules may call, published one by one as their
//! `init` succeeds, so a module's `init` can already call its dependencies
//! (which are initialised first) and nothing can call a module that is not
//! up.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::routing::RouteTable;
use crate::sandbox::ModuleSandbox;

/// A module that serves calls: its sandbox and a route table of its own
/// routes only, so a call can never land on another module.
pub struct CallTarget {
    /// The callee.
    pub sandbox: Arc<ModuleSandbox>,
    /// The callee's own routes.
    pub routes: RouteTable,
}

/// Every module that is up, by tenant and name: a module reaches only
/// its own tenant's.
#[derive(Default)]
pub struct CallableModules {
    targets: RwLock<HashMap<(String, String), Arc<CallTarget>>>,
}

impl CallableModules {
    /// Makes `name` of `tenant` callable.
    pub fn publish(&self, tenant: &str, name: &str, target: CallTarget) {
        self.targets
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert((tenant.to_string(), name.to_string()), Arc::new(target));
    }

    /// The module `name` of `tenant`, if it is up.
    pub fn get(&self, tenant: &str, name: &str) -> Option<Arc<CallTarget>> {
        self.targets
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&(tenant.to_string(), name.to_string()))
            .cloned()
    }
}
