//! `runtime.toml`: what to serve and how. Parsing is strict (an unknown key
//! is an error naming the keys that are allowed) and every error names the
//! file it came from, so an operator's typo never passes silently.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The whole deployment, as read from one `runtime.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// The HTTP server.
    #[serde(default)]
    pub server: ServerConfig,
    /// Limits applied to every guest call.
    #[serde(default)]
    pub sandbox: SandboxConfig,
    /// The modules to load, by name: `[modules.<name>]`.
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleConfig>,
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// `[sandbox]`: limits on each guest call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Wall-clock budget of one guest call in milliseconds; a guest still
    /// running then is stopped (a 500 for a request).
    pub timeout_ms: u64,
    /// How many module calls may be chained from one request; deeper calls
    /// are refused with an error the calling guest can handle.
    pub max_call_depth: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            max_call_depth: 8,
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
        config.validate()?;
        Ok(config)
    }

    /// The path of a module's component, resolved against the config's folder.
    pub fn module_path(&self, module: &ModuleConfig) -> PathBuf {
        let base = self.source.parent().unwrap_or(Path::new("."));
        base.join(&module.path)
    }

    fn validate(&self) -> Result<()> {
        let file = self.source.display();
        for name in self.modules.keys() {
            if let Err(why) = check_module_name(name) {
                bail!("{file}: [modules.{name}]: {why}");
            }
        }
        if self.sandbox.timeout_ms == 0 {
            bail!("{file}: sandbox.timeout_ms must be at least 1 (milliseconds)");
        }
        if self.server.max_body_bytes == 0 {
            bail!("{file}: server.max_body_bytes must be at least 1");
        }
        Ok(())
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
        let config = parse("").unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert!(config.modules.is_empty());
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
    fn bad_module_names_are_refused() {
        for name in ["Users", "1users", "us.ers"] {
            let text = format!("[modules.\"{name}\"]\npath = \"x.wasm\"\n");
            let err = parse(&text).unwrap_err();
            assert!(err.to_string().contains("not valid"), "{name}: {err}");
        }
        assert!(check_module_name("user_management").is_ok());
    }
}
