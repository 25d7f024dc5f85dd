//! Request ids: the client's own `x-request-id` when it is well formed (so
//! one id follows a request through a proxy, the host and its modules),
//! otherwise one made here: short, unique within a process and unlikely to
//! repeat across processes, cheap enough to make for every request.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::HeaderMap;

/// A random per-process prefix, so ids from several runtime instances behind
/// one load balancer do not collide.
static PROCESS_PREFIX: LazyLock<u32> = LazyLock::new(|| {
    // RandomState is seeded from the OS's randomness: no extra crate needed.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish() as u32
});

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The header that carries the request id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest request id taken from a client.
const MAX_TAKEN_ID_BYTES: usize = 128;

/// The id of a request with `headers`: its `x-request-id` when that is 1
/// to 128 characters of letters, digits and `-_.:` (what trace and proxy
/// ids are made of, and nothing that could forge a log line or a JSON
/// field), else a new one.
pub fn request_id_of(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_well_formed(id))
        .map_or_else(next_request_id, str::to_string)
}

fn is_well_formed(id: &str) -> bool {
    (1..=MAX_TAKEN_ID_BYTES).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The next request id, as `<8 hex digits of process>-<counter in hex>`.
fn next_request_id() -> String {
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

    fn with_id(id: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            REQUEST_ID_HEADER,
            hyper::header::HeaderValue::from_bytes(id).unwrap(),
        );
        headers
    }

    #[test]
    fn a_well_formed_client_id_is_kept_and_any_other_replaced() {
        let kept = "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7.1-x_y";
        assert_eq!(request_id_of(&with_id(kept.as_bytes())), kept);
        let longest = "a".repeat(128);
        assert_eq!(request_id_of(&with_id(longest.as_bytes())), longest);
        for refused in [
            "a".repeat(129).as_bytes(),
            b"id with spaces",
            b"quote\"",
            b"{\"json\":1}",
            b"caf\xc3\xa9",
        ] {
            let made = request_id_of(&with_id(refused));
            assert_ne!(made.as_bytes(), refused);
            assert!(made.len() <= 30 && made.contains('-'), "{made}");
        }
        assert!(!request_id_of(&HeaderMap::new()).is_empty());
    }
}
