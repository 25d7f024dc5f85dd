//! The cache's behaviour, one suite run against both backends: the embedded
//! cache and the real Redis (`MODHOST_TEST_REDIS_URL`, by default
//! `redis://127.0.0.1:6379`, which `.ci/run` starts). Each check uses a key
//! prefix of its own and deletes its Redis keys afterwards. The checks
//! named `the_embedded_cache_...` are of behaviour only the embedded cache
//! has (LRU eviction, per-module byte quotas).

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use modhost_cache::{
    CacheError, CacheStore, ENTRY_OVERHEAD_BYTES, EmbeddedCache, MAX_TTL, Quotas, RedisCache,
    ScopedCache,
};

const QUOTAS: Quotas = Quotas {
    max_value_bytes: 1024,
    max_bytes: 1 << 20,
    max_ops_per_second: 1_000,
};

/// Quotas letting a module hold `max_bytes`, with calls enough for any check.
fn holding(max_bytes: usize) -> Quotas {
    Quotas {
        max_bytes,
        max_ops_per_second: 1_000_000,
        ..QUOTAS
    }
}

/// What an entry of 100 bytes of key and value counts for in the embedded
/// cache: the embedded checks size their quotas in these.
const ENTRY: usize = ENTRY_OVERHEAD_BYTES + 100;

static NEXT_PREFIX: AtomicU32 = AtomicU32::new(0);

fn redis_url() -> String {
    std::env::var("MODHOST_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Runs `check` against the embedded cache, then against Redis, each time
/// with a fresh key prefix; `check` gets the store and the prefix.
async fn on_both_backends<F, Fut>(check: F)
where
    F: Fn(CacheStore, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let prefix = || {
        format!(
            "test{}-{}",
            std::process::id(),
            NEXT_PREFIX.fetch_add(1, Ordering::Relaxed)
        )
    };
    check(CacheStore::Embedded(EmbeddedCache::new(1 << 20)), prefix()).await;

    let redis = RedisCache::connect(&redis_url(), Duration::from_secs(2)).unwrap();
    let prefix = prefix();
    check(CacheStore::Redis(redis), prefix.clone()).await;
    delete_prefix(&prefix).await;
}

async fn delete_prefix(prefix: &str) {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| panic!("Redis at {} is needed for this suite ({err}); start it or set MODHOST_TEST_REDIS_URL", redis_url()));
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
    }
}

fn scoped(
    store: &CacheStore,
    prefix: &str,
    tenant: &str,
    module: &str,
    quotas: Quotas,
) -> ScopedCache {
    ScopedCache::new(store.clone(), prefix, tenant, module, quotas).unwrap()
}

#[tokio::test]
async fn get_set_delete_and_many() {
    on_both_backends(|store, prefix| async move {
        let cache = scoped(&store, &prefix, "t", "m", QUOTAS);
        assert_eq!(cache.get("missing").await.unwrap(), None);
        cache.set("k", b"v1".to_vec(), None).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), Some(b"v1".to_vec()));
        cache.set("k", b"v2".to_vec(), None).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), Some(b"v2".to_vec()));
        assert!(cache.delete("k").await.unwrap());
        assert!(!cache.delete("k").await.unwrap());
        assert_eq!(cache.get("k").await.unwrap(), None);

        let entries = vec![
            ("a".to_string(), vec![1u8]),
            ("b:c".to_string(), vec![2u8, 0, 255]),
        ];
        cache.set_many(entries, None).await.unwrap();
        let keys = ["a", "nope", "b:c"].map(String::from);
        assert_eq!(
            cache.get_many(&keys).await.unwrap(),
            vec![Some(vec![1]), None, Some(vec![2, 0, 255])]
        );
        // Keys as the module names them, values and each entry's overhead:
        // "a" + 1, "b:c" + 3.
        let counted =
            matches!(store, CacheStore::Embedded(_)).then_some(2 * ENTRY_OVERHEAD_BYTES + 8);
        assert_eq!(
            cache.used_bytes(),
            counted,
            "counted in memory, not on Redis"
        );
    })
    .await;
}

