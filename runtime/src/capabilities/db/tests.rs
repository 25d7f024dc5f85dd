//! The `db` capability in-process: views of modules over one embedded
//! store on disk, called through the WIT host trait, no guest.

use std::time::{Duration, Instant};

use modhost_docstore::{DocumentStore, EmbeddedStore, Limits};

use super::{Db, DbView, ModuleDb};
use crate::bindings::modhost::module::db::{DbError, FindOptions, Host};
use crate::capabilities::{Capability, ModuleSetup};
use crate::grants::Grant;
use crate::limits::{DEFAULT_LIMITS, ModuleLimits};

/// An embedded store in a folder of its own (kept while the test runs).
fn store() -> (tempfile::TempDir, DocumentStore) {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_document_bytes: 1 << 20,
        max_find_documents: 1000,
        max_query_bytes: Limits::DEFAULT_MAX_QUERY_BYTES,
        max_examined_documents: Limits::DEFAULT_MAX_EXAMINED_DOCUMENTS,
    };
    let store = EmbeddedStore::open(&dir.path().join("db.redb"), limits).unwrap();
    (dir, DocumentStore::Embedded(store))
}

/// Module `name` of `tenant` as the db capability sets it up at load.
fn module(store: &DocumentStore, tenant: &str, name: &str) -> ModuleDb {
    let setup = ModuleSetup {
        name,
        tenant,
        config: &toml::Table::new(),
        limits: &DEFAULT_LIMITS,
        grants: &[Grant::Db].into(),
        outbound_hosts: &Default::default(),
        callable: &Default::default(),
    };
    Db::for_module(store, &setup).unwrap().expect("granted db")
}

fn view<'a>(db: &'a ModuleDb, limits: &'a ModuleLimits) -> DbView<'a> {
    DbView {
        db: Some(db),
        module: "wallet",
        tenant: "default",
        limits,
        deadline: Instant::now() + Duration::from_secs(10),
    }
}

async fn names(view: &mut DbView<'_>, collection: &str) -> Vec<String> {
    let docs = view
        .find(collection.into(), "{}".into(), find_options())
        .await
        .unwrap();
    docs.iter()
        .map(|doc| serde_json::from_str::<serde_json::Value>(doc).unwrap()["name"].to_string())
        .collect()
}

/// No sort, no paging, whole documents.
fn find_options() -> FindOptions {
    FindOptions {
        sort: None,
        skip: 0,
        limit: None,
        projection: None,
    }
}

#[tokio::test]
async fn a_module_sees_only_its_own_collections_in_its_own_tenant() {
    let (_dir, store) = store();
    let mine = module(&store, "default", "wallet");
    let other_module = module(&store, "default", "users");
    let other_tenant = module(&store, "acme", "wallet");
    let mut mine = view(&mine, &DEFAULT_LIMITS);
    mine.insert_one("items".into(), r#"{"name": "pen"}"#.into())
        .await
        .unwrap();

    assert_eq!(names(&mut mine, "items").await, ["\"pen\""]);
    // The same collection name, another module of the same tenant.
    let mut other_module = view(&other_module, &DEFAULT_LIMITS);
    assert!(names(&mut other_module, "items").await.is_empty());
    assert_eq!(
        other_module
            .count("items".into(), "{}".into())
            .await
            .unwrap(),
        0
    );
    // The same module name in another tenant.
    let mut other_tenant = view(&other_tenant, &DEFAULT_LIMITS);
    assert!(names(&mut other_tenant, "items").await.is_empty());
    let deleted = other_tenant
        .delete_many("items".into(), "{}".into())
        .await
        .unwrap();
    assert_eq!(deleted, 0);
    assert_eq!(names(&mut mine, "items").await, ["\"pen\""], "still there");
}

#[tokio::test]
async fn a_collection_name_cannot_reach_out_of_the_modules_scope() {
    let (_dir, store) = store();
    let users = module(&store, "default", "users");
    let mut users = view(&users, &DEFAULT_LIMITS);
    users
        .insert_one("accounts".into(), r#"{"name": "ada"}"#.into())
        .await
        .unwrap();
    let wallet = module(&store, "default", "wallet");
    let mut wallet = view(&wallet, &DEFAULT_LIMITS);
    for name in [
        "users.accounts",
        "users:accounts",
        "../users/accounts",
        "default/users/accounts",
        "",
        &"x".repeat(65),
    ] {
        let err = wallet
            .find(name.into(), "{}".into(), find_options())
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::InvalidName(_)), "{name:?}: {err:?}");
    }
}

#[tokio::test]
async fn what_the_guest_passes_is_measured_before_it_is_parsed() {
    let (_dir, store) = store();
    let db = module(&store, "default", "wallet");
    let limits = ModuleLimits {
        max_host_call_bytes: 10,
        ..DEFAULT_LIMITS
    };
    let mut small = view(&db, &limits);
    // Eleven bytes that are not JSON: refused for their size, not parsed.
    let err = small
        .count("items".into(), "not json!!!".into())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DbError::QueryTooLarge(m) if m.contains("max_host_call_bytes (10)")),
        "{err:?}"
    );
    let err = small
        .count("items".into(), "nope".into())
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::InvalidFilter(_)), "{err:?}");
}

#[tokio::test]
async fn a_call_past_the_requests_deadline_is_a_timeout() {
    let (_dir, store) = store();
    let db = module(&store, "default", "wallet");
    let mut late = DbView {
        db: Some(&db),
        module: "wallet",
        tenant: "default",
        limits: &DEFAULT_LIMITS,
        deadline: Instant::now() - Duration::from_millis(1),
    };
    let err = late
        .insert_one("items".into(), r#"{"name": "pen"}"#.into())
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Timeout(_)), "{err:?}");
    let mut mine = view(&db, &DEFAULT_LIMITS);
    assert!(
        names(&mut mine, "items").await.is_empty(),
        "nothing written"
    );
}

#[tokio::test]
async fn a_module_not_granted_db_gets_not_granted_from_every_call() {
    let (_dir, store) = store();
    let setup = ModuleSetup {
        name: "wallet",
        tenant: "default",
        config: &toml::Table::new(),
        limits: &DEFAULT_LIMITS,
        grants: &[Grant::Cache].into(),
        outbound_hosts: &Default::default(),
        callable: &Default::default(),
    };
    assert!(Db::for_module(&store, &setup).unwrap().is_none());
    let mut view = DbView {
        db: None,
        module: "wallet",
        tenant: "default",
        limits: &DEFAULT_LIMITS,
        deadline: Instant::now() + Duration::from_secs(10),
    };
    let items = || String::from("items");
    let all = || String::from("{}");
    let set = || String::from(r#"{"$set": {"a": 1}}"#);
    let refusals = [
        view.find(items(), all(), find_options()).await.err(),
        view.find_one(items(), all(), find_options()).await.err(),
        view.insert_one(items(), all()).await.err(),
        view.insert_many(items(), vec![all()]).await.err(),
        view.update_one(items(), all(), set(), false).await.err(),
        view.update_many(items(), all(), set(), true).await.err(),
        view.delete_one(items(), all()).await.err(),
        view.delete_many(items(), all()).await.err(),
        view.count(items(), all()).await.err(),
        view.create_index(items(), "a".into(), false).await.err(),
        view.transact(Vec::new()).await.err().map(|err| err.error),
    ];
    for refusal in refusals {
        match refusal {
            Some(DbError::NotGranted(why)) => assert!(why.contains("not granted db"), "{why}"),
            other => panic!("expected not-granted, got {other:?}"),
        }
    }
}
