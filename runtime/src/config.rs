//! `runtime.toml`: what to serve and how. Parsing is strict (an unknown key
//! is an error naming the keys that are allowed) and every error names the
//! file it came from, so an operator's typo never passes silently.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use modhost_docstore::Limits;
use serde::Deserialize;

use crate::auth::{AuthConfig, ModuleAuth, PasswordConfig, auth_for};
use crate::compile_cache::CompileCacheConfig;
use crate::grants::{Grant, Grants};
use crate::host_state::DEFAULT_TENANT;
use crate::instance_reuse::InstanceReuse;
use crate::limits::{DEFAULT_LIMITS, LimitsTable, ModuleLimits, zero_key};
use crate::outbound_hosts::OutboundHosts;
use crate::pool_config::PoolConfig;
use crate::tenant_config::{self, TenantConfig};
use crate::tenant_quota::QuotaConfig;

/// The whole deployment, as read from one `runtime.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// The HTTP server.
    #[serde(default)]
    pub server: ServerConfig,
    /// The default limits of every module (`[sandbox]`).
    #[serde(default)]
    pub sandbox: LimitsTable,
    /// The document database the `db` capability serves.
    #[serde(default)]
    pub db: DbConfig,
    /// The cache the `cache` capability serves.
    #[serde(default)]
    pub cache: CacheConfig,
    /// How bearer tokens are checked, for modules that require them.
    pub auth: Option<AuthConfig>,
    /// `[compile_cache]`: where compiled components are kept.
    #[serde(default)]
    pub compile_cache: CompileCacheConfig,
    /// `[passwords]`: the host's password hashing.
    #[serde(default)]
    pub passwords: PasswordConfig,
    /// `[pool]`: what one instance slot holds.
    #[serde(default)]
    pub pool: PoolConfig,
    /// `[metrics]`: what modules may record.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[quota]`: the default tenant's request quota; in a view of one
    /// tenant, that tenant's (`[tenants.<t>.quota]`).
    pub quota: Option<QuotaConfig>,
    /// The modules to load, by name: `[modules.<name>]`, the default
    /// tenant's; in a view of one tenant (see [`RuntimeConfig::tenant_views`]),
    /// that tenant's.
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleConfig>,
    /// The other tenants: `[tenants.<t>]`.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// The tenant whose modules `modules` holds.
    #[serde(skip)]
    pub tenant: String,
    /// That tenant's `[tenants.<t>.sandbox]`, between `[sandbox]` and each
    /// module's own limits; empty for the default tenant.
    #[serde(skip)]
    pub tenant_sandbox: LimitsTable,
    /// The file this was read from, for messages and relative paths.
    #[serde(skip)]
    pub source: PathBuf,
}

/// `[server]`: where and how the HTTP server listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; `--listen` overrides it.
    pub listen: SocketAddr,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's headers, and how long
    /// an idle keep-alive connection is kept, in milliseconds.
    pub header_timeout_ms: u64,
    /// How long a client may take to send a request's body, in milliseconds
    /// (408 past it).
    pub body_timeout_ms: u64,
    /// How long a write to a client may make no progress before the
    /// connection is closed, in milliseconds.
    pub write_timeout_ms: u64,
    /// Connections open at once; at the cap the server stops accepting
    /// until one closes.
    pub max_connections: usize,
    /// Connections open at once from one client address; 0 is no cap.
    pub max_connections_per_client: usize,
    /// After SIGTERM or SIGINT, how long requests in flight may take to
    /// finish before the process exits anyway, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Where the operator's endpoints are served (`/metrics`, the probes,
    /// `POST /admin/reload`); none by default. `--admin-listen` overrides it.
    pub admin_listen: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            write_timeout_ms: 30_000,
            max_connections: 4_096,
            max_connections_per_client: 0,
            shutdown_grace_ms: 25_000,
            admin_listen: None,
        }
    }
}

/// Fills `value` (the setting `key` of `file`) from the environment
/// variable `env` names, when it names one.
fn from_env(value: &mut Option<String>, env: &Option<String>, key: &str, file: &str) -> Result<()> {
    let Some(name) = env else {
        return Ok(());
    };
    if value.is_some() {
        bail!("{file}: give {key} or {key}_env, not both");
    }
    match std::env::var(name) {
        Ok(set) => *value = Some(set),
        Err(_) => bail!(
            "{file}: {key}_env names the environment variable {name}, which is not set; set it, or give {key} instead"
        ),
    }
    Ok(())
}

