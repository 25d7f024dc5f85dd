//! `[tenants.<t>]` in `runtime.toml`: tenants that share one host and
//! nothing else. A tenant is reached by host name (the `Host` header), by a
//! path prefix, or both; its deployments are `[tenants.<t>.modules.<name>]`,
//! the same tables as the top-level `[modules.<name>]`, which are the
//! `default` tenant's, served on every host and at `/`.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Deserialize;

use crate::auth::AuthConfig;
use crate::config::{ModuleConfig, check_module_name};
use crate::host_state::DEFAULT_TENANT;
use crate::limits::LimitsTable;
use crate::tenant_quota::QuotaConfig;

/// `[tenants.<t>]`: where a tenant is reached and what it deploys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Host names (the `Host` header without a port) that reach it; none:
    /// every host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// A path prefix (`/acme`) under which it is mounted; its modules see
    /// the path below it.
    pub prefix: Option<String>,
    /// Its own `[auth]` (issuer, audience, keys), instead of the host's.
    pub auth: Option<AuthConfig>,
    /// The default limits of its modules, over `[sandbox]`.
    #[serde(default)]
    pub sandbox: LimitsTable,
    /// Its request quota, `[tenants.<t>.quota]`.
    pub quota: Option<QuotaConfig>,
    /// Its modules: `[tenants.<t>.modules.<name>]`.
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleConfig>,
}

/// The longest path prefix, in bytes.
const MAX_PREFIX_BYTES: usize = 128;

/// Checks every tenant of `tenants` (from `file`): its name, its mount (a
/// host or a prefix, each well formed), and that no two tenants (the
/// default one at `/` on every host included) are mounted at the same
/// place. Errors name the file, the tenants and the fix.
pub fn validate(
    tenants: &BTreeMap<String, TenantConfig>,
    default_has_modules: bool,
    file: &str,
) -> Result<()> {
    let mut mounts: BTreeMap<(String, String), String> = BTreeMap::new();
    if default_has_modules {
        mounts.insert(("*".into(), String::new()), DEFAULT_TENANT.into());
    }
    for (name, tenant) in tenants {
        if name == DEFAULT_TENANT {
            bail!(
                "{file}: [tenants.{DEFAULT_TENANT}]: the default tenant is the top-level [modules]; give this tenant another name"
            );
        }
        if check_module_name(name).is_err() {
            bail!(
                "{file}: [tenants.{name}]: tenant name {name:?} is not valid: use 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter"
            );
        }
        let prefix = tenant.prefix.as_deref().unwrap_or("");
        if let Err(why) = check_prefix(prefix) {
            bail!("{file}: tenants.{name}.prefix: {why}");
        }
        for host in &tenant.hosts {
            if let Err(why) = check_host(host) {
                bail!("{file}: tenants.{name}.hosts: {host:?} {why}");
            }
        }
        if tenant.hosts.is_empty() && prefix.is_empty() {
            let modules: Vec<&str> = tenant.modules.keys().map(String::as_str).collect();
            bail!(
                "{file}: [tenants.{name}] (modules: {}) has neither hosts nor a prefix, so no request can reach it; add hosts = [\"{name}.example.com\"] or prefix = \"/{name}\"",
                if modules.is_empty() {
                    "none".into()
                } else {
                    modules.join(", ")
                }
            );
        }
        let hosts: Vec<String> = match tenant.hosts.as_slice() {
            [] => vec!["*".into()],
            hosts => hosts.iter().map(|host| host.to_ascii_lowercase()).collect(),
        };
        for host in hosts {
            let place = (host, prefix.to_string());
            if let Some(other) = mounts.insert(place.clone(), name.clone()) {
                let (host, prefix) = place;
                let host = if host == "*" {
                    "every host".to_string()
                } else {
                    format!("host {host}")
                };
                let prefix = if prefix.is_empty() {
                    "/"
                } else {
                    prefix.as_str()
                };
                bail!(
                    "{file}: tenants {other} and {name} are both mounted at {prefix} on {host}; give one of them another prefix or host"
                );
            }
        }
    }
    Ok(())
}

/// The first segments of the runtime's own paths, which no prefix may take.
const RESERVED_SEGMENTS: [&str; 3] = ["health", "modules", "metrics"];

/// A prefix is empty or `/segment(/segment)*`, segments of `A-Z a-z 0-9 _ - .`
/// and neither `.` nor `..`, not starting with a runtime path.
fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    let first = prefix
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if RESERVED_SEGMENTS.contains(&first) {
        return Err(format!(
            "{prefix:?} would hide the runtime's own /{first}; choose another prefix"
        ));
    }
    let well_formed = prefix.len() <= MAX_PREFIX_BYTES
        && prefix.starts_with('/')
        && prefix[1..].split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "{prefix:?} is not a path prefix: give /name or /name/name, at most {MAX_PREFIX_BYTES} bytes of letters, digits, _ - and ., with no trailing /"
        ))
    }
}

/// A host is a DNS name: labels of letters, digits and `-`, no port.
fn check_host(host: &str) -> Result<(), String> {
    let well_formed = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if well_formed {
        Ok(())
    } else {
        Err("is not a host name: give the name alone, such as acme.example.com, without a scheme or port".into())
    }
}
