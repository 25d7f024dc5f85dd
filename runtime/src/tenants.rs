//! The tenants a host serves, each with its own modules, routes and
//! dependency order, and which one a request is for: by its host name and
//! path prefix, the most specific mount first (a tenant of the request's
//! host before one of every host, a longer prefix before a shorter one).

use std::collections::HashMap;
use std::sync::Arc;

use crate::callable_modules::CallableModules;
use crate::config::RuntimeConfig;
use crate::host_state::DEFAULT_TENANT;
use crate::registry::ModuleRegistry;
use crate::tenant_quota::TenantQuota;

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
    /// Its request quota, if it has one.
    pub quota: Option<TenantQuota>,
}

impl Tenant {
    /// Tenant `name` of `config`, mounted as the config says, serving
    /// `registry` within `quota`.
    pub fn new(
        config: &RuntimeConfig,
        name: &str,
        registry: ModuleRegistry,
        quota: Option<TenantQuota>,
    ) -> Tenant {
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
            quota,
        }
    }
}

/// Every tenant of the host, indexed by where it is mounted.
pub struct Tenants {
    tenants: Vec<Tenant>,
    /// The modules that serve calls, kept for as long as these tenants are
    /// (their modules hold it only weakly).
    _callable: Arc<CallableModules>,
    /// Host name (`""`: every host) to prefix to the tenant's index.
    mounts: HashMap<String, HashMap<String, usize>>,
    /// The most segments any prefix has: how many of a path's prefixes a
    /// lookup tries, whatever the path.
    deepest_prefix: usize,
}

impl Tenants {
    /// The host's tenants. The default one stays only when it deploys
    /// modules or is the only one, so a request for no tenant's host is
    /// a 404 once every module belongs to a named tenant.
    pub fn new(tenants: Vec<Tenant>, callable: Arc<CallableModules>) -> Tenants {
        let only = tenants.len() == 1;
        let tenants: Vec<Tenant> = tenants
            .into_iter()
            .filter(|tenant| {
                tenant.name != DEFAULT_TENANT || only || tenant.registry.modules().next().is_some()
            })
            .collect();
        Tenants::index(tenants, callable)
    }

    /// Indexes `tenants` by host and prefix.
    fn index(tenants: Vec<Tenant>, callable: Arc<CallableModules>) -> Tenants {
        let mut mounts: HashMap<String, HashMap<String, usize>> = HashMap::new();
        for (index, tenant) in tenants.iter().enumerate() {
            let hosts = match tenant.hosts.is_empty() {
                true => vec![String::new()],
                false => tenant.hosts.clone(),
            };
            for host in hosts {
                // The config refuses two tenants at one place (tenant_config.rs).
                let prefixes = mounts.entry(host).or_default();
                prefixes.insert(tenant.prefix.clone(), index);
            }
        }
        let deepest_prefix = tenants
            .iter()
            .map(|tenant| tenant.prefix.matches('/').count())
            .max()
            .unwrap_or(0);
        Tenants {
            tenants,
            _callable: callable,
            mounts,
            deepest_prefix,
        }
    }

    /// Every tenant, the default one first.
    pub fn iter(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.iter()
    }

    /// The tenant a request for `host` (the `Host` header, a port allowed)
    /// and `path` reaches, and the path below its prefix: a tenant of that
    /// host before one of every host, then the longest prefix. The cost
    /// depends on the deepest prefix, not on the number of tenants.
    pub fn resolve<'a>(&self, host: Option<&str>, path: &'a str) -> Option<(&Tenant, &'a str)> {
        let host = host.map(host_name);
        let prefixes = self.prefixes_of(path);
        let by_host = host.as_deref().and_then(|host| self.mounts.get(host));
        [by_host, self.mounts.get("")]
            .into_iter()
            .flatten()
            .find_map(|mounted| {
                prefixes
                    .iter()
                    .rev()
                    .find_map(|&prefix| mounted.get(prefix))
            })
            .map(|&index| {
                let tenant = &self.tenants[index];
                let below = match &path[tenant.prefix.len()..] {
                    "" => "/",
                    below => below,
                };
                (tenant, below)
            })
    }

    /// The prefixes a tenant could be mounted at that `path` is under,
    /// shortest first: `""`, then `/a`, `/a/b`... up to the deepest prefix.
    fn prefixes_of<'a>(&self, path: &'a str) -> Vec<&'a str> {
        if !path.starts_with('/') && !path.is_empty() {
            return Vec::new();
        }
        let ends = path
            .char_indices()
            .skip(1)
            .filter(|&(_, c)| c == '/')
            .map(|(at, _)| at)
            .chain([path.len()]);
        std::iter::once("")
            .chain(ends.map(|end| &path[..end]))
            .take(self.deepest_prefix + 1)
            .collect()
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
            quota: None,
        }
    }

    #[test]
    fn the_most_specific_mount_wins_and_the_tenant_sees_the_path_below_it() {
        let tenants = Tenants::index(
            vec![
                tenant("default", &[], ""),
                tenant("acme", &[], "/acme"),
                tenant("acme_eu", &[], "/acme/eu"),
                tenant("globex", &["globex.example.com"], ""),
            ],
            Arc::default(),
        );
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
        assert_eq!(at(None, "no-slash"), None, "not a path any tenant holds");
        assert_eq!(at(None, ""), found("default", "/"));
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
    }

    #[test]
    fn a_thousand_tenants_each_reach_their_own_prefix_and_host() {
        let mut all: Vec<Tenant> = (0..1000)
            .map(|n| tenant(&format!("t{n}"), &[], &format!("/t{n}")))
            .collect();
        all.push(tenant("deep", &[], "/t7/a/b"));
        all.push(tenant("hosted", &["h.example.com"], "/t7"));
        let tenants = Tenants::index(all, Arc::default());
        for n in [0, 500, 999] {
            let path = format!("/t{n}/x/y");
            let (tenant, below) = tenants.resolve(None, &path).unwrap();
            assert_eq!(
                (tenant.name.as_str(), below),
                (format!("t{n}").as_str(), "/x/y")
            );
        }
        assert_eq!(tenants.resolve(None, "/t7/a/b/c").unwrap().0.name, "deep");
        assert_eq!(tenants.resolve(None, "/t7/a/bc").unwrap().0.name, "t7");
        let hosted = tenants.resolve(Some("h.example.com"), "/t7/a/b/c").unwrap();
        assert_eq!((hosted.0.name.as_str(), hosted.1), ("hosted", "/a/b/c"));
        assert!(tenants.resolve(None, "/t1000/x").is_none());
        assert!(tenants.resolve(None, "no-slash").is_none());
    }

    #[test]
    fn without_a_default_tenant_an_unknown_host_reaches_none() {
        let tenants = Tenants::new(
            vec![
                tenant("default", &[], ""),
                tenant("globex", &["globex.example.com"], ""),
            ],
            Arc::default(),
        );
        assert!(tenants.resolve(Some("other.example.com"), "/x").is_none());
        assert!(tenants.resolve(Some("globex.example.com"), "/x").is_some());
    }
}
