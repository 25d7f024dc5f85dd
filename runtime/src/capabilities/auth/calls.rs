//! The `auth` interface's calls. Hashing runs off the async workers (see
//! [`PasswordHashing`]); the time it took is charged to the call's CPU
//! budget, so a module that hashes in a loop runs out like one that spins.

use std::time::Duration;

use super::AuthView;
use crate::auth::{IssueError, PasswordError, PasswordHashing, Spent};
use crate::bindings::modhost::module::auth::{self as wit, AuthError};
use crate::grants::Grant;

type AuthResult<T> = std::result::Result<T, AuthError>;

impl wit::Host for AuthView<'_> {
    fn issue(
        &mut self,
        subject: String,
        claims: String,
        lifetime_seconds: u32,
    ) -> AuthResult<String> {
        let Some(issuer) = &self.auth.issuer else {
            return Err(self.not_granted(Grant::AuthIssue));
        };
        issuer
            .issue(&self.auth.tenant, &subject, &claims, lifetime_seconds)
            .map_err(|err| match err {
                IssueError::InvalidClaims(why) => AuthError::InvalidClaims(why),
                IssueError::InvalidRequest(why) => AuthError::InvalidRequest(why),
            })
    }

    async fn hash_password(&mut self, password: String) -> AuthResult<String> {
        let deadline = self.budget.deadline;
        let hashed = self.passwords()?.hash(password, deadline).await;
        self.charged(hashed)
    }

    async fn verify_password(&mut self, password: String, hash: String) -> AuthResult<bool> {
        let deadline = self.budget.deadline;
        let checked = self.passwords()?.verify(password, hash, deadline).await;
        self.charged(checked)
    }
}

impl AuthView<'_> {
    fn not_granted(&self, grant: Grant) -> AuthError {
        AuthError::NotGranted(grant.missing(self.tenant, self.module))
    }

    /// The host's hashing; an error when the module is not granted it, or
    /// when the call has no time or CPU left to spend on a hash.
    fn passwords(&self) -> AuthResult<&PasswordHashing> {
        let hashing = self
            .auth
            .passwords
            .as_deref()
            .ok_or_else(|| self.not_granted(Grant::AuthPasswords))?;
        if self.budget.exhausted().is_some() {
            return Err(AuthError::Busy(
                "the call has no time or CPU left for a hash".into(),
            ));
        }
        Ok(hashing)
    }

    /// The answer of a hash or check, its time charged to the call.
    fn charged<T>(&self, spent: Result<Spent<T>, PasswordError>) -> AuthResult<T> {
        let (answer, took): (T, Duration) = spent.map_err(|err| match err {
            PasswordError::InvalidPassword(why) => AuthError::InvalidPassword(why),
            PasswordError::InvalidHash(why) => AuthError::InvalidHash(why),
            PasswordError::Busy(why) => AuthError::Busy(why),
        })?;
        self.budget.charge(took);
        Ok(answer)
    }
}
