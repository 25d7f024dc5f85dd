//! Auth at the door: bearer tokens (JWT, checked with `jsonwebtoken`)
//! required by the operator for a module's routes, checked before the
//! request reaches the module, so a refused request never runs guest code.
//!
//! `[auth]` (or a tenant's own `[tenants.<t>.auth]`) says which keys sign
//! the tokens and which issuer and audience they carry; `[modules.<name>.auth]` says whether the module's routes
//! need a token, and which roles (the token's `roles` claim); a module may
//! also declare it route by route in its manifest. The guest then finds the
//! principal in its request.

mod config;
mod issuer;
mod keys;
mod passwords;
mod recent;
mod rejection;
mod verifier;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Result, bail};
use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;

use crate::config::RuntimeConfig;
use crate::host_state::DEFAULT_TENANT;
use crate::routing::RouteMatch;
pub use config::{AuthConfig, ModuleAuth, auth_for, per_tenant};
pub use issuer::{IssueError, TokenIssuer};
pub use passwords::{PasswordConfig, PasswordError, PasswordHashing, Spent};
pub use rejection::Rejection;
pub use verifier::{Principal, TokenVerifier};

/// The most clock skew allowed on `exp` and `nbf`: an hour.
const MAX_LEEWAY_SECONDS: u64 = 3600;

/// The host's token check, per tenant: the host's `[auth]`, or a tenant's
/// own.
pub struct Gate {
    verifiers: HashMap<String, Arc<TokenVerifier>>,
}

/// The check of one `[auth]` section (`section` names it in messages).
fn verifier(auth: &AuthConfig, section: &str, config: &RuntimeConfig) -> Result<TokenVerifier> {
    if auth.leeway_seconds > MAX_LEEWAY_SECONDS {
        bail!(
            "{}: {section}.leeway_seconds is {}; clock skew above {MAX_LEEWAY_SECONDS} seconds would let expired tokens through, use at most that",
            config.source.display(),
            auth.leeway_seconds
        );
    }
    if auth.tenant_claim.is_empty() || HOST_CLAIMS.contains(&auth.tenant_claim.as_str()) {
        bail!(
            "{}: {section}.tenant_claim is {:?}, a claim the host reads for something else; name another claim, such as \"tenant\"",
            config.source.display(),
            auth.tenant_claim
        );
    }
    let keys = keys::load(&auth.keys, section, config.folder(), &config.source)?;
    Ok(TokenVerifier::new(auth, keys))
}

impl Gate {
    /// The gate `config` describes: the keys of every `[auth]` read, every
    /// module's requirement checked against its tenant's. Errors name the
    /// file, the key and the fix.
    pub fn from_config(config: &RuntimeConfig) -> Result<Gate> {
        let file = config.source.display();
        let verifiers = per_tenant(config, |auth, section| {
            verifier(auth, section, config).map(Some)
        })?;
        for view in config.tenant_views() {
            for (name, module) in &view.modules {
                let Some(auth) = &module.auth else { continue };
                let key = view.module_key(name);
                if let Err(why) = check_roles(&format!("{key}.auth"), &auth.roles) {
                    bail!("{file}: {why}");
                }
                if !auth.required && !auth.roles.is_empty() {
                    bail!(
                        "{file}: {key}.auth: roles are given but required = false; set required = true"
                    );
                }
                if auth.required && !verifiers.contains_key(&view.tenant) {
                    bail!(
                        "{file}: {key}.auth.required: no [auth] section says how to check tokens; add [auth] with issuer, audience and [[auth.keys]]"
                    );
                }
            }
        }
        Ok(Gate { verifiers })
    }

    /// Whether a request on `route` of `tenant` with `headers` may go in:
    /// `Ok(None)` when the route needs no token (neither its module nor the
    /// operator asks for one: the route table merged both), the principal
    /// when the token holds, is not another tenant's and has every role the
    /// route needs, or why not.
    pub fn check(
        &self,
        route: &RouteMatch,
        tenant: &str,
        headers: &HeaderMap,
    ) -> Result<Option<Arc<Principal>>, Rejection> {
        let Some(roles) = route.auth else {
            return Ok(None);
        };
        // A module whose routes need tokens does not load without [auth];
        // should one get here all the same, it is refused, never let in.
        let verifier = self.verifiers.get(tenant).ok_or(Rejection::NotConfigured)?;
        let token = bearer(headers)?;
        let principal = verifier.verify(token)?;
        // A token stamped for another tenant is not for these routes; one
        // without the claim (from an outside issuer) is the default's.
        let token_tenant = principal.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
        if token_tenant != tenant {
            return Err(Rejection::WrongTenant);
        }
        if let Some(role) = roles.iter().find(|role| !principal.roles.contains(role)) {
            return Err(Rejection::MissingRole(role.clone()));
        }
        Ok(Some(principal))
    }
}