#[tokio::test]
async fn ttls_expire_keys() {
    on_both_backends(|store, prefix| async move {
        let cache = scoped(&store, &prefix, "t", "m", QUOTAS);
        // TTLs long enough that a stalled machine still reads the key
        // before it expires.
        let ttl = Duration::from_millis(600);
        cache.set("short", b"x".to_vec(), Some(ttl)).await.unwrap();
        cache.set("long", b"y".to_vec(), None).await.unwrap();
        assert!(cache.expire("long", ttl).await.unwrap());
        // set-many gives all its entries the one TTL.
        let batch = vec![
            ("b1".to_string(), b"1".to_vec()),
            ("b2".to_string(), b"2".to_vec()),
        ];
        cache.set_many(batch, Some(ttl)).await.unwrap();
        let keys = ["b1", "b2"].map(String::from);
        assert_eq!(
            cache.get_many(&keys).await.unwrap(),
            vec![Some(b"1".to_vec()), Some(b"2".to_vec())]
        );
        assert!(!cache.expire("absent", ttl).await.unwrap());
        assert_eq!(cache.get("short").await.unwrap(), Some(b"x".to_vec()));
        tokio::time::sleep(ttl + Duration::from_millis(300)).await;
        assert_eq!(cache.get("short").await.unwrap(), None);
        assert_eq!(cache.get("long").await.unwrap(), None);
        assert_eq!(cache.get_many(&keys).await.unwrap(), vec![None, None]);
    })
    .await;
}

/// Redis's own rule is that an expiry past its clock's range is an error;
/// ten years is the bound both backends refuse past, before the cache is
/// touched (a huge millisecond count would otherwise reach Redis as a
/// negative number and delete the key).
#[tokio::test]
async fn a_ttl_beyond_ten_years_is_refused_and_changes_nothing() {
    on_both_backends(|store, prefix| async move {
        let cache = scoped(&store, &prefix, "t", "m", QUOTAS);
        cache.set("kept", b"x".to_vec(), None).await.unwrap();
        let too_long = [
            MAX_TTL + Duration::from_millis(1),
            Duration::from_millis(u64::MAX),
        ];
        for ttl in too_long {
            let err = cache
                .set("new", b"y".to_vec(), Some(ttl))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, CacheError::InvalidTtl(m) if m.contains("ten years")),
                "{err:?}"
            );
            let err = cache.expire("kept", ttl).await.unwrap_err();
            assert!(matches!(err, CacheError::InvalidTtl(_)), "{err:?}");
        }
        assert_eq!(cache.get("new").await.unwrap(), None);
        assert_eq!(cache.get("kept").await.unwrap(), Some(b"x".to_vec()));
        // The bound itself is allowed, and the entry is there.
        cache
            .set("decade", b"z".to_vec(), Some(MAX_TTL))
            .await
            .unwrap();
        assert!(cache.expire("kept", MAX_TTL).await.unwrap());
        assert_eq!(cache.get("decade").await.unwrap(), Some(b"z".to_vec()));
        assert_eq!(cache.get("kept").await.unwrap(), Some(b"x".to_vec()));
    })
    .await;
}