/// `[metrics]`: the bound on what modules record through `metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Distinct series (name and labels) one module may make; 0 turns
    /// module metrics off.
    pub max_series_per_module: usize,
}

/// The most `max_series_per_module` may be: past it, one module alone
/// could make a scrape megabytes long.
const MAX_SERIES_PER_MODULE: usize = 10_000;

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            max_series_per_module: 200,
        }
    }
}

/// Where the `db` capability keeps documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbBackend {
    /// A redb file in the data folder; no server needed.
    Embedded,
    /// A MongoDB server, replica set or sharded cluster at `uri`.
    Mongodb,
}

/// `[db]`: the document database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbConfig {
    /// Which backend serves the modules' collections.
    pub backend: DbBackend,
    /// The embedded database file; relative paths are relative to the
    /// config file. Default `data/modhost.redb`.
    pub path: Option<PathBuf>,
    /// The MongoDB connection string (mongodb backend only).
    pub uri: Option<String>,
    /// The environment variable holding `uri`, which may carry a password
    /// (a Kubernetes Secret, say); read at load.
    pub uri_env: Option<String>,
    /// MongoDB databases are named `<database_prefix>_<tenant>`.
    pub database_prefix: String,
    /// How long a MongoDB call may take before it fails as unavailable.
    pub timeout_ms: u64,
    /// The largest document, as JSON text.
    pub max_document_bytes: usize,
    /// The most documents one `find` may return.
    pub max_find_documents: u32,
    /// Bytes of documents one query may hold (for a sort, or the matches of
    /// an update or delete of many); past it the query fails.
    pub max_query_bytes: usize,
    /// Documents one call may read; past it the query fails.
    pub max_examined_documents: u64,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            backend: DbBackend::Embedded,
            path: None,
            uri: None,
            uri_env: None,
            database_prefix: "modhost".into(),
            timeout_ms: 5_000,
            max_document_bytes: 1024 * 1024,
            max_find_documents: 1_000,
            max_query_bytes: Limits::DEFAULT_MAX_QUERY_BYTES,
            max_examined_documents: Limits::DEFAULT_MAX_EXAMINED_DOCUMENTS,
        }
    }
}

/// Where the `cache` capability keeps entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// In the runtime's memory, LRU-bounded by `max_bytes`.
    Embedded,
    /// A Redis server at `url`, shared by every runtime that uses it.
    Redis,
}

/// `[cache]`: the cache, and each module's quotas in it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Which backend keeps the entries.
    pub backend: CacheBackend,
    /// The Redis URL (redis backend only).
    pub url: Option<String>,
    /// The environment variable holding `url`, which may carry a password;
    /// read at load.
    pub url_env: Option<String>,
    /// Every key is `<key_prefix>:<tenant>:<module>:<key>`.
    pub key_prefix: String,
    /// How long a Redis call may take before it fails as unavailable.
    pub timeout_ms: u64,
    /// The embedded cache's size (keys, values and each entry's overhead),
    /// in bytes.
    pub max_bytes: usize,
    /// Per module: the largest value, in bytes.
    pub max_value_bytes: usize,
    /// Per module: the most cache calls per second.
    pub max_ops_per_second: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            backend: CacheBackend::Embedded,
            url: None,
            url_env: None,
            key_prefix: "modhost".into(),
            timeout_ms: 250,
            max_bytes: 64 * 1024 * 1024,
            max_value_bytes: 1024 * 1024,
            max_ops_per_second: 10_000,
        }
    }
}

/// `[modules.<name>]`: one module to load.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleConfig {
    /// The `.wasm` component; relative paths are relative to the config file.
    pub path: PathBuf,
    /// The module's own settings, readable only by that module through the
    /// `config` interface.
    #[serde(default)]
    pub config: toml::Table,
    /// Limits of this module that differ from `[sandbox]`.
    #[serde(default)]
    pub limits: LimitsTable,
    /// What this module's routes require of a request (`[auth]` checks it).
    pub auth: Option<ModuleAuth>,
    /// The capabilities it may use beyond log, config and clock.
    #[serde(default)]
    pub grants: Grants,
    /// The origins it may send HTTP requests to (`wasi:http`); none by
    /// default.
    #[serde(default)]
    pub outbound_hosts: OutboundHosts,
    /// The path prefix a `wasi:http/proxy` component serves (`/hello`);
    /// set only for such a component.
    pub mount: Option<String>,
    /// Serving several requests from one instance; off by default.
    pub instance_reuse: Option<InstanceReuse>,
}