/// The most roles one route may require.
const MAX_ROUTE_ROLES: usize = 16;

/// The longest role name, in bytes.
const MAX_ROLE_BYTES: usize = 64;

/// Checks the roles `what` (a route, a config key) requires: at most 16,
/// each 1 to 64 bytes.
pub fn check_roles(what: &str, roles: &[String]) -> Result<(), String> {
    if roles.len() > MAX_ROUTE_ROLES {
        return Err(format!(
            "{what} requires {} roles; at most {MAX_ROUTE_ROLES}",
            roles.len()
        ));
    }
    match roles
        .iter()
        .find(|role| role.is_empty() || role.len() > MAX_ROLE_BYTES)
    {
        Some(role) => Err(format!(
            "{what} requires the role {:?}: a role is 1 to {MAX_ROLE_BYTES} bytes",
            role.chars().take(MAX_ROLE_BYTES).collect::<String>()
        )),
        None => Ok(()),
    }
}

/// The claims the host reads or sets itself, which cannot name a token's
/// tenant.
const HOST_CLAIMS: [&str; 8] = ["sub", "iss", "aud", "iat", "exp", "nbf", "jti", "roles"];

/// The token of the `Authorization: Bearer` header (the scheme in any
/// case, as RFC 6750 allows).
fn bearer(headers: &HeaderMap) -> Result<&str, Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Err(Rejection::Missing),
        (Some(value), None) => value,
        (Some(_), Some(_)) => {
            return Err(Rejection::Malformed(
                "more than one Authorization header".into(),
            ));
        }
    };
    let value = value
        .to_str()
        .map_err(|_| Rejection::Malformed("the Authorization header is not text".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(Rejection::Missing),
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn gate(text: &str) -> Result<Gate> {
        let config = RuntimeConfig::parse(text, std::path::Path::new("/etc/modhost/runtime.toml"))?;
        Gate::from_config(&config)
    }

    #[test]
    fn a_tenant_claim_the_host_reads_or_unbounded_operator_roles_stop_the_start() {
        let auth = "[auth]\nissuer = \"i\"\naudience = \"a\"\n[[auth.keys]]\nalgorithm = \"EdDSA\"\npublic_key_file = \"/nonexistent.pem\"\n";
        for claim in ["sub", "roles", ""] {
            let text = auth.replace("audience", &format!("tenant_claim = {claim:?}\naudience"));
            let err = gate(&text).err().unwrap().to_string();
            assert!(err.contains("auth.tenant_claim is"), "{claim}: {err}");
        }
        let roles = format!(
            "[modules.m]\npath = \"m.wasm\"\n[modules.m.auth]\nrequired = true\nroles = [{}]\n",
            vec!["\"r\""; 17].join(", ")
        );
        let err = gate(&roles).err().unwrap().to_string();
        assert!(
            err.contains("modules.m.auth requires 17 roles; at most 16"),
            "{err}"
        );
        let empty =
            "[modules.m]\npath = \"m.wasm\"\n[modules.m.auth]\nrequired = true\nroles = [\"\"]\n";
        let err = gate(empty).err().unwrap().to_string();
        assert!(err.contains("a role is 1 to 64 bytes"), "{err}");
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case_and_only_once() {
        assert_eq!(bearer(&headers(&["Bearer abc"])), Ok("abc"));
        assert_eq!(bearer(&headers(&["bearer  abc "])), Ok("abc"));
        assert_eq!(bearer(&headers(&["BEARER abc"])), Ok("abc"));
        assert_eq!(bearer(&headers(&[])), Err(Rejection::Missing));
        assert_eq!(bearer(&headers(&["Basic abc"])), Err(Rejection::Missing));
        assert_eq!(bearer(&headers(&["Bearer "])), Err(Rejection::Missing));
        assert!(matches!(
            bearer(&headers(&["Bearer a", "Bearer b"])),
            Err(Rejection::Malformed(_))
        ));
    }
}
