//! Whose data a call reaches: a collection of one module of one tenant.
//! Names are checked here, so no name a guest passes can reach another
//! scope's data on any backend. A scope may carry a quota of stored bytes,
//! enforced by the embedded store.

use crate::error::{DbError, DbResult};

/// The tenant and module a guest's calls are confined to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    tenant: String,
    module: String,
    max_bytes: Option<u64>,
}

/// One collection inside a scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    /// The tenant that owns it.
    pub tenant: String,
    /// The module that owns it.
    pub module: String,
    /// The collection's own name.
    pub collection: String,
    /// The quota of the scope it is in.
    max_bytes: Option<u64>,
}

impl Scope {
    /// The scope of `module` under `tenant`. Both are names the runtime
    /// checked (`a-z`, `0-9`, `_`, `-`); anything else is refused.
    pub fn new(tenant: &str, module: &str) -> DbResult<Scope> {
        for (what, name) in [("tenant", tenant), ("module", module)] {
            let ok = (1..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !ok {
                return Err(DbError::InvalidName(format!(
                    "{what} name {name:?} is not valid: use 1 to 64 of a-z, 0-9, '_' and '-'"
                )));
            }
        }
        Ok(Scope {
            tenant: tenant.to_string(),
            module: module.to_string(),
            max_bytes: None,
        })
    }

    /// The same scope with a quota: its collections may hold at most
    /// `max_bytes` (each document's `_id` and JSON text, and its index
    /// entries). A write that would go over fails with
    /// [`DbError::QuotaExceeded`]; deletes are always allowed. Without a
    /// quota a scope may grow until the disk is full. Enforced by the
    /// embedded store only: on MongoDB the server's own quotas apply.
    pub fn with_max_bytes(self, max_bytes: u64) -> Scope {
        Scope {
            max_bytes: Some(max_bytes),
            ..self
        }
    }

    /// The namespace of `collection` in this scope, when the name is valid:
    /// 1 to 64 of `A-Z a-z 0-9 _ -`, so it can hold no separator.
    pub fn collection(&self, collection: &str) -> DbResult<Namespace> {
        let ok = (1..=64).contains(&collection.len())
            && collection
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(DbError::InvalidName(format!(
                "collection name {collection:?} is not valid: use 1 to 64 of A-Z, a-z, 0-9, '_' and '-'"
            )));
        }
        Ok(Namespace {
            tenant: self.tenant.clone(),
            module: self.module.clone(),
            collection: collection.to_string(),
            max_bytes: self.max_bytes,
        })
    }
}

impl Namespace {
    /// `tenant/module/collection`: unique per collection, since no part can
    /// hold a `/`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.tenant, self.module, self.collection)
    }

    /// `tenant/module`: unique per scope, and the start of [`Namespace::key`]
    /// of each of its collections.
    pub(crate) fn scope_key(&self) -> String {
        format!("{}/{}", self.tenant, self.module)
    }

    /// The quota of its scope, if it has one.
    pub(crate) fn max_bytes(&self) -> Option<u64> {
        self.max_bytes
    }
}
