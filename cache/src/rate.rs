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
        self.take_at(calls, Instant::now())
    }

    /// [`RateLimiter::take`] as of `now`: the bucket refills for the time
    /// since the last call (none if `now` is earlier).
    fn take_at(&self, calls: usize, now: Instant) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (tokens, last) = &mut *state;
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * self.per_second)
            .min(self.per_second);
        *last = (*last).max(now);
        let wanted = calls as f64;
        if *tokens >= wanted {
            *tokens -= wanted;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A limiter of 5 a second and the instant its bucket was filled.
    fn five_a_second() -> (RateLimiter, Instant) {
        let limiter = RateLimiter::new(5);
        let start = limiter.state.lock().unwrap().1;
        (limiter, start)
    }

    #[test]
    fn a_full_bucket_admits_one_seconds_worth_at_once_and_no_more() {
        let (limiter, start) = five_a_second();
        assert!((0..5).all(|_| limiter.take_at(1, start)));
        assert!(!limiter.take_at(1, start));
        assert!(!limiter.take_at(1, start + Duration::from_millis(199)));
    }

    #[test]
    fn the_bucket_refills_continuously_up_to_one_second() {
        let (limiter, start) = five_a_second();
        assert!(limiter.take_at(5, start));
        // 200 ms is one token at 5 a second.
        let later = start + Duration::from_millis(200);
        assert!(limiter.take_at(1, later));
        assert!(!limiter.take_at(1, later));
        // A long pause refills one second's worth, never more.
        let much_later = later + Duration::from_secs(60);
        assert!(limiter.take_at(5, much_later));
        assert!(!limiter.take_at(1, much_later));
    }

    #[test]
    fn a_batch_takes_its_size_or_nothing() {
        let (limiter, start) = five_a_second();
        assert!(!limiter.take_at(6, start), "more than the bucket holds");
        assert!(limiter.take_at(4, start), "the refused batch took nothing");
        assert!(!limiter.take_at(2, start));
        assert!(limiter.take_at(1, start));
    }

    #[test]
    fn a_clock_read_out_of_order_gives_no_tokens() {
        let (limiter, start) = five_a_second();
        let later = start + Duration::from_millis(400);
        assert!(limiter.take_at(5, later));
        assert!(
            !limiter.take_at(1, start),
            "an earlier instant refills nothing"
        );
        // 400 ms after `later`: two tokens, not four counted from `start`.
        let then = later + Duration::from_millis(400);
        assert!(limiter.take_at(2, then));
        assert!(!limiter.take_at(1, then));
    }
}
