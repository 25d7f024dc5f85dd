//! `[auth]` in `runtime.toml`: the keys that sign the tokens the host
//! accepts, and the issuer and audience they must carry; and
//! `[modules.<name>.auth]`: what a module's routes require.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;

use serde::Deserialize;

use crate::config::RuntimeConfig;
use crate::host_state::DEFAULT_TENANT;

/// `[auth]`: how bearer tokens are checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry (one of its values, when a list).
    pub audience: String,
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// The keys tokens may be signed with: `[[auth.keys]]`.
    pub keys: Vec<KeyConfig>,
    /// The claim that names a token's tenant.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// The `kid` of the key `auth.issue` signs with: an HS256 key, or one
    /// with a `private_key_file`. Without it, no module can issue tokens.
    pub issue_key: Option<String>,
    /// The longest lifetime `auth.issue` gives a token, in seconds.
    #[serde(default = "default_max_token_lifetime")]
    pub max_token_lifetime_seconds: u32,
}

fn default_leeway() -> u64 {
    30
}

fn default_tenant_claim() -> String {
    "tenant".into()
}

fn default_max_token_lifetime() -> u32 {
    24 * 60 * 60
}

/// `[[auth.keys]]`: one key. An HS256 secret comes from an environment
/// variable or a file, never from the config itself; a public key from a
/// PEM file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The key id a token names in its `kid` header; needed when there are
    /// several keys of one algorithm (rotation).
    pub kid: Option<String>,
    /// `HS256`, `RS256`, `ES256` or `EdDSA`.
    pub algorithm: String,
    /// HS256: the environment variable holding the secret.
    pub secret_env: Option<String>,
    /// HS256: a file holding the secret (relative to the config file).
    pub secret_file: Option<PathBuf>,
    /// RS256, ES256, EdDSA: the public key, PEM (relative to the config
    /// file).
    pub public_key_file: Option<PathBuf>,
    /// RS256, ES256, EdDSA: the private key, PEM, for a key that is the
    /// `issue_key`.
    pub private_key_file: Option<PathBuf>,
}

/// `[modules.<name>.auth]`: what every route of the module requires,
/// whatever the module declares.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleAuth {
    /// Whether a valid token is required.
    #[serde(default)]
    pub required: bool,
    /// Roles the token must carry (every one), in its `roles` claim.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The `[auth]` that applies to `tenant` of `config`: its own
/// `[tenants.<t>.auth]`, else the host's, if any.
pub fn auth_for<'a>(config: &'a RuntimeConfig, tenant: &str) -> Option<&'a AuthConfig> {
    match config.tenants.get(tenant).and_then(|own| own.auth.as_ref()) {
        Some(own) => Some(own),
        None => config.auth.as_ref(),
    }
}

/// What `build` makes of each `[auth]` section of `config` (named by its
/// key, `auth` or `tenants.<t>.auth`), once per section, by the tenants
/// it applies to: a tenant without its own shares the host's.
pub fn per_tenant<T>(
    config: &RuntimeConfig,
    build: impl Fn(&AuthConfig, &str) -> Result<Option<T>>,
) -> Result<HashMap<String, Arc<T>>> {
    let host = match &config.auth {
        Some(auth) => build(auth, "auth")?.map(Arc::new),
        None => None,
    };
    let mut each = HashMap::new();
    if let Some(host) = &host {
        each.insert(DEFAULT_TENANT.to_string(), host.clone());
    }
    for (name, tenant) in &config.tenants {
        let applies = match &tenant.auth {
            Some(own) => build(own, &format!("tenants.{name}.auth"))?.map(Arc::new),
            None => host.clone(),
        };
        if let Some(applies) = applies {
            each.insert(name.clone(), applies);
        }
    }
    Ok(each)
}
