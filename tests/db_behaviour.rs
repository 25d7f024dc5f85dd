//! The document database's behaviour, one suite run against every backend
//! present: the embedded store always, MongoDB when
//! `MODHOST_TEST_MONGODB_URI` names a server (none can be had on the
//! project's own machines, so there it is skipped with the reason printed).
//!
//! Each check gets a fresh scope (its own tenant), so checks never see each
//! other's data; MongoDB databases made for a check are dropped after it.

use std::future::Future;
use std::io::Write;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use modhost_docstore::{
    DbError, DocumentStore, EmbeddedStore, Filter, FindOptions, Limits, MongoStore, Namespace,
    Projection, Scope, Sort,
};
use serde_json::{Value, json};

const LIMITS: Limits = Limits {
    max_document_bytes: 4096,
    max_find_documents: 50,
};

/// The MongoDB database prefix of test runs.
const MONGO_PREFIX: &str = "modhost_test";

static SKIP_NOTICE: Once = Once::new();

static NEXT_TENANT: AtomicU32 = AtomicU32::new(0);

/// A tenant name of its own for each check in this process.
fn fresh_tenant() -> String {
    format!(
        "t{}-{}",
        std::process::id(),
        NEXT_TENANT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `check` against each backend present, each time in a fresh tenant.
async fn on_every_backend<F, Fut>(check: F)
where
    F: Fn(DocumentStore, Scope) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(&dir.path().join("db.redb"), LIMITS).unwrap();
    check(
        DocumentStore::Embedded(embedded),
        Scope::new(&fresh_tenant(), "suite").unwrap(),
    )
    .await;

    let Ok(uri) = std::env::var("MODHOST_TEST_MONGODB_URI") else {
        SKIP_NOTICE.call_once(|| {
            // Straight to stderr: the test harness captures eprintln!, and
            // the reason for a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "db_behaviour: skipping MongoDB: MODHOST_TEST_MONGODB_URI is not set (no MongoDB server on this machine)"
            );
        });
        return;
    };
    let store = MongoStore::connect(&uri, MONGO_PREFIX, Duration::from_secs(10), LIMITS)
        .await
        .unwrap();
    let tenant = fresh_tenant();
    check(
        DocumentStore::Mongo(store),
        Scope::new(&tenant, "suite").unwrap(),
    )
    .await;
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    client
        .database(&format!("{MONGO_PREFIX}_{tenant}"))
        .drop()
        .await
        .unwrap();
}

fn ns(scope: &Scope, collection: &str) -> Namespace {
    scope.collection(collection).unwrap()
}

/// The `_id`s of `find`'s result, in order.
async fn ids(
    store: &DocumentStore,
    ns: &Namespace,
    filter: Value,
    options: FindOptions,
) -> Vec<Value> {
    store
        .find(ns, &filter, &options)
        .await
        .unwrap_or_else(|err| panic!("{filter}: {err}"))
        .into_iter()
        .map(|doc| doc["_id"].clone())
        .collect()
}

async fn people(store: &DocumentStore, ns: &Namespace) {
    let docs = vec![
        json!({"_id": "ada", "age": 36, "tags": ["math", "poetry"], "address": {"city": "London"}, "langs": [{"name": "analytical"}]}),
        json!({"_id": "alan", "age": 41, "tags": ["math", "logic"], "address": {"city": "Wilmslow"}, "langs": [{"name": "abc"}, {"name": "ace"}]}),
        json!({"_id": "grace", "age": 85, "tags": ["cobol"], "address": {"city": "Arlington"}, "retired": true}),
        json!({"_id": "linus", "age": 21, "tags": [], "nick": null}),
    ];
    store.insert(ns, docs).await.unwrap();
}

