//! Tokens the host signs for modules granted `auth.issue`. The host sets
//! the claims that decide where a token is accepted (`iss`, `aud`, `sub`,
//! `iat`, `exp` and the tenant claim) and a module can set none of them:
//! a module mints tokens for its own tenant only, and for a lifetime the
//! operator bounds.

use anyhow::{Result, bail};
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Map, Value};

use crate::config::RuntimeConfig;

use super::config::AuthConfig;
use super::keys;

/// The most bytes of claims a module may add to a token.
const MAX_CLAIMS_BYTES: usize = 4096;
/// The longest subject, in bytes.
const MAX_SUBJECT_BYTES: usize = 256;

/// Why a token was not issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueError {
    /// The claims are not a JSON object, are too large, or set a claim the
    /// host sets.
    InvalidClaims(String),
    /// The subject or the lifetime is out of bounds.
    InvalidRequest(String),
}

/// The key the host signs with and the claims it stamps.
pub struct TokenIssuer {
    key: EncodingKey,
    header: Header,
    issuer: String,
    audience: String,
    tenant_claim: String,
    max_lifetime: u32,
}

impl TokenIssuer {
    /// The issuer of the `[auth]` section `auth` of `config` (named by
    /// its key, `section`): none without an `issue_key`. An error names the
    /// file, the key and the fix.
    pub fn new(
        auth: &AuthConfig,
        section: &str,
        config: &RuntimeConfig,
    ) -> Result<Option<TokenIssuer>> {
        let Some(kid) = &auth.issue_key else {
            return Ok(None);
        };
        let file = config.source.display();
        if auth.max_token_lifetime_seconds == 0 {
            bail!(
                "{file}: {section}.max_token_lifetime_seconds is 0; give the longest lifetime issued tokens may have, in seconds"
            );
        }
        let loaded = keys::load(&auth.keys, section, config.folder(), &config.source)?;
        let named: Vec<_> = loaded
            .into_iter()
            .filter(|key| key.kid.as_deref() == Some(kid.as_str()))
            .collect();
        if named.is_empty() {
            bail!(
                "{file}: {section}.issue_key is {kid:?}, which no [[{section}.keys]] has as its kid; name one of the keys"
            );
        }
        let Some(key) = named.into_iter().find(|key| key.signing.is_some()) else {
            bail!(
                "{file}: {section}.issue_key {kid:?} names a public key only; give that key a private_key_file, or name an HS256 key"
            );
        };
        let mut header = Header::new(key.algorithm);
        header.kid = key.kid;
        Ok(Some(TokenIssuer {
            key: key.signing.expect("found by its signing key"),
            header,
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            tenant_claim: auth.tenant_claim.clone(),
            max_lifetime: auth.max_token_lifetime_seconds,
        }))
    }

    /// A token for `subject` of `tenant` with the module's `claims` (a JSON
    /// object) for `lifetime` seconds.
    pub fn issue(
        &self,
        tenant: &str,
        subject: &str,
        claims: &str,
        lifetime: u32,
    ) -> Result<String, IssueError> {
        if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES {
            return Err(IssueError::InvalidRequest(format!(
                "the subject must be 1 to {MAX_SUBJECT_BYTES} bytes"
            )));
        }
        if lifetime == 0 || lifetime > self.max_lifetime {
            return Err(IssueError::InvalidRequest(format!(
                "the lifetime must be 1 to {} seconds",
                self.max_lifetime
            )));
        }
        let mut claims = self.module_claims(claims)?;
        let now = get_current_timestamp();
        let stamped = [
            ("sub", Value::from(subject)),
            ("iss", Value::from(self.issuer.as_str())),
            ("aud", Value::from(self.audience.as_str())),
            ("iat", Value::from(now)),
            ("exp", Value::from(now + u64::from(lifetime))),
            (self.tenant_claim.as_str(), Value::from(tenant)),
        ];
        for (name, value) in stamped {
            claims.insert(name.to_string(), value);
        }
        encode(&self.header, &claims, &self.key)
            .map_err(|err| IssueError::InvalidClaims(format!("cannot sign these claims: {err}")))
    }

