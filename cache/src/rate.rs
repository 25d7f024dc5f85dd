//! A token bucket: up to `per_second` calls in any one second, refilled
//! continuously.

use std::sync::Mutex;
use std::time::Instant;

/// Admits at most `per_second` calls per second on average, with bursts of
/// up to one second's worth.
pub struct RateLimiter {
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket of `per_second` tokens.
    pub fn new(per_second: u32) -> RateLimiter {
        let per_second = f64::from(per_second);
        RateLimiter {
            per_second,
            state: Mutex::new((per_second, Instant::now())),
        }
    }

    /// Takes `calls` tokens if there are that many; says whether it did.
    pub fn take(&self, calls: usize) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second)
            .min(self.per_second);
        *last = now;
        let wanted = calls as f64;
        if *tokens >= wanted {
            *tokens -= wanted;
            true
        } else {
            false
        }
    }
}