#[tokio::test]
async fn insert_gives_object_id_strings_and_refuses_duplicate_ids() {
    on_every_backend(|store, scope| async move {
        let ns = ns(&scope, "things");
        let ids = store
            .insert(&ns, vec![json!({"a": 1}), json!({"a": 2})])
            .await
            .unwrap();
        for id in &ids {
            let id = id.as_str().expect("generated ids are strings");
            assert_eq!(id.len(), 24, "{id}");
            assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
        assert_ne!(ids[0], ids[1]);
        let found = store
            .find_one(&ns, &json!({"_id": ids[1]}), &FindOptions::default())
            .await
            .unwrap();
        assert_eq!(found.unwrap()["a"], 2);

        let err = store
            .insert(&ns, vec![json!({"_id": ids[0], "a": 3})])
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::DuplicateKey(_)), "{err:?}");
        assert_eq!(store.count(&ns, &json!({})).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn filters_follow_the_mongodb_language() {
    on_every_backend(|store, scope| async move {
        let ns = ns(&scope, "people");
        people(&store, &ns).await;
        let cases = [
            (json!({"age": 36}), vec!["ada"]),
            (json!({"age": {"$eq": 41}}), vec!["alan"]),
            (json!({"age": {"$ne": 36}}), vec!["alan", "grace", "linus"]),
            (json!({"age": {"$gt": 36}}), vec!["alan", "grace"]),
            (json!({"age": {"$gte": 36, "$lt": 85}}), vec!["ada", "alan"]),
            (json!({"age": {"$lte": 21}}), vec!["linus"]),
            (
                json!({"_id": {"$in": ["ada", "linus", "nobody"]}}),
                vec!["ada", "linus"],
            ),
            (json!({"tags": {"$nin": ["math"]}}), vec!["grace", "linus"]),
            (json!({"retired": {"$exists": true}}), vec!["grace"]),
            (json!({"nick": {"$exists": true}}), vec!["linus"]),
            (json!({"nick": null}), vec!["ada", "alan", "grace", "linus"]),
            (json!({"tags": "math"}), vec!["ada", "alan"]),
            (json!({"address.city": "London"}), vec!["ada"]),
            (json!({"langs.name": "ace"}), vec!["alan"]),
            (
                json!({"$and": [{"tags": "math"}, {"age": {"$gt": 40}}]}),
                vec!["alan"],
            ),
            (
                json!({"$or": [{"age": 21}, {"retired": true}]}),
                vec!["grace", "linus"],
            ),
            (
                json!({"$nor": [{"tags": "math"}, {"age": 21}]}),
                vec!["grace"],
            ),
            (json!({"age": {"$not": {"$gt": 40}}}), vec!["ada", "linus"]),
            (
                json!({"address.city": {"$regex": "^l", "$options": "i"}}),
                vec!["ada"],
            ),
            (
                json!({"_id": {"$regex": "a"}}),
                vec!["ada", "alan", "grace"],
            ),
        ];
        let by_id = FindOptions {
            sort: Some(json!({"_id": 1})),
            ..FindOptions::default()
        };
        for (filter, expected) in cases {
            let found = ids(&store, &ns, filter.clone(), by_id.clone()).await;
            assert_eq!(
                found,
                expected.iter().map(|id| json!(id)).collect::<Vec<_>>(),
                "{filter}"
            );
            assert_eq!(
                store.count(&ns, &filter).await.unwrap(),
                expected.len() as u64,
                "{filter}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn updates_change_what_they_name() {
    on_every_backend(|store, scope| async move {
        let ns = ns(&scope, "people");
        people(&store, &ns).await;
        let update = json!({
            "$set": {"address.zip": "N1"},
            "$unset": {"langs": ""},
            "$inc": {"age": 1},
            "$push": {"tags": "engines"},
            "$addToSet": {"badges": {"$each": ["first", "first"]}},
        });
        let result = store
            .update(&ns, &json!({"_id": "ada"}), &update, false, false)
            .await
            .unwrap();
        assert_eq!((result.matched, result.modified), (1, 1));
        let ada = store
            .find_one(&ns, &json!({"_id": "ada"}), &FindOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ada["address"], json!({"city": "London", "zip": "N1"}));
        assert_eq!(ada["age"], 37);
        assert_eq!(ada["tags"], json!(["math", "poetry", "engines"]));
        assert_eq!(ada["badges"], json!(["first"]));
        assert!(ada.get("langs").is_none());

        let pull = json!({"$pull": {"tags": "math"}});
        let result = store
            .update(&ns, &json!({"tags": "math"}), &pull, true, false)
            .await
            .unwrap();
        assert_eq!((result.matched, result.modified), (2, 2));
        assert_eq!(store.count(&ns, &json!({"tags": "math"})).await.unwrap(), 0);

        let none = store
            .update(
                &ns,
                &json!({"_id": "nobody"}),
                &json!({"$set": {"a": 1}}),
                false,
                false,
            )
            .await
            .unwrap();
        assert_eq!(
            (none.matched, none.modified, none.upserted_id),
            (0, 0, None)
        );

        let upsert = json!({"$set": {"age": 30}, "$setOnInsert": {"tags": []}});
        let result = store
            .update(&ns, &json!({"name": "barbara"}), &upsert, false, true)
            .await
            .unwrap();
        let id = result
            .upserted_id
            .expect("an upsert that matched nothing inserts");
        assert!(id.is_string(), "{id}");
        let barbara = store
            .find_one(&ns, &json!({"_id": id}), &FindOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (&barbara["name"], &barbara["age"], &barbara["tags"]),
            (&json!("barbara"), &json!(30), &json!([]))
        );

        let deleted = store
            .delete(&ns, &json!({"age": {"$gt": 40}}), true)
            .await
            .unwrap();
        assert_eq!(deleted, 2);
        assert_eq!(store.delete(&ns, &json!({}), false).await.unwrap(), 1);
        assert_eq!(store.count(&ns, &json!({})).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn sort_skip_limit_and_projection() {
    on_every_backend(|store, scope| async move {
        let ns = ns(&scope, "scores");
        let docs = (0..10)
            .map(|i| json!({"_id": format!("p{i}"), "team": i % 2, "score": i * 10, "secret": "x"}))
            .collect();
        store.insert(&ns, docs).await.unwrap();
        let options = FindOptions {
            sort: Some(json!({"team": 1, "score": -1})),
            skip: 1,
            limit: Some(3),
            projection: Some(json!({"score": 1})),
        };
        let found = store.find(&ns, &json!({}), &options).await.unwrap();
        assert_eq!(
            found,
            vec![
                json!({"_id": "p6", "score": 60}),
                json!({"_id": "p4", "score": 40}),
                json!({"_id": "p2", "score": 20})
            ]
        );
        let hide = FindOptions {
            sort: Some(json!({"score": 1})),
            limit: Some(1),
            projection: Some(json!({"secret": 0, "_id": 0})),
            ..FindOptions::default()
        };
        assert_eq!(
            store.find(&ns, &json!({}), &hide).await.unwrap(),
            vec![json!({"team": 0, "score": 0})]
        );
    })
    .await;
}

#[tokio::test]
async fn unique_indexes_refuse_duplicates_on_every_write() {
    on_every_backend(|store, scope| async move {
        let ns = ns(&scope, "users");
        store.create_index(&ns, "email", true).await.unwrap();
        store.create_index(&ns, "email", true).await.unwrap();
        store
            .insert(
                &ns,
                vec![
                    json!({"_id": "a", "email": "a@x"}),
                    json!({"_id": "b", "email": "b@x"}),
                ],
            )
            .await
            .unwrap();

        let err = store
            .insert(&ns, vec![json!({"_id": "c", "email": "a@x"})])
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::DuplicateKey(_)), "{err:?}");
        let err = store
            .update(
                &ns,
                &json!({"_id": "b"}),
                &json!({"$set": {"email": "a@x"}}),
                false,
                false,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::DuplicateKey(_)), "{err:?}");
        let b = store
            .find_one(&ns, &json!({"_id": "b"}), &FindOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b["email"], "b@x", "a refused update changes nothing");
        assert_eq!(store.count(&ns, &json!({})).await.unwrap(), 2);

        let other = self::ns(&scope, "dupes");
        store
            .insert(&other, vec![json!({"k": 1}), json!({"k": 1})])
            .await
            .unwrap();
        let err = store.create_index(&other, "k", true).await.unwrap_err();
        assert!(matches!(err, DbError::DuplicateKey(_)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_an_error_value_naming_the_problem() {
    on_every_backend(|store, scope| async move {
        let ns = ns(&scope, "misc");
        let err = store
            .find(
                &ns,
                &json!({"a": {"$elemMatch": {"b": 1}}}),
                &FindOptions::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DbError::InvalidFilter(m) if m.contains("$elemMatch")),
            "{err:?}"
        );
        let err = store
            .find(&ns, &json!({"$where": "true"}), &FindOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DbError::InvalidFilter(m) if m.contains("$where")),
            "{err:?}"
        );
        let err = store
            .update(
                &ns,
                &json!({}),
                &json!({"$rename": {"a": "b"}}),
                false,
                false,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DbError::InvalidUpdate(m) if m.contains("$rename")),
            "{err:?}"
        );
        let err = store
            .update(&ns, &json!({}), &json!({"a": 1}), false, false)
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::InvalidUpdate(_)), "{err:?}");
        let bad_sort = FindOptions {
            sort: Some(json!({"a": 2})),
            ..FindOptions::default()
        };
        assert!(matches!(
            store.find(&ns, &json!({}), &bad_sort).await,
            Err(DbError::InvalidFilter(_))
        ));

        let err = store
            .insert(&ns, vec![json!({"$set": 1})])
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::InvalidDocument(_)), "{err:?}");
        let err = store.insert(&ns, vec![json!([1, 2])]).await.unwrap_err();
        assert!(matches!(err, DbError::InvalidDocument(_)), "{err:?}");
        let big = "x".repeat(LIMITS.max_document_bytes);
        let err = store
            .insert(&ns, vec![json!({"big": big})])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DbError::DocumentTooLarge(m) if m.contains("4096")),
            "{err:?}"
        );
        let err = store
            .insert(&ns, vec![json!({"ok": 1}), json!({"big": big})])
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::DocumentTooLarge(_)), "{err:?}");
        assert_eq!(
            store.count(&ns, &json!({})).await.unwrap(),
            0,
            "a refused insert_many stores nothing"
        );

        let many: Vec<Value> = (0..LIMITS.max_find_documents + 1)
            .map(|i| json!({"i": i}))
            .collect();
        store.insert(&ns, many).await.unwrap();
        let err = store
            .find(&ns, &json!({}), &FindOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err, DbError::TooManyResults(LIMITS.max_find_documents));
        let page = FindOptions {
            limit: Some(u64::from(LIMITS.max_find_documents)),
            ..FindOptions::default()
        };
        assert_eq!(
            store.find(&ns, &json!({}), &page).await.unwrap().len(),
            LIMITS.max_find_documents as usize
        );

        for name in ["", "a/b", "../x", "a.b", "x y", &"c".repeat(65)] {
            assert!(
                matches!(scope.collection(name), Err(DbError::InvalidName(_))),
                "{name:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn scopes_never_see_each_others_data() {
    on_every_backend(|store, scope| async move {
        let tenant = fresh_tenant();
        let mine = ns(&scope, "shared_name");
        let other_module = Scope::new(&tenant, "other")
            .unwrap()
            .collection("shared_name")
            .unwrap();
        store
            .insert(&mine, vec![json!({"_id": "k", "owner": "me"})])
            .await
            .unwrap();
        store
            .insert(&other_module, vec![json!({"_id": "k", "owner": "other"})])
            .await
            .unwrap();

        let everything = FindOptions::default();
        let mine_found = store.find(&mine, &json!({}), &everything).await.unwrap();
        assert_eq!(mine_found, vec![json!({"_id": "k", "owner": "me"})]);
        store.delete(&other_module, &json!({}), true).await.unwrap();
        assert_eq!(store.count(&mine, &json!({})).await.unwrap(), 1);
        assert!(Scope::new("t/1", "m").is_err());
        assert!(Scope::new("t", "../m").is_err());
    })
    .await;
}

#[tokio::test]
async fn conditional_updates_are_atomic_under_concurrency() {
    on_every_backend(|store, scope| async move {
        let ns = ns(&scope, "wallets");
        store
            .insert(&ns, vec![json!({"_id": "w", "balance": 100})])
            .await
            .unwrap();
        let debits = (0..40).map(|_| {
            let (store, ns) = (store.clone(), ns.clone());
            tokio::spawn(async move {
                let filter = json!({"_id": "w", "balance": {"$gte": 7}});
                let debit = json!({"$inc": {"balance": -7}});
                store
                    .update(&ns, &filter, &debit, false, false)
                    .await
                    .unwrap()
                    .modified
            })
        });
        let mut succeeded = 0;
        for debit in debits {
            succeeded += debit.await.unwrap();
        }
        let wallet = store
            .find_one(&ns, &json!({"_id": "w"}), &FindOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(succeeded, 14, "100 / 7 debits fit");
        assert_eq!(wallet["balance"], 100 - 7 * 14);
    })
    .await;
}

/// The embedded store reads only what an index leads to for equality and
/// range lookups on an indexed field.
#[tokio::test(flavor = "multi_thread")]
async fn embedded_indexes_avoid_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_document_bytes: 4096,
        max_find_documents: 1000,
    };
    let store = EmbeddedStore::open(&dir.path().join("db.redb"), limits).unwrap();
    let ns = Scope::new("t", "m").unwrap().collection("items").unwrap();
    let docs = (0..500)
        .map(|i| json!({"n": i, "tag": format!("t{}", i % 50), "list": [i, i + 1000]}))
        .collect();
    store.insert(&ns, docs).await.unwrap();
    for field in ["n", "tag", "list"] {
        store.create_index(&ns, field.into(), false).await.unwrap();
    }

    let find = |filter: Value| {
        let store = store.clone();
        let ns = ns.clone();
        async move {
            store
                .find(
                    &ns,
                    Filter::parse(&filter).unwrap(),
                    Sort::default(),
                    (0, None),
                    Projection::parse(None).unwrap(),
                )
                .await
                .unwrap()
        }
    };
    let eq = find(json!({"tag": "t7"})).await;
    assert_eq!(
        (eq.docs.len(), eq.examined, eq.index.as_deref()),
        (10, 10, Some("tag"))
    );
    let range = find(json!({"n": {"$gte": 100, "$lt": 110}})).await;
    assert_eq!(
        (range.docs.len(), range.examined, range.index.as_deref()),
        (10, 11, Some("n"))
    );
    let multikey = find(json!({"list": {"$gte": 1495}})).await;
    assert_eq!((multikey.docs.len(), multikey.examined), (5, 5));
    // On an array field, different elements may meet the two bounds: each
    // [i, i + 1000] has one element above 400 and one below 600.
    let split = find(json!({"list": {"$gt": 400, "$lt": 600}})).await;
    assert_eq!(
        (split.docs.len(), split.index.as_deref()),
        (500, Some("list"))
    );
    let inlist = find(json!({"n": {"$in": [3, 4, 999]}})).await;
    assert_eq!((inlist.docs.len(), inlist.examined), (2, 2));
    let scan = find(json!({"other": 1})).await;
    assert_eq!((scan.docs.len(), scan.examined, scan.index), (0, 500, None));
}
