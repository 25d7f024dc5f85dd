//! What a module's config grants it: the capabilities that reach past the
//! module itself (its stored data, the cache, other modules, tokens the
//! host signs, the host's password hashing). Deny by default: `log`,
//! `config`, `clock` and `lifecycle` are always there; the rest only when
//! `grants` under `[modules.<name>]` names them. A capability reads the
//! grants once, when the module loads, and keeps nothing for a module that
//! is not granted it; a call then gets a `not-granted` error value.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::config::module_key;

/// One capability a module's config may grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum Grant {
    /// The `db` interface: the module's own collections.
    #[serde(rename = "db")]
    Db,
    /// The `cache` interface: the module's own keys.
    #[serde(rename = "cache")]
    Cache,
    /// The `modules` interface: calls to the modules it declared.
    #[serde(rename = "modules")]
    Modules,
    /// `auth.issue`: tokens signed by the host for the module's tenant.
    #[serde(rename = "auth.issue")]
    AuthIssue,
    /// `auth.hash-password` and `auth.verify-password`.
    #[serde(rename = "auth.passwords")]
    AuthPasswords,
}

/// The grants of one module.
pub type Grants = BTreeSet<Grant>;

impl Grant {
    /// Every grant.
    pub const ALL: [Grant; 5] = [
        Grant::Db,
        Grant::Cache,
        Grant::Modules,
        Grant::AuthIssue,
        Grant::AuthPasswords,
    ];

    /// The name the config uses for it.
    pub fn name(self) -> &'static str {
        match self {
            Grant::Db => "db",
            Grant::Cache => "cache",
            Grant::Modules => "modules",
            Grant::AuthIssue => "auth.issue",
            Grant::AuthPasswords => "auth.passwords",
        }
    }

    /// What a call of `module` of `tenant` without this grant is told.
    pub fn missing(self, tenant: &str, module: &str) -> String {
        let name = self.name();
        let table = module_key(tenant, module);
        format!(
            "module {module} is not granted {name}: the operator adds \"{name}\" to grants under [{table}]"
        )
    }

    /// The WIT interface the grant opens (the package's, without version).
    pub fn interface(self) -> &'static str {
        match self {
            Grant::Db => "modhost:module/db",
            Grant::Cache => "modhost:module/cache",
            Grant::Modules => "modhost:module/modules",
            Grant::AuthIssue | Grant::AuthPasswords => "modhost:module/auth",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_read_by_their_config_names() {
        #[derive(Deserialize)]
        struct Table {
            grants: Grants,
        }
        let text = r#"grants = ["db", "cache", "modules", "auth.issue", "auth.passwords"]"#;
        let table: Table = toml::from_str(text).unwrap();
        let names: Vec<&str> = table.grants.iter().map(|grant| grant.name()).collect();
        assert_eq!(
            names,
            ["db", "cache", "modules", "auth.issue", "auth.passwords"]
        );
        let unknown = toml::from_str::<Table>(r#"grants = ["database"]"#)
            .err()
            .unwrap();
        assert!(unknown.to_string().contains("expected one of"), "{unknown}");
    }
}
