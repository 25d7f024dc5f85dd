//! Auth at the door: bearer tokens (JWT, checked with `jsonwebtoken`)
//! required by the operator for a module's routes, checked before the
//! request reaches the module, so a refused request never runs guest code.
//!
//! `[auth]` says which keys sign the tokens and which issuer and audience
//! they carry; `[modules.<name>.auth]` says whether the module's routes
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

use std::sync::Arc;

use anyhow::{Result, bail};
use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;

use crate::config::RuntimeConfig;
use crate::host_state::DEFAULT_TENANT;
use crate::routing::RouteMatch;
pub use config::{AuthConfig, ModuleAuth};
pub use issuer::{IssueError, TokenIssuer};
pub use passwords::{PasswordConfig, PasswordError, PasswordHashing, Spent};
pub use rejection::Rejection;
pub use verifier::{Principal, TokenVerifier};

/// The most clock skew allowed on `exp` and `nbf`: an hour.
const MAX_LEEWAY_SECONDS: u64 = 3600;

/// The host's token check and what each module requires.
pub struct Gate {
    verifier: Option<TokenVerifier>,
}

impl Gate {
    /// The gate `config` describes: its keys read, every module's
    /// requirement checked against them. Errors name the file, the key and
    /// the fix.
    pub fn from_config(config: &RuntimeConfig) -> Result<Gate> {
        let file = config.source.display();
        let verifier = match &config.auth {
            Some(auth) if auth.leeway_seconds > MAX_LEEWAY_SECONDS => {
                bail!(
                    "{file}: auth.leeway_seconds is {}; clock skew above {MAX_LEEWAY_SECONDS} seconds would let expired tokens through, use at most that",
                    auth.leeway_seconds
                );
            }
            Some(auth) => {
                let keys = keys::load(&auth.keys, config.folder(), &config.source)?;
                Some(TokenVerifier::new(auth, keys))
            }
            None => None,
        };
        for view in config.tenant_views() {
            for (name, module) in &view.modules {
                let Some(auth) = &module.auth else { continue };
                let key = view.module_key(name);
                if !auth.required && !auth.roles.is_empty() {
                    bail!(
                        "{file}: {key}.auth: roles are given but required = false; set required = true"
                    );
                }
                if auth.required && verifier.is_none() {
                    bail!(
                        "{file}: {key}.auth.required: no [auth] section says how to check tokens; add [auth] with issuer, audience and [[auth.keys]]"
                    );
                }
            }
        }
        Ok(Gate { verifier })
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
        let verifier = self.verifier.as_ref().ok_or(Rejection::NotConfigured)?;
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
