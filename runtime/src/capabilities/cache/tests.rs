//! The `cache` capability in-process: modules' views over one embedded
//! cache, called through the WIT host trait, no guest.

use modhost_cache::{CacheStore, EmbeddedCache, Quotas, ScopedCache};

use super::{Cache, CacheView, HostCache};
use crate::bindings::modhost::module::cache::{CacheError, Host};
use crate::capabilities::{Capability, ModuleSetup};
use crate::grants::Grant;
use crate::limits::{DEFAULT_LIMITS, ModuleLimits};

/// A host cache of 1 MiB in memory, keys under `test`.
fn host() -> HostCache {
    HostCache {
        store: CacheStore::Embedded(EmbeddedCache::new(1 << 20)),
        key_prefix: "test".into(),
        quotas: Quotas {
            max_value_bytes: 1024,
            max_bytes: 1 << 20,
            max_ops_per_second: 1000,
        },
    }
}

/// Module `name` of `tenant` granted `grants`, as the cache capability
/// sets it up at load.
fn module_granted(
    host: &HostCache,
    tenant: &str,
    name: &str,
    grants: &[Grant],
) -> Option<ScopedCache> {
    let setup = ModuleSetup {
        name,
        tenant,
        config: &toml::Table::new(),
        limits: &DEFAULT_LIMITS,
        grants: &grants.iter().copied().collect(),
        outbound_hosts: &Default::default(),
        callable: &Default::default(),
    };
    Cache::for_module(host, &setup).unwrap()
}

/// Module `name` of `tenant`, granted `cache`.
fn module(host: &HostCache, tenant: &str, name: &str) -> ScopedCache {
    module_granted(host, tenant, name, &[Grant::Cache]).expect("granted cache")
}

#[tokio::test]
async fn a_module_not_granted_cache_gets_not_granted_from_every_call() {
    let host = host();
    let module = module_granted(&host, "default", "wallet", &[Grant::Db, Grant::Modules]);
    assert!(module.is_none(), "nothing is kept for it");
    let mut view = CacheView {
        cache: None,
        module: "wallet",
        tenant: "default",
        limits: &DEFAULT_LIMITS,
    };
    let refusals = [
        view.get("k".into()).await.err(),
        view.get_many(vec!["k".into()]).await.err(),
        view.set("k".into(), b"v".to_vec(), None).await.err(),
        view.set_many(vec![("k".into(), b"v".to_vec())], None)
            .await
            .err(),
        view.delete("k".into()).await.err(),
        view.incr("k".into(), 1).await.err(),
        view.expire("k".into(), 10).await.err(),
    ];
    for refusal in refusals {
        match refusal {
            Some(CacheError::NotGranted(why)) => {
                assert!(why.contains("not granted cache"), "{why}")
            }
            other => panic!("expected not-granted, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_module_sees_only_its_own_keys_in_its_own_tenant() {
    let host = host();
    let wallet = module(&host, "default", "wallet");
    let users = module(&host, "default", "users");
    let other_tenant = module(&host, "acme", "wallet");
    let view = |cache| CacheView {
        cache: Some(cache),
        module: "wallet",
        tenant: "default",
        limits: &DEFAULT_LIMITS,
    };
    view(&wallet)
        .set("balance:u1".into(), b"100".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(
        view(&wallet).get("balance:u1".into()).await.unwrap(),
        Some(b"100".to_vec())
    );
    assert_eq!(view(&users).get("balance:u1".into()).await.unwrap(), None);
    assert_eq!(
        view(&other_tenant).get("balance:u1".into()).await.unwrap(),
        None
    );
    assert!(!view(&users).delete("balance:u1".into()).await.unwrap());
    assert!(
        view(&wallet)
            .get("balance:u1".into())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_batch_over_max_host_call_bytes_is_refused_before_the_cache_sees_it() {
    let host = host();
    let wallet = module(&host, "default", "wallet");
    let limits = ModuleLimits {
        max_host_call_bytes: 10,
        ..DEFAULT_LIMITS
    };
    let mut small = CacheView {
        cache: Some(&wallet),
        module: "wallet",
        tenant: "default",
        limits: &limits,
    };
    // Two entries of 5 bytes each fit; a third byte more does not, and
    // nothing of the batch is stored.
    small
        .set_many(
            vec![
                ("k1".into(), b"abc".to_vec()),
                ("k2".into(), b"abc".to_vec()),
            ],
            None,
        )
        .await
        .unwrap();
    let err = small
        .set_many(
            vec![
                ("k3".into(), b"abc".to_vec()),
                ("k4".into(), b"abcd".to_vec()),
            ],
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CacheError::ValueTooLarge(m) if m.contains("max_host_call_bytes (10)")),
        "{err:?}"
    );
    assert_eq!(small.get("k3".into()).await.unwrap(), None);
}
