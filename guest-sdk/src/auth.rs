//! Tokens and passwords, done by the host: a module never implements crypto
//! itself. Each needs a grant in the module's config: `auth.issue` for
//! [`issue`], `auth.passwords` for [`hash_password`] and [`verify_password`].
//!
//! ```no_run
//! use std::time::Duration;
//! use modhost_sdk::auth;
//!
//! # fn login(stored_hash: &str, password: &str) -> modhost_sdk::Result<Option<String>> {
//! if !auth::verify_password(password, stored_hash)? {
//!     return Ok(None);
//! }
//! let token = auth::issue("u1", &serde_json::json!({"roles": ["user"]}), Duration::from_secs(3600))?;
//! # Ok(Some(token))
//! # }
//! ```

use std::time::Duration;

use crate::HostError;
use crate::bindings::modhost::module::auth as host;

pub use crate::bindings::modhost::module::auth::AuthError;

/// A token for `subject` carrying `claims` (a JSON object, such as
/// `{"roles": ["admin"]}`), valid for `lifetime` (whole seconds, at most
/// what the host allows). The host adds `sub`, `iss`, `aud`, `iat`, `exp`
/// and the module's tenant: the token is good on this tenant's routes only.
pub fn issue(
    subject: &str,
    claims: &serde_json::Value,
    lifetime: Duration,
) -> Result<String, AuthError> {
    let seconds = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX);
    host::issue(subject, &claims.to_string(), seconds)
}

/// An argon2id hash of `password` with a fresh salt (a PHC string): store
/// it instead of the password.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    host::hash_password(password)
}

/// Whether `password` matches `hash` (made by [`hash_password`]); the host
/// compares in constant time.
pub fn verify_password(password: &str, hash: &str) -> Result<bool, AuthError> {
    host::verify_password(password, hash)
}

/// An auth failure as an HTTP answer: 400 for a password out of bounds
/// (the client sent it), 503 when every hashing seat is taken, else 500
/// (the module or its deployment is at fault).
impl HostError for AuthError {
    fn message(&self) -> &str {
        match self {
            AuthError::NotGranted(why)
            | AuthError::InvalidClaims(why)
            | AuthError::InvalidRequest(why)
            | AuthError::InvalidPassword(why)
            | AuthError::InvalidHash(why)
            | AuthError::Busy(why) => why,
        }
    }

    fn status(&self) -> u16 {
        match self {
            AuthError::InvalidPassword(_) => 400,
            AuthError::Busy(_) => 503,
            _ => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_auth_error_has_its_status_and_message() {
        let why = || "why".to_string();
        let cases = [
            (AuthError::InvalidPassword(why()), 400),
            (AuthError::Busy(why()), 503),
            (AuthError::NotGranted(why()), 500),
            (AuthError::InvalidClaims(why()), 500),
            (AuthError::InvalidRequest(why()), 500),
            (AuthError::InvalidHash(why()), 500),
        ];
        crate::error::assert_statuses(cases);
    }
}
