//! The tenants a host serves, each with its own modules, routes and
//! dependency order, and which one a request is for: by its host name and
//! path prefix, the most specific mount first (a tenant of the request's
//! host before one of every host, a longer prefix before a shorter one).

use crate::config::RuntimeConfig;
use crate::host_state::DEFAULT_TENANT;
use crate::registry::ModuleRegistry;

/// One tenant: where it is mounted, and its modules.
pub struct Tenant {
    /// Its name: `default` for the top-level `[modules]`.
    pub name: String,
    /// The host names that reach it, lower case; empty: every host.
    pub hosts: Vec<String>,
    /// The path prefix it is mounted under, `""` for `/`.
    pub prefix: String,
    /// Its modules and routes.
    pub registry: ModuleRegistry,
}

impl Tenant {
    /// Tenant `name` of `config`, mounted as the config says, serving
    /// `registry`.
    pub fn new(config: &RuntimeConfig, name: &str, registry: ModuleRegistry) -> Tenant {
        let (hosts, prefix) = match config.tenants.get(name) {
            Some(tenant) => (
                tenant
                    .hosts
                    .iter()
                    .map(|host| host.to_ascii_lowercase())
                    .collect(),
                tenant.prefix.clone().unwrap_or_default(),
            ),
            None => (Vec::new(), String::new()),
        };
        Tenant {
            name: name.to_string(),
            hosts,
            prefix,
            registry,
        }
    }

    /// The path below this tenant's prefix, when `path` is under it.
    fn path_below<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        match rest {
            "" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }
}

/// Every tenant of the host.
pub struct Tenants {
    tenants: Vec<Tenant>,
}

impl Tenants {
    /// The host's tenants. The default one stays only when it deploys
    /// modules or is the only one, so a request for no tenant's host is
    /// a 404 once every module belongs to a named tenant.
    pub fn new(tenants: Vec<Tenant>) -> Tenants {
        let only = tenants.len() == 1;
        let tenants = tenants
            .into_iter()
            .filter(|tenant| {
                tenant.name != DEFAULT_TENANT || only || tenant.registry.modules().next().is_some()
            })
            .collect();
        Tenants { tenants }
    }

    /// Every tenant, the default one first.
    pub fn iter(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.iter()
    }

    /// The tenant a request for `host` (the `Host` header, a port allowed)
    /// and `path` reaches, and the path below its prefix.
    pub fn resolve<'a>(&self, host: Option<&str>, path: &'a str) -> Option<(&Tenant, &'a str)> {
        let host = host.map(host_name);
        self.tenants
            .iter()
            .filter(|tenant| {
                tenant.hosts.is_empty()
                    || host
                        .as_deref()
                        .is_some_and(|host| tenant.hosts.iter().any(|known| known == host))
            })
            .filter_map(|tenant| Some((tenant, tenant.path_below(path)?)))
            .max_by_key(|(tenant, _)| (!tenant.hosts.is_empty(), tenant.prefix.len()))
    }
}

/// The name of a `Host` header's value: without a port, lower case.
fn host_name(host: &str) -> String {
    let name = match host.rsplit_once(':') {
        // An IPv6 literal keeps its colons inside the brackets.
        Some((name, port)) if !port.contains(']') => name,
        _ => host,
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::routing::RouteTable;

    fn tenant(name: &str, hosts: &[&str], prefix: &str) -> Tenant {
        Tenant {
            name: name.into(),
            hosts: hosts.iter().map(|host| host.to_string()).collect(),
            prefix: prefix.into(),
            registry: ModuleRegistry::new(
                BTreeMap::new(),
                RouteTable::build(Vec::new()).unwrap(),
                Vec::new(),
            ),
        }
    }

    #[test]
    fn the_most_specific_mount_wins_and_the_tenant_sees_the_path_below_it() {
        let tenants = Tenants {
            tenants: vec![
                tenant("default", &[], ""),
                tenant("acme", &[], "/acme"),
                tenant("acme_eu", &[], "/acme/eu"),
                tenant("globex", &["globex.example.com"], ""),
            ],
        };
        let at = |host: Option<&str>, path| {
            tenants
                .resolve(host, path)
                .map(|(tenant, below)| (tenant.name.clone(), below.to_string()))
        };
        let found = |name: &str, below: &str| Some((name.to_string(), below.to_string()));
        assert_eq!(at(None, "/wallet/u1"), found("default", "/wallet/u1"));
        assert_eq!(at(None, "/acme/wallet/u1"), found("acme", "/wallet/u1"));
        assert_eq!(at(None, "/acme"), found("acme", "/"));
        assert_eq!(at(None, "/acmeish/x"), found("default", "/acmeish/x"));
        assert_eq!(at(None, "/acme/eu/x"), found("acme_eu", "/x"));
        assert_eq!(
            at(Some("GLOBEX.example.com:8080"), "/acme/x"),
            found("globex", "/acme/x"),
            "the tenant of the host first"
        );
        assert_eq!(at(Some("other.example.com"), "/x"), found("default", "/x"));
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
    }

    #[test]
    fn without_a_default_tenant_an_unknown_host_reaches_none() {
        let tenants = Tenants::new(vec![
            tenant("default", &[], ""),
            tenant("globex", &["globex.example.com"], ""),
        ]);
        assert!(tenants.resolve(Some("other.example.com"), "/x").is_none());
        assert!(tenants.resolve(Some("globex.example.com"), "/x").is_some());
    }
}