impl RuntimeConfig {
    /// Reads and validates `path`. Every error names the file, and the key
    /// where one is at fault, with what to do about it.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read config file {}: check the path given to --config",
                path.display()
            )
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text` as if read from `source`.
    pub fn parse(text: &str, source: &Path) -> Result<Self> {
        let mut config: RuntimeConfig = toml::from_str(text).map_err(|err| {
            anyhow::anyhow!("{}: {}", source.display(), err.to_string().trim_end())
        })?;
        config.source = source.to_path_buf();
        config.tenant = DEFAULT_TENANT.to_string();
        let file = source.display().to_string();
        from_env(&mut config.db.uri, &config.db.uri_env, "db.uri", &file)?;
        from_env(
            &mut config.cache.url,
            &config.cache.url_env,
            "cache.url",
            &file,
        )?;
        config.validate()?;
        Ok(config)
    }

    /// One view per tenant, the default one first: the config with
    /// `modules` holding that tenant's deployments, `auth` the one that
    /// applies to it and `tenant` its name.
    pub fn tenant_views(&self) -> Vec<RuntimeConfig> {
        // Every view copies the host-wide sections from this base, which
        // holds no modules or tenants: N tenants cost N small copies, not N
        // copies of the whole config.
        let base = RuntimeConfig {
            modules: BTreeMap::new(),
            tenants: BTreeMap::new(),
            ..self.clone()
        };
        let view = |tenant: &str, modules: &BTreeMap<String, ModuleConfig>| RuntimeConfig {
            modules: modules.clone(),
            auth: auth_for(self, tenant).cloned(),
            tenant_sandbox: self
                .tenants
                .get(tenant)
                .map(|own| own.sandbox.clone())
                .unwrap_or_default(),
            quota: match self.tenants.get(tenant) {
                Some(own) => own.quota.clone(),
                None => self.quota.clone(),
            },
            tenant: tenant.to_string(),
            ..base.clone()
        };
        let mut views = vec![view(DEFAULT_TENANT, &self.modules)];
        views.extend(
            self.tenants
                .iter()
                .map(|(name, tenant)| view(name, &tenant.modules)),
        );
        views
    }

    /// Where this view's tenant's quota is configured, as a key: `quota` or
    /// `tenants.<t>.quota`.
    pub fn quota_key(&self) -> String {
        match self.tenant.as_str() {
            DEFAULT_TENANT => "quota".to_string(),
            tenant => format!("tenants.{tenant}.quota"),
        }
    }

    /// Where module `name` of this view's tenant is configured, as a key:
    /// `modules.<name>` or `tenants.<t>.modules.<name>`.
    pub fn module_key(&self, name: &str) -> String {
        module_key(&self.tenant, name)
    }

    /// The folder the config file is in: relative paths are relative to it.
    pub fn folder(&self) -> &Path {
        self.source.parent().unwrap_or(Path::new("."))
    }

    /// The path of a module's component, resolved against the config's folder.
    pub fn module_path(&self, module: &ModuleConfig) -> PathBuf {
        self.folder().join(&module.path)
    }

    /// A module's component path as clients may see it (in `/modules` and
    /// failure reasons): as the config names it when relative, relative to
    /// the config's folder when inside it, else the file name alone, so no
    /// absolute path of the host reaches a client.
    pub fn shown_module_path(&self, module: &ModuleConfig) -> PathBuf {
        if module.path.is_relative() {
            return module.path.clone();
        }
        match module.path.strip_prefix(self.folder()) {
            Ok(inside) => inside.to_path_buf(),
            Err(_) => module
                .path
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_default(),
        }
    }

    /// The limits of module `name`: its own table over its tenant's
    /// `sandbox` over `[sandbox]` over the defaults.
    pub fn module_limits(&self, name: &str) -> ModuleLimits {
        let defaults = self
            .tenant_sandbox
            .over(&self.sandbox.over(&DEFAULT_LIMITS));
        match self.modules.get(name) {
            Some(module) => module.limits.over(&defaults),
            None => defaults,
        }
    }

    /// The settled limits of every module of every tenant.
    pub fn all_module_limits(&self) -> Vec<ModuleLimits> {
        self.tenant_views()
            .iter()
            .flat_map(|view| view.modules.keys().map(|name| view.module_limits(name)))
            .collect()
    }

    /// The embedded database file, resolved against the config's folder.
    pub fn db_path(&self) -> PathBuf {
        let path = self
            .db
            .path
            .as_deref()
            .unwrap_or(Path::new("data/modhost.redb"));
        self.folder().join(path)
    }

    fn validate(&self) -> Result<()> {
        let file = self.source.display();
        self.validate_db()?;
        self.validate_cache()?;
        self.pool.validate(&file.to_string())?;
        if self.metrics.max_series_per_module > MAX_SERIES_PER_MODULE {
            bail!(
                "{file}: metrics.max_series_per_module is {}; the most is {MAX_SERIES_PER_MODULE}",
                self.metrics.max_series_per_module
            );
        }
        tenant_config::validate(&self.tenants, !self.modules.is_empty(), &file.to_string())?;
        if let Err(why) = self.sandbox.over(&DEFAULT_LIMITS).check("sandbox") {
            bail!("{file}: {why}");
        }
        for view in self.tenant_views() {
            if view.tenant != DEFAULT_TENANT {
                let key = format!("tenants.{}.sandbox", view.tenant);
                let defaults = view
                    .tenant_sandbox
                    .over(&self.sandbox.over(&DEFAULT_LIMITS));
                if let Err(why) = defaults.check(&key) {
                    bail!("{file}: {why}");
                }
            }
            for name in view.modules.keys() {
                let key = view.module_key(name);
                if let Err(why) = check_module_name(name) {
                    bail!("{file}: [{key}]: {why}");
                }
                if let Err(why) = view.module_limits(name).check(&format!("{key}.limits")) {
                    bail!("{file}: {why}");
                }
                if let Some(reuse) = &view.modules[name].instance_reuse
                    && let Err(why) = reuse.check(&format!("{key}.instance_reuse"))
                {
                    bail!("{file}: {why}");
                }
            }
        }
        self.validate_server()
    }

    fn validate_server(&self) -> Result<()> {
        let file = self.source.display();
        let server = &self.server;
        let positive = [
            ("max_body_bytes", server.max_body_bytes as u64),
            ("header_timeout_ms", server.header_timeout_ms),
            ("body_timeout_ms", server.body_timeout_ms),
            ("write_timeout_ms", server.write_timeout_ms),
            ("max_connections", server.max_connections as u64),
            ("shutdown_grace_ms", server.shutdown_grace_ms),
        ];
        if let Some(key) = zero_key(&positive) {
            bail!("{file}: server.{key} must be at least 1");
        }
        Ok(())
    }
}

impl RuntimeConfig {
    fn validate_db(&self) -> Result<()> {
        let file = self.source.display();
        let db = &self.db;
        match (db.backend, &db.uri, &db.path) {
            (DbBackend::Mongodb, None, _) => bail!(
                "{file}: db.uri is required when db.backend = \"mongodb\"; add for example uri = \"mongodb://127.0.0.1:27017\""
            ),
            (DbBackend::Mongodb, Some(_), Some(_)) => bail!(
                "{file}: db.path is only read by the embedded backend; remove it or set db.backend = \"embedded\""
            ),
            (DbBackend::Embedded, Some(_), _) => bail!(
                "{file}: db.uri is only read by the mongodb backend; remove it or set db.backend = \"mongodb\""
            ),
            _ => {}
        }
        let prefix_ok = (1..=32).contains(&db.database_prefix.len())
            && db
                .database_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !prefix_ok {
            bail!("{file}: db.database_prefix must be 1 to 32 of a-z, 0-9 and '_'");
        }
        if db.timeout_ms == 0 {
            bail!("{file}: db.timeout_ms must be at least 1 (milliseconds)");
        }
        let positive = [
            ("max_document_bytes", db.max_document_bytes as u64),
            ("max_find_documents", u64::from(db.max_find_documents)),
            ("max_query_bytes", db.max_query_bytes as u64),
            ("max_examined_documents", db.max_examined_documents),
        ];
        if let Some(key) = zero_key(&positive) {
            bail!("{file}: db.{key} must be at least 1");
        }
        Ok(())
    }
}

impl RuntimeConfig {
    fn validate_cache(&self) -> Result<()> {
        let file = self.source.display();
        let cache = &self.cache;
        match (cache.backend, &cache.url) {
            (CacheBackend::Redis, None) => bail!(
                "{file}: cache.url is required when cache.backend = \"redis\"; add for example url = \"redis://127.0.0.1:6379\""
            ),
            (CacheBackend::Embedded, Some(_)) => bail!(
                "{file}: cache.url is only read by the redis backend; remove it or set cache.backend = \"redis\""
            ),
            _ => {}
        }
        if check_module_name(&cache.key_prefix).is_err() {
            bail!(
                "{file}: cache.key_prefix must be 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter"
            );
        }
        if cache.timeout_ms == 0 {
            bail!("{file}: cache.timeout_ms must be at least 1 (milliseconds)");
        }
        if cache.max_bytes == 0 || cache.max_value_bytes == 0 || cache.max_ops_per_second == 0 {
            bail!(
                "{file}: cache.max_bytes, cache.max_value_bytes and cache.max_ops_per_second must be at least 1"
            );
        }
        // Per-module quotas that fit in the cache are what keep one module
        // from ever evicting another's entries; a module not granted the
        // cache is promised nothing.
        let promised: usize = self
            .tenant_views()
            .iter()
            .flat_map(|view| {
                view.modules
                    .iter()
                    .filter(|(_, module)| module.grants.contains(&Grant::Cache))
                    .map(|(name, _)| view.module_limits(name).cache_bytes)
            })
            .fold(0, usize::saturating_add);
        if cache.backend == CacheBackend::Embedded && promised > cache.max_bytes {
            bail!(
                "{file}: the modules' cache_bytes add up to {promised} bytes, more than cache.max_bytes ({}); raise cache.max_bytes or lower cache_bytes in [sandbox] or [modules.<name>.limits]",
                cache.max_bytes
            );
        }
        Ok(())
    }
}

/// Where module `name` of `tenant` is configured, as a key:
/// `modules.<name>` for the default tenant, else `tenants.<t>.modules.<name>`.
pub fn module_key(tenant: &str, name: &str) -> String {
    if tenant == DEFAULT_TENANT || tenant.is_empty() {
        format!("modules.{name}")
    } else {
        format!("tenants.{tenant}.modules.{name}")
    }
}

/// Checks a module name: 1 to 64 of `a-z`, `0-9`, `_` and `-`, starting
/// with a letter. Names appear in URLs, logs and storage keys.
pub fn check_module_name(name: &str) -> Result<(), String> {
    let well_formed = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "module name {name:?} is not valid: use 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeConfig> {
        RuntimeConfig::parse(text, Path::new("/etc/modhost/runtime.toml"))
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        // Each default as the README's config reference gives it.
        let config = parse("").unwrap();
        let server = &config.server;
        assert_eq!(server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            (
                server.max_body_bytes,
                server.header_timeout_ms,
                server.body_timeout_ms,
                server.write_timeout_ms,
                server.max_connections,
                server.max_connections_per_client,
            ),
            (1 << 20, 10_000, 30_000, 30_000, 4096, 0)
        );
        let db = &config.db;
        assert_eq!(db.database_prefix, "modhost");
        assert_eq!(
            (
                db.timeout_ms,
                db.max_document_bytes,
                db.max_find_documents,
                db.max_query_bytes,
                db.max_examined_documents,
            ),
            (5000, 1 << 20, 1000, 32 << 20, 1_000_000)
        );
        let cache = &config.cache;
        assert_eq!(cache.key_prefix, "modhost");
        assert_eq!(
            (
                cache.timeout_ms,
                cache.max_bytes,
                cache.max_value_bytes,
                cache.max_ops_per_second,
            ),
            (250, 64 << 20, 1 << 20, 10_000)
        );
        // And each module limit as the README's security section gives it.
        assert_eq!(
            config.module_limits("any"),
            ModuleLimits {
                memory_bytes: 64 << 20,
                timeout_ms: 10_000,
                cpu_ms: 5_000,
                max_concurrency: 8,
                max_queue: 32,
                max_call_depth: 8,
                db_bytes: 1 << 30,
                cache_bytes: 8 << 20,
                log_bytes: 64 << 10,
                log_lines: 256,
                max_host_call_bytes: 4 << 20,
            }
        );
        assert!(config.modules.is_empty());
    }

    #[test]
    fn backend_addresses_come_from_the_environment_when_named() {
        // A variable of this test's own: tests run in one process.
        let name = "MODHOST_CONFIG_TEST_REDIS_URL";
        let text = format!("[cache]\nbackend = \"redis\"\nurl_env = {name:?}\n");
        let unset = parse(&text).unwrap_err().to_string();
        assert!(
            unset.contains("cache.url_env names the environment variable"),
            "{unset}"
        );
        // SAFETY: no other test reads or writes this variable.
        unsafe { std::env::set_var(name, "redis://:secret@redis:6379") };
        assert_eq!(
            parse(&text).unwrap().cache.url.as_deref(),
            Some("redis://:secret@redis:6379")
        );
        let both = format!("{text}url = \"redis://other\"\n");
        assert!(parse(&both).unwrap_err().to_string().contains("not both"));
        let mongo = "[db]\nbackend = \"mongodb\"\nuri_env = \"MODHOST_CONFIG_TEST_UNSET\"\n";
        assert!(parse(mongo).unwrap_err().to_string().contains("db.uri_env"));
    }

    #[test]
    fn reads_modules_with_their_own_config() {
        let config =
            parse("[modules.users]\npath = \"users.wasm\"\n[modules.users.config]\nlimit = 3\n")
                .unwrap();
        let users = &config.modules["users"];
        assert_eq!(
            config.module_path(users),
            Path::new("/etc/modhost/users.wasm")
        );
        assert_eq!(users.config["limit"].as_integer(), Some(3));
    }

    #[test]
    fn an_unknown_key_names_the_file_the_key_and_the_allowed_keys() {
        let err = parse("[server]\nlisten_on = \"127.0.0.1:1\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/etc/modhost/runtime.toml"), "{msg}");
        assert!(msg.contains("listen_on"), "{msg}");
        assert!(msg.contains("listen"), "{msg}");
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let err = parse("[sandbox]\ntimeout_ms = \"soon\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("timeout_ms"), "{msg}");
    }

    #[test]
    fn a_module_without_a_path_is_an_error() {
        let err = parse("[modules.users]\n").unwrap_err();
        assert!(err.to_string().contains("path"), "{err}");
    }

    #[test]
    fn the_db_defaults_to_an_embedded_file_next_to_the_config() {
        let config = parse("").unwrap();
        assert_eq!(config.db.backend, DbBackend::Embedded);
        assert_eq!(
            config.db_path(),
            Path::new("/etc/modhost/data/modhost.redb")
        );
    }

    #[test]
    fn db_keys_must_fit_the_backend() {
        let err = parse("[db]\nbackend = \"mongodb\"\n").unwrap_err();
        assert!(err.to_string().contains("db.uri is required"), "{err}");
        let err = parse("[db]\nuri = \"mongodb://x\"\n").unwrap_err();
        assert!(err.to_string().contains("db.uri is only read"), "{err}");
        let err = parse("[db]\nbackend = \"postgres\"\n").unwrap_err();
        assert!(err.to_string().contains("embedded"), "{err}");
        assert!(parse("[db]\nbackend = \"mongodb\"\nuri = \"mongodb://x\"\n").is_ok());
    }

    #[test]
    fn cache_keys_must_fit_the_backend() {
        assert_eq!(parse("").unwrap().cache.backend, CacheBackend::Embedded);
        let err = parse("[cache]\nbackend = \"redis\"\n").unwrap_err();
        assert!(err.to_string().contains("cache.url is required"), "{err}");
        let err = parse("[cache]\nurl = \"redis://x\"\n").unwrap_err();
        assert!(err.to_string().contains("cache.url is only read"), "{err}");
        let err = parse("[cache]\nmax_ops_per_second = 0\n").unwrap_err();
        assert!(err.to_string().contains("max_ops_per_second"), "{err}");
        assert!(parse("[cache]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1\"\n").is_ok());
    }

    #[test]
    fn bad_module_names_are_refused() {
        for name in ["Users", "1users", "us.ers"] {
            let text = format!("[modules.\"{name}\"]\npath = \"x.wasm\"\n");
            let err = parse(&text).unwrap_err();
            assert!(err.to_string().contains("not valid"), "{name}: {err}");
        }
        assert!(check_module_name("user_management").is_ok());
    }
}