#[tokio::test]
async fn incr_counts_atomically_and_refuses_text() {
    on_both_backends(|store, prefix| async move {
        let cache = std::sync::Arc::new(scoped(&store, &prefix, "t", "m", QUOTAS));
        assert_eq!(cache.incr("n", 5).await.unwrap(), 5);
        assert_eq!(cache.incr("n", -2).await.unwrap(), 3);
        let adds = (0..50).map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.incr("n", 1).await.unwrap() })
        });
        for add in adds {
            add.await.unwrap();
        }
        assert_eq!(cache.get("n").await.unwrap(), Some(b"53".to_vec()));
        cache.set("text", b"abc".to_vec(), None).await.unwrap();
        assert!(matches!(
            cache.incr("text", 1).await,
            Err(CacheError::NotANumber(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn modules_and_tenants_never_share_keys() {
    on_both_backends(|store, prefix| async move {
        let mine = scoped(&store, &prefix, "t", "m", QUOTAS);
        let other_module = scoped(&store, &prefix, "t", "other", QUOTAS);
        let other_tenant = scoped(&store, &prefix, "t2", "m", QUOTAS);
        mine.set("k", b"mine".to_vec(), None).await.unwrap();
        other_module
            .set("k", b"module".to_vec(), None)
            .await
            .unwrap();
        assert_eq!(other_tenant.get("k").await.unwrap(), None);
        assert_eq!(mine.get("k").await.unwrap(), Some(b"mine".to_vec()));
        // A key that looks like another scope's full key is still this scope's.
        assert_eq!(
            mine.get(&format!("{prefix}:t:other:k")).await.unwrap(),
            None
        );
        assert!(ScopedCache::new(store.clone(), &prefix, "t:x", "m", QUOTAS).is_err());
        assert!(ScopedCache::new(store.clone(), &prefix, "t", "m:*", QUOTAS).is_err());
    })
    .await;
}

#[tokio::test]
async fn a_set_many_with_one_bad_entry_stores_none() {
    on_both_backends(|store, prefix| async move {
        let cache = scoped(&store, &prefix, "t", "m", QUOTAS);
        let too_large = vec![0; QUOTAS.max_value_bytes + 1];
        let batch = vec![
            ("ok".to_string(), b"1".to_vec()),
            ("big".to_string(), too_large),
        ];
        let err = cache.set_many(batch, None).await.unwrap_err();
        assert!(matches!(err, CacheError::ValueTooLarge(_)), "{err:?}");
        let bad_key = vec![
            ("ok".to_string(), b"1".to_vec()),
            (String::new(), b"2".to_vec()),
        ];
        let err = cache.set_many(bad_key, None).await.unwrap_err();
        assert!(matches!(err, CacheError::InvalidKey(_)), "{err:?}");
        assert_eq!(cache.get("ok").await.unwrap(), None, "all or none");
    })
    .await;
}

#[tokio::test]
async fn quotas_and_bad_keys_are_clear_errors() {
    on_both_backends(|store, prefix| async move {
        let tight = Quotas {
            max_value_bytes: 8,
            max_bytes: 1 << 20,
            max_ops_per_second: 5,
        };
        let cache = scoped(&store, &prefix, "t", "m", tight);
        let err = cache.set("big", vec![0; 9], None).await.unwrap_err();
        assert!(
            matches!(&err, CacheError::ValueTooLarge(m) if m.contains("max_value_bytes")),
            "{err:?}"
        );
        assert!(matches!(
            cache.get("").await,
            Err(CacheError::InvalidKey(_))
        ));
        assert!(matches!(
            cache.get(&"k".repeat(513)).await,
            Err(CacheError::InvalidKey(_))
        ));
        for _ in 0..5 {
            cache.get("k").await.unwrap();
        }
        // The bucket refills at 5 a second, so a stall may let a few more
        // through; 45 more calls would need a stall of 9 s.
        let mut refused = None;
        for _ in 0..45 {
            if let Err(err) = cache.get("k").await {
                refused = Some(err);
                break;
            }
        }
        let err = refused.expect("50 calls at once passed a quota of 5 a second");
        assert!(
            matches!(&err, CacheError::QuotaExceeded(m) if m.contains("max_ops_per_second")),
            "{err:?}"
        );
        // Three calls' worth of refill for the two below.
        tokio::time::sleep(Duration::from_millis(600)).await;
        cache.get("k").await.expect("the quota refills with time");
        let longest = "k".repeat(512);
        assert_eq!(
            cache.get(&longest).await.unwrap(),
            None,
            "512 bytes is a key"
        );
    })
    .await;
}

#[tokio::test]
async fn the_embedded_cache_evicts_the_least_recently_used() {
    let store = CacheStore::Embedded(EmbeddedCache::new(10 * ENTRY));
    let cache = scoped(&store, "lru", "t", "m", QUOTAS);
    cache.set("keep", vec![0; 100], None).await.unwrap();
    for i in 0..20 {
        cache
            .set(&format!("k{i}"), vec![0; 100], None)
            .await
            .unwrap();
        // Reading a key makes it recently used.
        assert!(cache.get("keep").await.unwrap().is_some(), "after {i}");
    }
    // "keep" (4 + 100 bytes) and eight of the k's (3 + 100) fit in ten
    // entries of 100 bytes: nine would be 23 bytes over.
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    assert_eq!(
        present(&cache, &keys).await,
        keys[12..],
        "the most recent stay, the oldest went first"
    );
    assert!(cache.get("keep").await.unwrap().is_some());
}

/// The values of `keys` present in `cache`.
async fn present(cache: &ScopedCache, keys: &[String]) -> Vec<String> {
    let values = cache.get_many(keys).await.unwrap();
    keys.iter()
        .zip(values)
        .filter(|(_, value)| value.is_some())
        .map(|(key, _)| key.clone())
        .collect()
}

/// `prefix00` to `prefix<n-1>`: keys of 3 bytes below 100.
fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:02}")).collect()
}

#[tokio::test]
async fn the_embedded_cache_keeps_one_modules_load_from_evicting_anothers() {
    // The cache is exactly the two quotas: full once both are.
    let store = CacheStore::Embedded(EmbeddedCache::new(20 * ENTRY));
    let a = scoped(&store, "fill", "t", "a", holding(10 * ENTRY));
    let b = scoped(&store, "fill", "t", "b", holding(10 * ENTRY));
    let b_keys = names("b", 9);
    for key in &b_keys {
        b.set(key, vec![1; 97], None).await.unwrap();
    }
    // Twenty times a's quota, in entries as large as b's.
    for key in names("a", 200) {
        a.set(&key, vec![2; 97], None).await.unwrap();
    }
    assert_eq!(present(&b, &b_keys).await, b_keys, "b lost entries to a");
    assert_eq!(b.used_bytes(), Some(9 * ENTRY));
}

#[tokio::test]
async fn the_embedded_cache_evicts_a_modules_own_least_recently_used_first() {
    let store = CacheStore::Embedded(EmbeddedCache::new(1 << 20));
    let a = scoped(&store, "own", "t", "a", holding(10 * ENTRY));
    // Ten entries of 100 bytes (key and value) fill the quota.
    a.set("keep", vec![0; 96], None).await.unwrap();
    let keys = names("k", 30);
    for key in &keys {
        a.set(key, vec![0; 97], None).await.unwrap();
        // Reading a key makes it recently used.
        assert!(a.get("keep").await.unwrap().is_some(), "after {key}");
    }
    assert_eq!(
        present(&a, &keys).await,
        keys[21..],
        "the nine most recent stay, the older ones went first"
    );
}

#[tokio::test]
async fn the_embedded_cache_holds_a_module_to_its_byte_quota() {
    let store = CacheStore::Embedded(EmbeddedCache::new(1 << 20));
    let quota = 10 * ENTRY;
    let a = scoped(&store, "bound", "t", "a", holding(quota));
    for i in 0..100 {
        let size = i * 37 % 300 + 1;
        a.set(&format!("k{i}"), vec![0; size], None).await.unwrap();
        let used = a.used_bytes().unwrap();
        assert!(used <= quota, "{used} bytes held after set {i}");
    }
    assert!(
        a.used_bytes().unwrap() > quota * 7 / 10,
        "the quota is used, not emptied"
    );

    // incr on a new key makes an entry that counts like any other.
    let two_entries = 2 * ENTRY_OVERHEAD_BYTES + 10;
    let counter = scoped(&store, "bound", "t", "counter", holding(two_entries));
    counter.incr("n", 5).await.unwrap();
    assert_eq!(
        counter.used_bytes(),
        Some(ENTRY_OVERHEAD_BYTES + 2),
        "\"n\" and \"5\""
    );
    counter.incr("counter", 1).await.unwrap();
    assert_eq!(counter.used_bytes(), Some(two_entries));
    counter.incr("x", 1).await.unwrap();
    assert_eq!(
        counter.used_bytes(),
        Some(two_entries),
        "\"n\", the oldest, made room"
    );
    assert_eq!(counter.get("n").await.unwrap(), None);
    assert_eq!(counter.get("counter").await.unwrap(), Some(b"1".to_vec()));
}

#[tokio::test]
async fn the_embedded_cache_frees_a_modules_quota_on_delete_and_expiry() {
    let store = CacheStore::Embedded(EmbeddedCache::new(1 << 20));
    let a = scoped(&store, "free", "t", "a", holding(3 * ENTRY));
    // Long enough that a stalled machine still reads "ttl" before it
    // expires.
    let ttl = Some(Duration::from_millis(600));
    a.set("old", vec![0; 97], None).await.unwrap();
    a.set("ttl", vec![0; 97], ttl).await.unwrap();
    a.set("del", vec![0; 97], None).await.unwrap();
    assert_eq!(a.used_bytes(), Some(3 * ENTRY));
    assert!(a.delete("del").await.unwrap());
    assert_eq!(a.used_bytes(), Some(2 * ENTRY), "a delete frees its bytes");
    a.set("new", vec![0; 97], None).await.unwrap();
    // The expiring entry is now the most recently used, "old" the least.
    assert!(a.get("ttl").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(900)).await;
    // The expired entry makes room before any live one, "old" included.
    a.set("last", vec![0; 96], None).await.unwrap();
    assert!(
        a.get("old").await.unwrap().is_some(),
        "an expired entry went first"
    );
    assert_eq!(
        a.used_bytes(),
        Some(3 * ENTRY),
        "the expired entry is not counted"
    );
    assert!(a.expire("old", Duration::from_millis(150)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        a.used_bytes(),
        Some(2 * ENTRY),
        "expire frees the bytes in time"
    );
}

#[tokio::test]
async fn the_embedded_cache_refuses_a_write_bigger_than_the_modules_quota() {
    let store = CacheStore::Embedded(EmbeddedCache::new(1 << 20));
    let quota = ENTRY;
    let a = scoped(&store, "big", "t", "a", holding(quota));
    a.set("small", vec![0; 10], None).await.unwrap();
    // Within max_value_bytes, but 3 + 98 bytes is one over the quota.
    let err = a.set("big", vec![0; 98], None).await.unwrap_err();
    let limit = format!("holds at most {quota} bytes");
    assert!(
        matches!(&err, CacheError::ValueTooLarge(m) if m.contains(&limit)),
        "{err:?}"
    );
    let batch = vec![
        ("x".to_string(), vec![0; 60]),
        ("y".to_string(), vec![0; 60]),
    ];
    let err = a.set_many(batch, None).await.unwrap_err();
    assert!(matches!(err, CacheError::ValueTooLarge(_)), "{err:?}");
    assert_eq!(a.get("x").await.unwrap(), None, "all or none");
    assert!(a.get("small").await.unwrap().is_some(), "nothing made room");
    assert_eq!(a.used_bytes(), Some(ENTRY_OVERHEAD_BYTES + 15));

    let counter = scoped(
        &store,
        "big",
        "t",
        "counter",
        holding(ENTRY_OVERHEAD_BYTES + 10),
    );
    let err = counter.incr("abcdefghij", 1).await.unwrap_err();
    assert!(matches!(err, CacheError::ValueTooLarge(_)), "{err:?}");
    assert_eq!(counter.used_bytes(), Some(0));
}

#[tokio::test]
async fn the_embedded_cache_past_its_size_evicts_from_the_module_most_over_its_share() {
    // Quotas that add up to twice the cache: it can fill.
    let store = CacheStore::Embedded(EmbeddedCache::new(10 * ENTRY));
    let a = scoped(&store, "share", "t", "a", holding(10 * ENTRY));
    let b = scoped(&store, "share", "t", "b", holding(10 * ENTRY));
    let b_keys = names("b", 6);
    for key in &b_keys[..3] {
        b.set(key, vec![1; 97], None).await.unwrap();
    }
    // Entries of 100 bytes: ten fill the cache.
    let a_keys = names("a", 50);
    for key in &a_keys {
        a.set(key, vec![2; 97], None).await.unwrap();
    }
    assert_eq!(
        present(&b, &b_keys[..3]).await,
        b_keys[..3],
        "a, the heavier, gave way"
    );
    assert_eq!(
        present(&a, &a_keys).await,
        a_keys[43..],
        "a kept its most recent"
    );
    // b writes into the full cache while a holds the larger share...
    for key in &b_keys[3..5] {
        b.set(key, vec![1; 97], None).await.unwrap();
    }
    assert_eq!(present(&b, &b_keys[..5]).await, b_keys[..5]);
    assert_eq!(present(&a, &a_keys).await, a_keys[45..]);
    // ...and once they are even, the writer gives way.
    b.set(&b_keys[5], vec![1; 97], None).await.unwrap();
    assert_eq!(present(&b, &b_keys).await, b_keys[1..]);
    assert_eq!(present(&a, &a_keys).await, a_keys[45..]);
}
