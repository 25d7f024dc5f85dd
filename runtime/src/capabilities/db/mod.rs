//! `db`: the module's own document collections. JSON text from the guest is
//! parsed here; the collection name becomes a namespace of the calling
//! module's scope, so nothing the guest passes reaches another's data.

mod backend;
mod calls;
mod errors;
#[cfg(test)]
mod tests;

use std::time::Instant;

use anyhow::anyhow;
use modhost_docstore::{DocumentStore, Scope};
use wasmtime::component::{HasData, Linker};

use crate::bindings::modhost::module::db as wit;
use crate::capabilities::{Capability, ModuleSetup};
use crate::config::RuntimeConfig;
use crate::grants::Grant;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;

/// The `db` capability.
pub struct Db;

/// The database as one module sees it.
pub struct ModuleDb {
    store: DocumentStore,
    /// The module's place in the store: its tenant and name, and its quota.
    scope: Scope,
}

/// What one host call of `db` reaches: the module's scope (none when the
/// module is not granted `db`), its limits and the request's deadline.
pub struct DbView<'a> {
    db: Option<&'a ModuleDb>,
    module: &'a str,
    tenant: &'a str,
    limits: &'a ModuleLimits,
    deadline: Instant,
}

impl HasData for Db {
    type Data<'a> = DbView<'a>;
}

impl Capability for Db {
    type Host = DocumentStore;
    type Module = Option<ModuleDb>;
    type Call = ();

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, Db>(linker, |state| DbView {
            db: state.module.capabilities.db.as_ref(),
            module: &state.module.name,
            tenant: &state.module.tenant,
            limits: &state.module.limits,
            deadline: state.budget.deadline,
        })
    }

    async fn start(config: &RuntimeConfig) -> anyhow::Result<DocumentStore> {
        backend::open(config).await
    }

    async fn check_ready(store: &DocumentStore) -> Result<(), String> {
        store.ping().await.map_err(|err| err.to_string())
    }

    /// The module's scope in the store; none when it is not granted `db`.
    fn for_module(
        store: &DocumentStore,
        module: &ModuleSetup<'_>,
    ) -> anyhow::Result<Option<ModuleDb>> {
        if !module.grants.contains(&Grant::Db) {
            return Ok(None);
        }
        let scope = Scope::new(module.tenant, module.name)
            .map_err(|err| anyhow!("module {}: {err}", module.name))?
            .with_max_bytes(module.limits.db_bytes);
        Ok(Some(ModuleDb {
            store: store.clone(),
            scope,
        }))
    }

    fn for_call(_module: &Option<ModuleDb>, _limits: &ModuleLimits) {}
}
