//! Checks a bearer token: its shape, its key (by `kid`, and the key's one
//! algorithm), its signature, `exp` and `nbf` (with the configured leeway),
//! `iss` and `aud`. The answer is the principal, or why not.

use jsonwebtoken::errors::ErrorKind;
use std::sync::Arc;

use jsonwebtoken::{Validation, decode, decode_header, get_current_timestamp};
use serde_json::{Map, Value};

use super::config::AuthConfig;
use super::keys::VerifyingKey;
use super::recent::RecentTokens;
use super::rejection::Rejection;

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The token's `sub`.
    pub subject: String,
    /// The strings of its `roles` claim.
    pub roles: Vec<String>,
    /// Its tenant claim (`[auth] tenant_claim`), when it has one.
    pub tenant: Option<String>,
    /// Every claim, as a JSON object.
    pub claims: String,
}

/// Why `jsonwebtoken` refused a token whose signature matched (or that it
/// could not check at all).
fn rejection(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidSignature => Rejection::BadSignature,
        ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
        ErrorKind::InvalidAudience => Rejection::WrongAudience,
        ErrorKind::InvalidAlgorithm => Rejection::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(claim) => {
            Rejection::Malformed(format!("it has no {claim} claim"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            Rejection::Malformed(format!("its {claim} claim has the wrong type"))
        }
        _ => Rejection::Malformed("it is not a valid JWT".into()),
    }
}

/// The longest token read, in bytes; a longer one is refused unread.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The keys and the claims a token must carry, and the tokens verified
/// recently.
pub struct TokenVerifier {
    keys: Vec<(VerifyingKey, Validation)>,
    leeway: u64,
    tenant_claim: String,
    recent: RecentTokens,
}

impl TokenVerifier {
    /// Checks tokens against `keys`, requiring `config`'s issuer and
    /// audience and allowing its leeway.
    pub fn new(config: &AuthConfig, keys: Vec<VerifyingKey>) -> TokenVerifier {
        let keys = keys
            .into_iter()
            .map(|key| {
                // Only the key's own algorithm: a token that names another
                // (an HS256 token meant to be checked with an RSA public
                // key as its secret, say) is refused before any check.
                let mut validation = Validation::new(key.algorithm);
                validation.set_issuer(&[&config.issuer]);
                validation.set_audience(&[&config.audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                validation.validate_nbf = true;
                validation.leeway = config.leeway_seconds;
                (key, validation)
            })
            .collect();
        TokenVerifier {
            keys,
            leeway: config.leeway_seconds,
            tenant_claim: config.tenant_claim.clone(),
            recent: RecentTokens::default(),
        }
    }

    /// The principal `token` speaks for: from the tokens verified recently
    /// while it is valid, else checked (and then kept).
    pub fn verify(&self, token: &str) -> Result<Arc<Principal>, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::Malformed(format!(
                "it is longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let now = get_current_timestamp();
        if let Some(principal) = self.recent.get(token, now) {
            return Ok(principal);
        }
        let (principal, exp) = self.check(token)?;
        let principal = Arc::new(principal);
        let valid_until = exp.saturating_add(self.leeway);
        self.recent.keep(token, principal.clone(), valid_until, now);
        Ok(principal)
    }

    /// Checks `token` in full: the principal, and its `exp`.
    fn check(&self, token: &str) -> Result<(Principal, u64), Rejection> {
        let header = decode_header(token).map_err(|err| match err.kind() {
            ErrorKind::InvalidAlgorithmName | ErrorKind::UnsupportedAlgorithm => {
                Rejection::Malformed("its algorithm is not one this host accepts".into())
            }
            _ => Rejection::Malformed("it is not a signed JWT".into()),
        })?;
        // A kid names one key; without one, every key is a candidate.
        let named: Vec<&(VerifyingKey, Validation)> = self
            .keys
            .iter()
            .filter(|(key, _)| match (&header.kid, &key.kid) {
                (Some(wanted), Some(kid)) => wanted == kid,
                (Some(_), None) => false,
                (None, _) => true,
            })
            .collect();
        if named.is_empty() {
            return Err(Rejection::UnknownKey);
        }
        // Only keys of the token's algorithm: never an RSA or Ed25519 public
        // key taken as an HMAC secret.
        let mut candidates = named
            .into_iter()
            .filter(|(key, _)| key.algorithm == header.alg)
            .peekable();
        if candidates.peek().is_none() {
            return Err(Rejection::WrongAlgorithm);
        }
        // The first key whose signature matches decides; when none does,
        // the signature is wrong.
        let mut data = None;
        for (key, validation) in candidates {
            match decode::<Map<String, Value>>(token, &key.key, validation) {
                Ok(decoded) => {
                    data = Some(decoded);
                    break;
                }
                Err(err) if *err.kind() == ErrorKind::InvalidSignature => continue,
                Err(err) => return Err(rejection(err.kind())),
            }
        }
        let data = data.ok_or(Rejection::BadSignature)?;
        let claims = data.claims;
        // Required and checked as a number by the validation.
        let exp = claims.get("exp").and_then(Value::as_f64).unwrap_or(0.0) as u64;
        let Some(Value::String(subject)) = claims.get("sub") else {
            return Err(Rejection::Malformed("its sub claim is not a string".into()));
        };
        let roles = match claims.get("roles") {
            None => Vec::new(),
            Some(Value::Array(roles)) => roles
                .iter()
                .map(|role| role.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    Rejection::Malformed("its roles claim is not a list of strings".into())
                })?,
            Some(_) => {
                return Err(Rejection::Malformed(
                    "its roles claim is not a list of strings".into(),
                ));
            }
        };
        let tenant = match claims.get(&self.tenant_claim) {
            None => None,
            Some(Value::String(tenant)) => Some(tenant.clone()),
            Some(_) => {
                return Err(Rejection::Malformed(format!(
                    "its {} claim is not a string",
                    self.tenant_claim
                )));
            }
        };
        let principal = Principal {
            subject: subject.clone(),
            roles,
            tenant,
            claims: Value::Object(claims).to_string(),
        };
        Ok((principal, exp))
    }
}
