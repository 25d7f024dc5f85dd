//! The cache's behaviour, one suite run against both backends: the embedded
//! cache and the real Redis (`MODHOST_TEST_REDIS_URL`, by default
//! `redis://127.0.0.1:6379`, which `.ci/run` starts). Each check uses a key
//! prefix of its own and deletes its Redis keys afterwards.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use modhost_cache::{CacheError, CacheStore, EmbeddedCache, Quotas, RedisCache, ScopedCache};

const QUOTAS: Quotas = Quotas {
    max_value_bytes: 1024,
    max_ops_per_second: 1_000,
};

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
    })
    .await;
}

#[tokio::test]
async fn ttls_expire_keys() {
    on_both_backends(|store, prefix| async move {
        let cache = scoped(&store, &prefix, "t", "m", QUOTAS);
        cache
            .set("short", b"x".to_vec(), Some(Duration::from_millis(150)))
            .await
            .unwrap();
        cache.set("long", b"y".to_vec(), None).await.unwrap();
        assert!(
            cache
                .expire("long", Duration::from_millis(150))
                .await
                .unwrap()
        );
        assert!(
            !cache
                .expire("absent", Duration::from_millis(150))
                .await
                .unwrap()
        );
        assert_eq!(cache.get("short").await.unwrap(), Some(b"x".to_vec()));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(cache.get("short").await.unwrap(), None);
        assert_eq!(cache.get("long").await.unwrap(), None);
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
async fn quotas_and_bad_keys_are_clear_errors() {
    on_both_backends(|store, prefix| async move {
        let tight = Quotas {
            max_value_bytes: 8,
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
        let err = cache.get("k").await.unwrap_err();
        assert!(
            matches!(&err, CacheError::QuotaExceeded(m) if m.contains("max_ops_per_second")),
            "{err:?}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        cache.get("k").await.expect("the quota refills with time");
    })
    .await;
}

#[tokio::test]
async fn the_embedded_cache_evicts_the_least_recently_used() {
    let store = CacheStore::Embedded(EmbeddedCache::new(1_000));
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
    assert_eq!(
        cache.get("k0").await.unwrap(),
        None,
        "the oldest went first"
    );
    assert!(cache.get("k19").await.unwrap().is_some());
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let kept = cache
        .get_many(&keys)
        .await
        .unwrap()
        .iter()
        .filter(|v| v.is_some())
        .count();
    assert!(kept < 10, "{kept} entries of ~110 bytes in 1000 bytes");
}
