//! Request ids: short, unique within a process and unlikely to repeat across
//! processes, cheap enough to make for every request.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A random per-process prefix, so ids from several runtime instances behind
/// one load balancer do not collide.
static PROCESS_PREFIX: LazyLock<u32> = LazyLock::new(|| {
    // RandomState is seeded from the OS's randomness: no extra crate needed.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish() as u32
});

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The next request id, as `<8 hex digits of process>-<counter in hex>`.
pub fn next_request_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-{n:x}", *PROCESS_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_share_the_process_prefix() {
        let a = next_request_id();
        let b = next_request_id();
        assert_ne!(a, b);
        assert_eq!(a.split('-').next(), b.split('-').next());
    }
}
