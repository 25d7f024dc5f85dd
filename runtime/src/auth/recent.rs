//! Tokens verified recently: a client sends the same token with request
//! after request, and checking it again each time (decoding, parsing the
//! claims, the signature) costs more than the rest of a small request. A
//! token found here is let through without the check until its `exp`
//! (plus the leeway) passes, exactly as long as the check would pass it.
//!
//! Only tokens that passed the check are kept, so a client cannot fill
//! this with garbage; it holds at most [`MAX_TOKENS`] of them, and when
//! full it drops the expired ones, or else all (each is checked afresh
//! once more): bounded, and never wrong.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::verifier::Principal;

/// The most tokens kept.
pub const MAX_TOKENS: usize = 4096;

/// Verified tokens, by their text, with how long each stays valid.
#[derive(Default)]
pub struct RecentTokens {
    entries: Mutex<HashMap<Box<str>, Kept>>,
}

struct Kept {
    principal: Arc<Principal>,
    /// Seconds since the epoch past which the token is expired.
    valid_until: u64,
}

impl RecentTokens {
    /// The principal of `token` if it was verified and is valid at `now`.
    pub fn get(&self, token: &str, now: u64) -> Option<Arc<Principal>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        entries
            .get(token)
            .filter(|kept| now <= kept.valid_until)
            .map(|kept| kept.principal.clone())
    }

    /// Keeps `token`, verified at `now`, valid until `valid_until`.
    pub fn keep(&self, token: &str, principal: Arc<Principal>, valid_until: u64, now: u64) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if entries.len() >= MAX_TOKENS {
            entries.retain(|_, kept| now <= kept.valid_until);
            if entries.len() >= MAX_TOKENS {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            Kept {
                principal,
                valid_until,
            },
        );
    }

    /// How many tokens are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Arc<Principal> {
        Arc::new(Principal {
            subject: "u1".into(),
            roles: Vec::new(),
            tenant: None,
            claims: "{}".into(),
        })
    }

    #[test]
    fn a_kept_token_is_found_until_it_expires() {
        let recent = RecentTokens::default();
        recent.keep("t", principal(), 100, 50);
        assert!(recent.get("t", 100).is_some());
        assert!(recent.get("t", 101).is_none(), "past its exp");
        assert!(recent.get("other", 50).is_none());
    }

    #[test]
    fn it_holds_at_most_its_bound() {
        let recent = RecentTokens::default();
        for n in 0..MAX_TOKENS {
            recent.keep(
                &format!("t{n}"),
                principal(),
                if n % 2 == 0 { 10 } else { 100 },
                5,
            );
        }
        assert_eq!(recent.len(), MAX_TOKENS);
        // Full: the expired half goes.
        recent.keep("new", principal(), 100, 50);
        assert_eq!(recent.len(), MAX_TOKENS / 2 + 1);
        assert!(recent.get("new", 50).is_some());
        // Full of valid ones: all go but the new one.
        for n in 0..MAX_TOKENS {
            recent.keep(&format!("v{n}"), principal(), 100, 50);
        }
        assert!(recent.len() <= MAX_TOKENS);
    }
}