    /// The module's claims: a JSON object of bounded size setting none of
    /// the claims the host sets.
    fn module_claims(&self, claims: &str) -> Result<Map<String, Value>, IssueError> {
        if claims.len() > MAX_CLAIMS_BYTES {
            return Err(IssueError::InvalidClaims(format!(
                "the claims are {} bytes; at most {MAX_CLAIMS_BYTES}",
                claims.len()
            )));
        }
        let claims = if claims.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str(claims) {
                Ok(Value::Object(claims)) => claims,
                _ => {
                    return Err(IssueError::InvalidClaims(
                        "the claims must be a JSON object".into(),
                    ));
                }
            }
        };
        let reserved = ["sub", "iss", "aud", "iat", "exp", "nbf"];
        let host_set = reserved
            .into_iter()
            .chain([self.tenant_claim.as_str()])
            .find(|name| claims.contains_key(*name));
        if let Some(name) = host_set {
            return Err(IssueError::InvalidClaims(format!(
                "the claim {name} is set by the host; leave it out"
            )));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use hyper::HeaderMap;
    use hyper::header::AUTHORIZATION;

    use super::*;
    use crate::auth::{Gate, Rejection, TokenVerifier};
    use crate::host_state::DEFAULT_TENANT;
    use crate::routing::RouteMatch;

    /// A config with one HS256 key (kid `main`, in a file) as `issue_key`,
    /// its folder kept while the test runs.
    fn config() -> (tempfile::TempDir, RuntimeConfig) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("secret"),
            "a-secret-of-thirty-two-bytes-or-more!",
        )
        .unwrap();
        let text = "[auth]\nissuer = \"https://id.test\"\naudience = \"modhost\"\nissue_key = \"main\"\nmax_token_lifetime_seconds = 600\n\
                    [[auth.keys]]\nkid = \"main\"\nalgorithm = \"HS256\"\nsecret_file = \"secret\"\n\
                    [tenants.acme]\nprefix = \"/acme\"\n";
        let config = RuntimeConfig::parse(text, &dir.path().join("runtime.toml")).unwrap();
        (dir, config)
    }

    /// The issuer of the host's `[auth]`.
    fn host_issuer(config: &RuntimeConfig) -> Result<Option<TokenIssuer>> {
        TokenIssuer::new(config.auth.as_ref().unwrap(), "auth", config)
    }

    fn verifier(config: &RuntimeConfig) -> TokenVerifier {
        let auth = config.auth.as_ref().unwrap();
        let keys = keys::load(&auth.keys, "auth", config.folder(), &config.source).unwrap();
        TokenVerifier::new(auth, keys)
    }

    #[test]
    fn issued_tokens_carry_the_hosts_claims_and_pass_its_check() {
        let (_dir, config) = config();
        let issuer = host_issuer(&config).unwrap().unwrap();
        let token = issuer
            .issue("acme", "u1", r#"{"roles": ["user"], "plan": "gold"}"#, 60)
            .unwrap();
        let principal = verifier(&config).verify(&token).unwrap();
        assert_eq!(principal.subject, "u1");
        assert_eq!(principal.roles, ["user"]);
        assert_eq!(principal.tenant.as_deref(), Some("acme"));
        let claims: Value = serde_json::from_str(&principal.claims).unwrap();
        assert_eq!(claims["iss"], "https://id.test");
        assert_eq!(claims["aud"], "modhost");
        assert_eq!(claims["plan"], "gold");
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert_eq!(lifetime, 60);
    }

    #[test]
    fn a_token_issued_for_another_tenant_is_refused_at_the_gate() {
        let (_dir, config) = config();
        let issuer = host_issuer(&config).unwrap().unwrap();
        let gate = Gate::from_config(&config).unwrap();
        let route = RouteMatch {
            module: "wallet",
            route: "/wallet/:user_id",
            params: Vec::new(),
            auth: Some(&[]),
        };
        // A token issued by a module of `issued_in`, presented to `at`.
        let check = |issued_in: &str, at: &str| {
            let token = issuer.issue(issued_in, "u1", "{}", 60).unwrap();
            let mut headers = HeaderMap::new();
            let bearer = format!("Bearer {token}");
            headers.insert(AUTHORIZATION, bearer.parse().unwrap());
            gate.check(&route, at, &headers)
                .map(|principal| principal.is_some())
        };
        assert_eq!(check(DEFAULT_TENANT, DEFAULT_TENANT), Ok(true));
        assert_eq!(check("acme", "acme"), Ok(true));
        assert_eq!(check("acme", DEFAULT_TENANT), Err(Rejection::WrongTenant));
        assert_eq!(check(DEFAULT_TENANT, "acme"), Err(Rejection::WrongTenant));
    }

    #[test]
    fn a_module_cannot_set_the_claims_the_host_sets() {
        let (_dir, config) = config();
        let issuer = host_issuer(&config).unwrap().unwrap();
        for claim in ["sub", "iss", "aud", "iat", "exp", "nbf", "tenant"] {
            let claims = json!({ claim: "mine" }).to_string();
            let refused = issuer.issue("acme", "u1", &claims, 60);
            assert!(
                matches!(&refused, Err(IssueError::InvalidClaims(why)) if why.contains(claim)),
                "{claim}: {refused:?}"
            );
        }
        let bad = [
            ("", "{}", 60),
            ("u1", "{}", 0),
            ("u1", "{}", 601),
            ("u1", "[1]", 60),
            ("u1", "not json", 60),
        ];
        for (subject, claims, lifetime) in bad {
            assert!(issuer.issue("acme", subject, claims, lifetime).is_err());
        }
        let long = json!({ "x": "y".repeat(MAX_CLAIMS_BYTES) }).to_string();
        assert!(issuer.issue("acme", "u1", &long, 60).is_err());
    }

    #[test]
    fn an_issue_key_that_cannot_sign_stops_the_start_naming_it() {
        let (_dir, config) = config();
        let mut auth = config.auth.clone().unwrap();
        auth.issue_key = Some("other".into());
        let unknown = RuntimeConfig {
            auth: Some(auth),
            ..config.clone()
        };
        let err = host_issuer(&unknown).err().unwrap().to_string();
        assert!(err.contains("auth.issue_key is \"other\""), "{err}");
        let mut auth = config.auth.clone().unwrap();
        auth.max_token_lifetime_seconds = 0;
        let zero = RuntimeConfig {
            auth: Some(auth),
            ..config
        };
        let err = host_issuer(&zero).err().unwrap().to_string();
        assert!(err.contains("auth.max_token_lifetime_seconds"), "{err}");
    }
}
