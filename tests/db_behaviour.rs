//! The document database's behaviour, one suite run against every backend:
//! each check runs as `embedded::<check>` and as `mongodb::<check>`; the
//! MongoDB tests are ignored (reported as such) unless the run asks for
//! them, which `just test` does when `MODHOST_TEST_MONGODB_URI` names a
//! server (none can be had on the project's own machines).
//!
//! Each check gets a fresh scope (its own tenant), so checks never see each
//! other's data; MongoDB databases made for a check are dropped after it.

mod docstore_backends;

use std::time::Instant;

use modhost_docstore::{
    DbError, DocumentStore, EmbeddedStore, Filter, FindOptions, Limits, MAX_WRITES, Matches,
    Namespace, Projection, QueryBudget, Scope, Sort, Upsert, Write, WriteAction,
};
use serde_json::{Value, json};

use docstore_backends::{LIMITS, NO_DEADLINE, fresh_tenant, on_embedded};

on_every_backend!(
    insert_gives_object_id_strings_and_refuses_duplicate_ids,
    filters_follow_the_mongodb_language,
    updates_change_what_they_name,
    sort_skip_limit_and_projection,
    unique_indexes_refuse_duplicates_on_every_write,
    bad_input_is_an_error_value_naming_the_problem,
    scopes_never_see_each_others_data,
    conditional_updates_are_atomic_under_concurrency,
    concurrent_writers_of_one_unique_value_store_it_once,
    sorted_finds_hold_only_their_page,
    sorted_pages_equal_a_stable_full_sort,
    an_expired_deadline_stops_every_call_and_changes_nothing,
    an_index_never_changes_a_result,
    a_missing_field_in_an_array_element_equals_null,
    an_empty_array_sorts_before_null_and_missing,
    a_unique_index_treats_equal_embedded_documents_as_duplicates,
    embedded_documents_compare_by_type_before_field_name,
    limit_zero_means_no_limit,
    a_projection_of_only_id_keeps_only_id,
    integers_compare_exactly_beyond_2_pow_53,
    integers_beyond_i64_are_refused,
    updates_refuse_to_treat_an_existing_null_as_missing,
    pull_on_a_non_array_is_an_error,
    field_order_is_kept_and_is_part_of_equality,
    a_transaction_applies_all_its_writes_together,
    a_failed_expectation_anywhere_changes_nothing_and_names_the_write,
    a_duplicate_key_in_write_3_changes_nothing_and_names_it,
    each_write_of_a_transaction_sees_the_earlier_ones,
    a_transaction_that_is_empty_too_long_or_across_scopes_is_refused_before_it_runs,
    concurrent_transfers_conserve_the_total_and_never_overdraw,
    an_expired_deadline_stops_a_transaction_and_changes_nothing,
);

fn ns(scope: &Scope, collection: &str) -> Namespace {
    scope.collection(collection).unwrap()
}

/// The `_id`s of `find`'s result, in order. The same find answered as JSON
/// text (documents passed on as stored) must be the same documents.
async fn ids(
    store: &DocumentStore,
    ns: &Namespace,
    filter: Value,
    options: FindOptions,
) -> Vec<Value> {
    let docs = store
        .find(ns, &filter, &options, NO_DEADLINE)
        .await
        .unwrap_or_else(|err| panic!("{filter}: {err}"));
    let texts = store
        .find_json(ns, &filter, &options, NO_DEADLINE)
        .await
        .unwrap_or_else(|err| panic!("{filter}: {err}"));
    let parsed: Vec<Value> = texts
        .iter()
        .map(|text| serde_json::from_str(text).unwrap())
        .collect();
    assert_eq!(parsed, docs, "{filter} {options:?}: as text and as values");
    docs.into_iter().map(|doc| doc["_id"].clone()).collect()
}

async fn people(store: &DocumentStore, ns: &Namespace) {
    let docs = vec![
        json!({"_id": "ada", "age": 36, "tags": ["math", "poetry"], "address": {"city": "London"}, "langs": [{"name": "analytical"}]}),
        json!({"_id": "alan", "age": 41, "tags": ["math", "logic"], "address": {"city": "Wilmslow"}, "langs": [{"name": "abc"}, {"name": "ace"}]}),
        json!({"_id": "grace", "age": 85, "tags": ["cobol"], "address": {"city": "Arlington"}, "retired": true}),
        json!({"_id": "linus", "age": 21, "tags": [], "nick": null}),
    ];
    store.insert(ns, docs, NO_DEADLINE).await.unwrap();
}

async fn insert_gives_object_id_strings_and_refuses_duplicate_ids(
    store: DocumentStore,
    scope: Scope,
) {
    let ns = ns(&scope, "things");
    let ids = store
        .insert(&ns, vec![json!({"a": 1}), json!({"a": 2})], NO_DEADLINE)
        .await
        .unwrap();
    for id in &ids {
        let id = id.as_str().expect("generated ids are strings");
        assert_eq!(id.len(), 24, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    }
    assert_ne!(ids[0], ids[1]);
    let found = store
        .find_one(
            &ns,
            &json!({"_id": ids[1]}),
            &FindOptions::default(),
            NO_DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!(found.unwrap()["a"], 2);

    let err = store
        .insert(&ns, vec![json!({"_id": ids[0], "a": 3})], NO_DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::DuplicateKey(_)), "{err:?}");
    assert_eq!(store.count(&ns, &json!({}), NO_DEADLINE).await.unwrap(), 2);

    // A duplicate in the middle of a batch, of a stored document or of one
    // earlier in the batch: all or none, so the documents before it go too.
    for batch in [
        vec![
            json!({"_id": "new1"}),
            json!({"_id": ids[0]}),
            json!({"_id": "new2"}),
        ],
        vec![
            json!({"_id": "new1"}),
            json!({"_id": "new2"}),
            json!({"_id": "new1"}),
        ],
    ] {
        let err = store.insert(&ns, batch, NO_DEADLINE).await.unwrap_err();
        assert!(matches!(err, DbError::DuplicateKey(_)), "{err:?}");
        assert_eq!(
            store.count(&ns, &json!({}), NO_DEADLINE).await.unwrap(),
            2,
            "a refused batch stored some of its documents"
        );
    }
}

async fn filters_follow_the_mongodb_language(store: DocumentStore, scope: Scope) {
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
            store.count(&ns, &filter, NO_DEADLINE).await.unwrap(),
            expected.len() as u64,
            "{filter}"
        );
    }

    // $options as MongoDB (PCRE) reads them: m, s and x.
    let texts = scope.collection("texts").unwrap();
    let docs = vec![
        json!({"_id": "two", "text": "first\nsecond"}),
        json!({"_id": "one", "text": "Second"}),
    ];
    store.insert(&texts, docs, NO_DEADLINE).await.unwrap();
    for (pattern, options, expected) in [
        ("^second", "", vec![]),
        ("^second", "m", vec!["two"]),
        ("^second", "im", vec!["one", "two"]),
        ("first.second", "", vec![]),
        ("first.second", "s", vec!["two"]),
        ("sec ond # a comment", "x", vec!["two"]),
    ] {
        let filter = json!({"text": {"$regex": pattern, "$options": options}});
        let found = ids(&store, &texts, filter.clone(), by_id.clone()).await;
        let expected: Vec<Value> = expected.into_iter().map(|id| json!(id)).collect();
        assert_eq!(found, expected, "{filter}");
    }
}

async fn updates_change_what_they_name(store: DocumentStore, scope: Scope) {
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
        .update(
            &ns,
            &json!({"_id": "ada"}),
            &update,
            Matches::First,
            Upsert::No,
            NO_DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!((result.matched, result.modified), (1, 1));
    let ada = store
        .find_one(
            &ns,
            &json!({"_id": "ada"}),
            &FindOptions::default(),
            NO_DEADLINE,
        )
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
        .update(
            &ns,
            &json!({"tags": "math"}),
            &pull,
            Matches::All,
            Upsert::No,
            NO_DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!((result.matched, result.modified), (2, 2));
    assert_eq!(
        store
            .count(&ns, &json!({"tags": "math"}), NO_DEADLINE)
            .await
            .unwrap(),
        0
    );

    let none = store
        .update(
            &ns,
            &json!({"_id": "nobody"}),
            &json!({"$set": {"a": 1}}),
            Matches::First,
            Upsert::No,
            NO_DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!(
        (none.matched, none.modified, none.upserted_id),
        (0, 0, None)
    );

    let upsert = json!({"$set": {"age": 30}, "$setOnInsert": {"tags": []}});
    let result = store
        .update(
            &ns,
            &json!({"name": "barbara"}),
            &upsert,
            Matches::First,
            Upsert::Yes,
            NO_DEADLINE,
        )
        .await
        .unwrap();
    let id = result
        .upserted_id
        .expect("an upsert that matched nothing inserts");
    assert!(id.is_string(), "{id}");
    let barbara = store
        .find_one(
            &ns,
            &json!({"_id": id}),
            &FindOptions::default(),
            NO_DEADLINE,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (&barbara["name"], &barbara["age"], &barbara["tags"]),
        (&json!("barbara"), &json!(30), &json!([]))
    );

    let deleted = store
        .delete(&ns, &json!({"age": {"$gt": 40}}), Matches::All, NO_DEADLINE)
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(
        store
            .delete(&ns, &json!({}), Matches::First, NO_DEADLINE)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.count(&ns, &json!({}), NO_DEADLINE).await.unwrap(), 2);
}

async fn sort_skip_limit_and_projection(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "scores");
    let docs = (0..10)
        .map(|i| json!({"_id": format!("p{i}"), "team": i % 2, "score": i * 10, "secret": "x"}))
        .collect();
    store.insert(&ns, docs, NO_DEADLINE).await.unwrap();
    let options = FindOptions {
        sort: Some(json!({"team": 1, "score": -1})),
        skip: 1,
        limit: Some(3),
        projection: Some(json!({"score": 1})),
    };
    let found = store
        .find(&ns, &json!({}), &options, NO_DEADLINE)
        .await
        .unwrap();
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
        store
            .find(&ns, &json!({}), &hide, NO_DEADLINE)
            .await
            .unwrap(),
        vec![json!({"team": 0, "score": 0})]
    );
}

async fn unique_indexes_refuse_duplicates_on_every_write(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "users");
    store
        .create_index(&ns, "email", true, NO_DEADLINE)
        .await
        .unwrap();
    store
        .create_index(&ns, "email", true, NO_DEADLINE)
        .await
        .unwrap();
    store
        .insert(
            &ns,
            vec![
                json!({"_id": "a", "email": "a@x"}),
                json!({"_id": "b", "email": "b@x"}),
            ],
            NO_DEADLINE,
        )
        .await
        .unwrap();

    let err = store
        .insert(&ns, vec![json!({"_id": "c", "email": "a@x"})], NO_DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::DuplicateKey(_)), "{err:?}");
    let err = store
        .update(
            &ns,
            &json!({"_id": "b"}),
            &json!({"$set": {"email": "a@x"}}),
            Matches::First,
            Upsert::No,
            NO_DEADLINE,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::DuplicateKey(_)), "{err:?}");
    let b = store
        .find_one(
            &ns,
            &json!({"_id": "b"}),
            &FindOptions::default(),
            NO_DEADLINE,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b["email"], "b@x", "a refused update changes nothing");
    assert_eq!(store.count(&ns, &json!({}), NO_DEADLINE).await.unwrap(), 2);

    let other = self::ns(&scope, "dupes");
    store
        .insert(&other, vec![json!({"k": 1}), json!({"k": 1})], NO_DEADLINE)
        .await
        .unwrap();
    let err = store
        .create_index(&other, "k", true, NO_DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::DuplicateKey(_)), "{err:?}");
}

async fn bad_input_is_an_error_value_naming_the_problem(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "misc");
    let err = store
        .find(
            &ns,
            &json!({"a": {"$elemMatch": {"b": 1}}}),
            &FindOptions::default(),
            NO_DEADLINE,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DbError::InvalidFilter(m) if m.contains("$elemMatch")),
        "{err:?}"
    );
    let err = store
        .find(
            &ns,
            &json!({"$where": "true"}),
            &FindOptions::default(),
            NO_DEADLINE,
        )
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
            Matches::First,
            Upsert::No,
            NO_DEADLINE,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DbError::InvalidUpdate(m) if m.contains("$rename")),
        "{err:?}"
    );
    let err = store
        .update(
            &ns,
            &json!({}),
            &json!({"a": 1}),
            Matches::First,
            Upsert::No,
            NO_DEADLINE,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::InvalidUpdate(_)), "{err:?}");
    let bad_sort = FindOptions {
        sort: Some(json!({"a": 2})),
        ..FindOptions::default()
    };
    assert!(matches!(
        store.find(&ns, &json!({}), &bad_sort, NO_DEADLINE).await,
        Err(DbError::InvalidFilter(_))
    ));

    // An _id must be a string or a number.
    for id in [json!(true), json!(null), json!([1]), json!({"a": 1})] {
        let err = store
            .insert(&ns, vec![json!({"_id": id})], NO_DEADLINE)
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::InvalidDocument(_)), "{id}: {err:?}");
    }
    // Field names that would read as operators or paths, at any depth.
    for doc in [
        json!({"$set": 1}),
        json!({"a.b": 1}),
        json!({"": 1}),
        json!({"outer": {"in.ner": 1}}),
        json!({"list": [{"$x": 1}]}),
    ] {
        let err = store
            .insert(&ns, vec![doc.clone()], NO_DEADLINE)
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::InvalidDocument(_)), "{doc}: {err:?}");
    }
    for field in ["", "$a", "a..b", "a."] {
        let err = store
            .create_index(&ns, field, false, NO_DEADLINE)
            .await
            .unwrap_err();
        assert!(
            matches!(err, DbError::InvalidIndex(_)),
            "{field:?}: {err:?}"
        );
    }
    let err = store
        .insert(&ns, vec![json!([1, 2])], NO_DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::InvalidDocument(_)), "{err:?}");
    let big = "x".repeat(LIMITS.max_document_bytes);
    let err = store
        .insert(&ns, vec![json!({"big": big})], NO_DEADLINE)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DbError::DocumentTooLarge(m) if m.contains("4096")),
        "{err:?}"
    );
    let err = store
        .insert(
            &ns,
            vec![json!({"ok": 1}), json!({"big": big})],
            NO_DEADLINE,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::DocumentTooLarge(_)), "{err:?}");
    assert_eq!(
        store.count(&ns, &json!({}), NO_DEADLINE).await.unwrap(),
        0,
        "a refused insert_many stores nothing"
    );

    let many: Vec<Value> = (0..LIMITS.max_find_documents + 1)
        .map(|i| json!({"i": i}))
        .collect();
    store.insert(&ns, many, NO_DEADLINE).await.unwrap();
    let err = store
        .find(&ns, &json!({}), &FindOptions::default(), NO_DEADLINE)
        .await
        .unwrap_err();
    assert_eq!(err, DbError::TooManyResults(LIMITS.max_find_documents));
    let page = FindOptions {
        limit: Some(u64::from(LIMITS.max_find_documents)),
        ..FindOptions::default()
    };
    assert_eq!(
        store
            .find(&ns, &json!({}), &page, NO_DEADLINE)
            .await
            .unwrap()
            .len(),
        LIMITS.max_find_documents as usize
    );

    for name in ["", "a/b", "../x", "a.b", "x y", &"c".repeat(65)] {
        assert!(
            matches!(scope.collection(name), Err(DbError::InvalidName(_))),
            "{name:?}"
        );
    }
}

async fn scopes_never_see_each_others_data(store: DocumentStore, _scope: Scope) {
    // One tenant with two modules, and a second tenant with a module of the
    // first's name: the tenant and the module each keep data apart alone.
    let (tenant, other_tenant) = (fresh_tenant(), fresh_tenant());
    let scopes = [
        (tenant.as_str(), "suite"),
        (tenant.as_str(), "other"),
        (other_tenant.as_str(), "suite"),
    ];
    let namespaces: Vec<Namespace> = scopes
        .iter()
        .map(|(tenant, module)| ns(&Scope::new(tenant, module).unwrap(), "shared_name"))
        .collect();
    for (ns, (tenant, module)) in namespaces.iter().zip(&scopes) {
        let doc = json!({"_id": "k", "owner": format!("{tenant}/{module}")});
        store.insert(ns, vec![doc], NO_DEADLINE).await.unwrap();
    }
    let everything = FindOptions::default();
    for (ns, (tenant, module)) in namespaces.iter().zip(&scopes) {
        let found = store
            .find(ns, &json!({}), &everything, NO_DEADLINE)
            .await
            .unwrap();
        let owner = format!("{tenant}/{module}");
        assert_eq!(found, vec![json!({"_id": "k", "owner": owner})]);
    }
    // Deleting everything in one scope leaves the others whole.
    store
        .delete(&namespaces[0], &json!({}), Matches::All, NO_DEADLINE)
        .await
        .unwrap();
    for ns in &namespaces[1..] {
        assert_eq!(store.count(ns, &json!({}), NO_DEADLINE).await.unwrap(), 1);
    }
    assert!(Scope::new("t/1", "m").is_err());
    assert!(Scope::new("t", "../m").is_err());
}

async fn concurrent_writers_of_one_unique_value_store_it_once(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "claims");
    store
        .create_index(&ns, "email", true, NO_DEADLINE)
        .await
        .unwrap();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (store, ns) = (store.clone(), ns.clone());
            tokio::spawn(async move {
                let doc = json!({"_id": format!("w{i}"), "email": "same@x"});
                store.insert(&ns, vec![doc], NO_DEADLINE).await
            })
        })
        .collect();
    let mut stored = 0;
    for writer in writers {
        match writer.await.unwrap() {
            Ok(_) => stored += 1,
            Err(DbError::DuplicateKey(_)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(stored, 1, "one writer wins the value");
    let found = store
        .count(&ns, &json!({"email": "same@x"}), NO_DEADLINE)
        .await
        .unwrap();
    assert_eq!(found, 1);
}

async fn conditional_updates_are_atomic_under_concurrency(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "wallets");
    store
        .insert(&ns, vec![json!({"_id": "w", "balance": 100})], NO_DEADLINE)
        .await
        .unwrap();
    let debits = (0..40).map(|_| {
        let (store, ns) = (store.clone(), ns.clone());
        tokio::spawn(async move {
            let filter = json!({"_id": "w", "balance": {"$gte": 7}});
            let debit = json!({"$inc": {"balance": -7}});
            store
                .update(
                    &ns,
                    &filter,
                    &debit,
                    Matches::First,
                    Upsert::No,
                    NO_DEADLINE,
                )
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
        .find_one(
            &ns,
            &json!({"_id": "w"}),
            &FindOptions::default(),
            NO_DEADLINE,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(succeeded, 14, "100 / 7 debits fit");
    assert_eq!(wallet["balance"], 100 - 7 * 14);
}

/// The embedded store reads only what an index leads to for equality and
/// range lookups on an indexed field.
#[tokio::test(flavor = "multi_thread")]
async fn embedded_indexes_avoid_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_find_documents: 1000,
        ..LIMITS
    };
    let store = EmbeddedStore::open(&dir.path().join("db.redb"), limits).unwrap();
    let ns = Scope::new("t", "m").unwrap().collection("items").unwrap();
    let docs = (0..500)
        .map(|i| json!({"n": i, "tag": format!("t{}", i % 50), "list": [i, i + 1000]}))
        .collect();
    store.insert(&ns, docs, NO_DEADLINE).await.unwrap();
    for field in ["n", "tag", "list"] {
        store
            .create_index(&ns, field.into(), false, NO_DEADLINE)
            .await
            .unwrap();
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
                    NO_DEADLINE,
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
    // `_id` is the primary key: $in and ranges on it read only their keys.
    let mut ids: Vec<Value> = eq.docs.iter().map(|doc| doc["_id"].clone()).collect();
    ids.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    let by_id = find(json!({"_id": {"$in": [ids[0], ids[1], "no such id"]}})).await;
    assert_eq!((by_id.docs.len(), by_id.examined), (2, 2));
    let id_range = find(json!({"_id": {"$gte": ids[0], "$lte": ids[0]}})).await;
    assert_eq!((id_range.docs.len(), id_range.examined), (1, 1));
}

/// A budget whose deadline has passed by the time the call looks.
fn expired() -> QueryBudget {
    QueryBudget {
        deadline: Some(Instant::now()),
    }
}

/// An embedded store of its own in `dir`, with `limits`.
fn embedded(dir: &tempfile::TempDir, limits: Limits) -> DocumentStore {
    DocumentStore::Embedded(EmbeddedStore::open(&dir.path().join("db.redb"), limits).unwrap())
}

/// The number of documents a stopped embedded scan says it examined.
fn examined_in(err: &DbError) -> u64 {
    let message = err.message();
    let (_, after) = message
        .split_once("after examining ")
        .unwrap_or_else(|| panic!("no count in {message:?}"));
    let count = after.split(' ').next().unwrap();
    count
        .parse()
        .unwrap_or_else(|_| panic!("no count in {message:?}"))
}

/// `count` documents `d00`, `d01`, ... (so their scan order is their number),
/// each with a `pad` of `pad` bytes and `rank` a permutation of the numbers.
fn padded(count: usize, pad: usize) -> Vec<Value> {
    (0..count)
        .map(
            |i| json!({"_id": format!("d{i:02}"), "rank": (i * 7) % count, "pad": "x".repeat(pad)}),
        )
        .collect()
}

fn page(sort: Option<Value>, skip: u64, limit: Option<u64>) -> FindOptions {
    FindOptions {
        sort,
        skip,
        limit,
        projection: None,
    }
}

async fn sorted_finds_hold_only_their_page(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "big");
    // 40 documents of 3 KB: 120 KB, more than the 64 KB one call may hold.
    store
        .insert(&ns, padded(40, 3000), NO_DEADLINE)
        .await
        .unwrap();
    let best = ids(
        &store,
        &ns,
        json!({}),
        page(Some(json!({"rank": 1})), 0, Some(1)),
    )
    .await;
    assert_eq!(best, vec![json!("d00")]);
    let middle = ids(
        &store,
        &ns,
        json!({}),
        page(Some(json!({"rank": -1})), 2, Some(3)),
    )
    .await;
    // Ranks 37, 36, 35 are documents 11, 28, 5 (7i mod 40).
    assert_eq!(middle, vec![json!("d11"), json!("d28"), json!("d05")]);
    let first_five = ids(&store, &ns, json!({}), page(None, 0, Some(5))).await;
    assert_eq!(first_five.len(), 5);

    for options in [page(Some(json!({"rank": 1})), 0, None), page(None, 0, None)] {
        let err = store
            .find(&ns, &json!({}), &options, NO_DEADLINE)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DbError::QueryTooLarge(m) if m.contains("max_query_bytes") && m.contains("add a limit")),
            "{options:?}: {err:?}"
        );
    }
}

/// The reference a sorted page must equal: every document (given in scan
/// order) stably sorted, then skipped and limited.
fn sorted_page(docs: &[Value], sort: &Value, skip: u64, limit: Option<u64>) -> Vec<Value> {
    let sort = Sort::parse(Some(sort)).unwrap();
    let mut sorted = docs.to_vec();
    sorted.sort_by(|a, b| sort.compare(a, b));
    sorted
        .into_iter()
        .skip(skip as usize)
        .take(limit.map_or(usize::MAX, |limit| limit as usize))
        .map(|doc| doc["_id"].clone())
        .collect()
}

/// Which documents a filter keeps, as the test reads it.
type Keeps = fn(&Value) -> bool;

/// Sorted pages, ascending and descending, with skips and limits, over
/// fields with mixed types, arrays and missing values: each page is the
/// slice of a stable sort of the matches. Once on a collection without
/// indexes, once with an index on every sorted field (read in index order
/// where the index allows, a multikey one not), with and without a filter.
async fn sorted_pages_equal_a_stable_full_sort(store: DocumentStore, scope: Scope) {
    let docs: Vec<Value> = (0..40)
        .map(|i| {
            let mut doc =
                json!({"_id": format!("d{i:02}"), "a": i % 4, "c": format!("c{}", i % 3)});
            let b = match i % 5 {
                0 => None,
                1 => Some(Value::Null),
                2 => Some(json!([i % 3, 10 - i % 7])),
                3 => Some(json!(format!("s{}", i % 2))),
                _ => Some(json!(i % 6)),
            };
            if let Some(b) = b {
                doc["b"] = b;
            }
            // Scalars of every type, null and missing, never an array: its
            // index stays sortable and is read in key order.
            let d = match i % 6 {
                0 => None,
                1 => Some(Value::Null),
                2 => Some(json!(i % 4)),
                3 => Some(json!(format!("t{}", i % 3))),
                4 => Some(json!(i % 4 == 0)),
                _ => Some(json!((i % 4) as f64 + 0.5)),
            };
            if let Some(d) = d {
                doc["d"] = d;
            }
            doc
        })
        .collect();
    let (plain, indexed) = (ns(&scope, "mixed"), ns(&scope, "mixed_indexed"));
    for field in ["a", "b", "c", "d"] {
        store
            .create_index(&indexed, field, false, NO_DEADLINE)
            .await
            .unwrap();
    }
    for ns in [&plain, &indexed] {
        store.insert(ns, docs.clone(), NO_DEADLINE).await.unwrap();
    }
    // MongoDB leaves the order of ties open: where a sort has ties, each
    // document must tie with the one a stable sort puts there; the order
    // itself is checked only where it is scan order, in `_id` order: the
    // embedded store, without an index.
    let embedded = matches!(store, DocumentStore::Embedded(_));
    let by_id: std::collections::HashMap<String, &Value> = docs
        .iter()
        .map(|doc| (doc["_id"].to_string(), doc))
        .collect();
    let doc_of = |id: &Value| by_id[&id.to_string()];
    let sorts = [
        (json!({"a": 1}), false),
        (json!({"a": -1}), false),
        (json!({"b": 1}), false),
        (json!({"b": -1}), false),
        (json!({"c": -1}), false),
        (json!({"d": 1}), false),
        (json!({"d": -1}), false),
        (json!({"d": 1, "_id": -1}), true),
        (json!({"d": -1, "_id": 1}), true),
        (json!({"a": 1, "c": -1}), false),
        (json!({"c": 1, "b": -1}), false),
        (json!({"a": 1, "_id": -1}), true),
        (json!({"c": -1, "_id": 1}), true),
        (json!({"a": 1, "b": 1, "_id": -1}), true),
        (json!({"b": -1, "_id": 1}), true),
        (json!({"_id": -1}), true),
        (json!({"_id": 1}), true),
    ];
    let pages = [
        (0, None),
        (0, Some(1)),
        (1, Some(1)),
        (3, Some(5)),
        (10, Some(7)),
        (35, Some(10)),
        (39, Some(3)),
        (40, Some(3)),
        (0, Some(40)),
        (38, None),
    ];
    let filters: [(Value, Keeps); 4] = [
        (json!({}), |_| true),
        (json!({"a": {"$gte": 1}}), |doc| {
            doc["a"].as_i64() >= Some(1)
        }),
        (json!({"c": "c1"}), |doc| doc["c"] == "c1"),
        (json!({"d": {"$gte": 1}}), |doc| {
            doc["d"].as_f64() >= Some(1.0)
        }),
    ];
    for ns in [&plain, &indexed] {
        for (filter, keeps) in &filters {
            let matching: Vec<Value> = docs.iter().filter(|doc| keeps(doc)).cloned().collect();
            for (sort, total) in &sorts {
                let in_scan_order = *total || (embedded && ns == &plain);
                let order = Sort::parse(Some(sort)).unwrap();
                for (skip, limit) in pages {
                    let options = page(Some(sort.clone()), skip, limit);
                    let found = ids(&store, ns, filter.clone(), options).await;
                    let expected = sorted_page(&matching, sort, skip, limit);
                    let what =
                        format!("{ns:?} {filter}, sort {sort}, skip {skip}, limit {limit:?}");
                    if in_scan_order {
                        assert_eq!(found, expected, "{what}");
                        continue;
                    }
                    assert_eq!(found.len(), expected.len(), "{what}");
                    for (got, want) in found.iter().zip(&expected) {
                        let tie = order.compare(doc_of(got), doc_of(want));
                        assert_eq!(tie, std::cmp::Ordering::Equal, "{what}: {got} for {want}");
                    }
                }
            }
        }
    }
}

async fn an_expired_deadline_stops_every_call_and_changes_nothing(
    store: DocumentStore,
    scope: Scope,
) {
    let ns = ns(&scope, "late");
    store
        .insert(&ns, padded(100, 10), NO_DEADLINE)
        .await
        .unwrap();
    let sorted = page(Some(json!({"rank": 1})), 0, Some(1));
    let errors = [
        store
            .find(&ns, &json!({}), &FindOptions::default(), expired())
            .await
            .unwrap_err(),
        store
            .find(&ns, &json!({}), &sorted, expired())
            .await
            .unwrap_err(),
        store.count(&ns, &json!({}), expired()).await.unwrap_err(),
        store
            .update(
                &ns,
                &json!({}),
                &json!({"$set": {"late": true}}),
                Matches::All,
                Upsert::No,
                expired(),
            )
            .await
            .unwrap_err(),
        store
            .delete(&ns, &json!({}), Matches::All, expired())
            .await
            .unwrap_err(),
        store
            .insert(&ns, vec![json!({"late": true})], expired())
            .await
            .unwrap_err(),
        store
            .create_index(&ns, "rank", true, expired())
            .await
            .unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, DbError::Timeout(_)), "{err:?}");
        if matches!(store, DocumentStore::Embedded(_)) {
            assert!(examined_in(&err) < 100, "{err:?}");
        }
    }
    assert_eq!(
        store.count(&ns, &json!({}), NO_DEADLINE).await.unwrap(),
        100
    );
    let late = json!({"late": {"$exists": true}});
    assert_eq!(store.count(&ns, &late, NO_DEADLINE).await.unwrap(), 0);
    // Had the unique index been made, this would be a duplicate rank.
    store
        .insert(&ns, vec![json!({"rank": 0})], NO_DEADLINE)
        .await
        .unwrap();
}

/// The embedded store's own limit (MongoDB's is 64).
#[tokio::test]
async fn embedded_a_collection_holds_at_most_16_indexes() {
    on_embedded(|store, scope| async move {
        let ns = ns(&scope, "indexed");
        for i in 0..16 {
            let field = format!("f{i}");
            store
                .create_index(&ns, &field, false, NO_DEADLINE)
                .await
                .unwrap();
        }
        // Asking again for one it has is not a new index.
        store
            .create_index(&ns, "f0", false, NO_DEADLINE)
            .await
            .unwrap();
        let err = store
            .create_index(&ns, "f16", false, NO_DEADLINE)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DbError::InvalidIndex(m) if m.contains("at most 16 indexes")),
            "{err:?}"
        );
    })
    .await;
}

/// A deadline that passes during a scan stops it there (embedded: a
/// MongoDB server stops by its own maxTimeMS).
#[tokio::test]
async fn embedded_a_deadline_stops_a_scan_midway() {
    let dir = tempfile::tempdir().unwrap();
    let docs = 20_000;
    let limits = Limits {
        max_examined_documents: 1_000_000,
        ..LIMITS
    };
    let store = embedded(&dir, limits);
    let ns = ns(&Scope::new("t", "m").unwrap(), "slow");
    let slow: Vec<Value> = (0..docs)
        .map(|i| json!({"i": i, "list": (0..100).collect::<Vec<_>>()}))
        .collect();
    store.insert(&ns, slow, NO_DEADLINE).await.unwrap();
    let nothing = json!({"absent": 1});
    let started = Instant::now();
    assert_eq!(store.count(&ns, &nothing, NO_DEADLINE).await.unwrap(), 0);
    let full = started.elapsed();

    let budget = QueryBudget {
        deadline: Some(Instant::now() + full / 10),
    };
    let err = store.count(&ns, &nothing, budget).await.unwrap_err();
    assert!(matches!(err, DbError::Timeout(_)), "{err:?}");
    assert!(
        examined_in(&err) < docs,
        "{err:?} (a full scan took {full:?})"
    );
}

/// An embedded store in `dir` whose calls may read at most `documents`.
fn reading_at_most(dir: &tempfile::TempDir, documents: u64) -> DocumentStore {
    let limits = Limits {
        max_examined_documents: documents,
        ..LIMITS
    };
    embedded(dir, limits)
}

#[tokio::test]
async fn embedded_calls_stop_at_the_work_budget() {
    let dir = tempfile::tempdir().unwrap();
    let store = reading_at_most(&dir, 100);
    let ns = ns(&Scope::new("t", "m").unwrap(), "work");
    store
        .create_index(&ns, "rank", false, NO_DEADLINE)
        .await
        .unwrap();
    store
        .insert(&ns, padded(150, 10), NO_DEADLINE)
        .await
        .unwrap();

    let too_much = |err: DbError| {
        assert!(
            matches!(&err, DbError::QueryTooLarge(m) if m.contains("100") && m.contains("max_examined_documents")),
            "{err:?}"
        );
    };
    let padded_docs = json!({"pad": {"$exists": true}});
    too_much(
        store
            .count(&ns, &padded_docs, NO_DEADLINE)
            .await
            .unwrap_err(),
    );
    // A sort no index serves reads every match.
    let sorted = page(Some(json!({"pad": 1})), 0, Some(1));
    too_much(
        store
            .find(&ns, &json!({}), &sorted, NO_DEADLINE)
            .await
            .unwrap_err(),
    );
    let set = json!({"$set": {"touched": true}});
    too_much(
        store
            .update(&ns, &json!({}), &set, Matches::All, Upsert::No, NO_DEADLINE)
            .await
            .unwrap_err(),
    );
    too_much(
        store
            .delete(&ns, &json!({}), Matches::All, NO_DEADLINE)
            .await
            .unwrap_err(),
    );
    too_much(
        store
            .create_index(&ns, "pad", false, NO_DEADLINE)
            .await
            .unwrap_err(),
    );

    // What reads fewer documents is allowed: an early stop, or an index,
    // for a filter or for a sort; a count of everything reads none.
    assert_eq!(
        store.count(&ns, &json!({}), NO_DEADLINE).await.unwrap(),
        150
    );
    let first = ids(&store, &ns, json!({}), page(None, 0, Some(10))).await;
    assert_eq!(first.len(), 10);
    let by_rank = page(Some(json!({"rank": -1})), 0, Some(10));
    assert_eq!(ids(&store, &ns, json!({}), by_rank).await.len(), 10);
    for half in [json!({"rank": {"$lt": 75}}), json!({"rank": {"$gte": 75}})] {
        assert_eq!(store.count(&ns, &half, NO_DEADLINE).await.unwrap(), 75);
        let touched = json!({"$and": [half, {"touched": true}]});
        assert_eq!(store.count(&ns, &touched, NO_DEADLINE).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn embedded_update_and_delete_many_hold_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded(&dir, LIMITS);
    let ns = ns(&Scope::new("t", "m").unwrap(), "big");
    // 120 KB of documents, more than the 64 KB one call may hold.
    store
        .insert(&ns, padded(40, 3000), NO_DEADLINE)
        .await
        .unwrap();
    let set = json!({"$set": {"touched": true}});
    for err in [
        store
            .update(&ns, &json!({}), &set, Matches::All, Upsert::No, NO_DEADLINE)
            .await
            .unwrap_err(),
        store
            .delete(&ns, &json!({}), Matches::All, NO_DEADLINE)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(&err, DbError::QueryTooLarge(m) if m.contains("max_query_bytes")),
            "{err:?}"
        );
    }
    let touched = json!({"touched": true});
    assert_eq!(store.count(&ns, &touched, NO_DEADLINE).await.unwrap(), 0);
    assert_eq!(store.count(&ns, &json!({}), NO_DEADLINE).await.unwrap(), 40);

    // In batches that fit, both work.
    let batch = json!({"rank": {"$lt": 10}});
    let result = store
        .update(&ns, &batch, &set, Matches::All, Upsert::No, NO_DEADLINE)
        .await
        .unwrap();
    assert_eq!(result.modified, 10);
    assert_eq!(
        store
            .delete(&ns, &batch, Matches::All, NO_DEADLINE)
            .await
            .unwrap(),
        10
    );
    assert_eq!(store.count(&ns, &json!({}), NO_DEADLINE).await.unwrap(), 30);
}

/// A document of a little over 1 KB: its JSON text and `_id`.
fn kilobyte(id: &str) -> Value {
    json!({"_id": id, "pad": "x".repeat(1000)})
}

/// Inserts `kilobyte` documents `first..last` into `ns`.
async fn fill(
    store: &DocumentStore,
    ns: &Namespace,
    ids: std::ops::Range<u32>,
) -> Result<(), DbError> {
    let docs = ids.map(|i| kilobyte(&format!("q{i}"))).collect();
    store.insert(ns, docs, NO_DEADLINE).await.map(drop)
}

fn over_quota(err: DbError) {
    assert!(
        matches!(&err, DbError::QuotaExceeded(m) if m.contains("5500") && m.contains("in use")),
        "{err:?}"
    );
}

/// An embedded store in `dir` and two collections of a scope holding at
/// most 5500 bytes.
fn two_collections_under_quota(dir: &tempfile::TempDir) -> (DocumentStore, Namespace, Namespace) {
    let scope = Scope::new("t", "m").unwrap().with_max_bytes(5500);
    (embedded(dir, LIMITS), ns(&scope, "a"), ns(&scope, "b"))
}

/// The per-module quota of stored bytes (embedded only: on MongoDB the
/// server's own quotas apply).
#[tokio::test]
async fn embedded_the_db_bytes_quota_bounds_each_scope() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a, b) = two_collections_under_quota(&dir);
    let get = |ns: Namespace, id: &'static str| {
        let store = store.clone();
        async move {
            store
                .find_one(
                    &ns,
                    &json!({"_id": id}),
                    &FindOptions::default(),
                    NO_DEADLINE,
                )
                .await
                .unwrap()
        }
    };

    // Five documents fit; a sixth, in any of the scope's collections, not.
    fill(&store, &a, 0..5).await.unwrap();
    over_quota(fill(&store, &a, 5..6).await.unwrap_err());
    over_quota(fill(&store, &b, 5..6).await.unwrap_err());
    let small_then_big = vec![json!({"_id": "small"}), kilobyte("q5")];
    over_quota(
        store
            .insert(&b, small_then_big, NO_DEADLINE)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        get(b.clone(), "small").await,
        None,
        "a refused insert stores nothing"
    );
    assert_eq!(store.count(&a, &json!({}), NO_DEADLINE).await.unwrap(), 5);

    // A replace counts what it adds: 200 more bytes fit, 400 more do not.
    let grow = |by: usize| json!({"$set": {"more": "y".repeat(by)}});
    let q0 = json!({"_id": "q0"});
    store
        .update(&a, &q0, &grow(200), Matches::First, Upsert::No, NO_DEADLINE)
        .await
        .unwrap();
    over_quota(
        store
            .update(&a, &q0, &grow(400), Matches::First, Upsert::No, NO_DEADLINE)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        get(a.clone(), "q0").await.unwrap()["more"]
            .as_str()
            .unwrap()
            .len(),
        200
    );
    // So does an index: 5 keys of 1 KB do not fit.
    over_quota(
        store
            .create_index(&a, "pad", false, NO_DEADLINE)
            .await
            .unwrap_err(),
    );

    // A delete makes room.
    store
        .delete(&a, &json!({"_id": "q4"}), Matches::First, NO_DEADLINE)
        .await
        .unwrap();
    fill(&store, &b, 5..6).await.unwrap();

    // Other scopes have their own use: another module of the tenant, and
    // the same module of another tenant.
    for other in [Scope::new("t", "other"), Scope::new("u", "m")] {
        let other = ns(&other.unwrap().with_max_bytes(5500), "a");
        fill(&store, &other, 0..5).await.unwrap();
        over_quota(fill(&store, &other, 5..6).await.unwrap_err());
    }

    // Over a quota lowered below the use, deletes and shrinking writes are
    // allowed, growing ones not.
    let lowered = ns(&Scope::new("t", "m").unwrap().with_max_bytes(2000), "a");
    let err = fill(&store, &lowered, 9..10).await.unwrap_err();
    assert!(matches!(err, DbError::QuotaExceeded(m) if m.contains("2000")));
    let unset = json!({"$unset": {"more": ""}});
    store
        .update(
            &lowered,
            &q0,
            &unset,
            Matches::First,
            Upsert::No,
            NO_DEADLINE,
        )
        .await
        .unwrap();
    store
        .delete(&lowered, &json!({}), Matches::All, NO_DEADLINE)
        .await
        .unwrap();
    assert_eq!(store.count(&a, &json!({}), NO_DEADLINE).await.unwrap(), 0);
}

#[tokio::test]
async fn embedded_the_db_bytes_quota_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = ns(&Scope::new("t", "m").unwrap().with_max_bytes(5500), "a");
    let store = embedded(&dir, LIMITS);
    fill(&store, &a, 0..5).await.unwrap();
    drop(store);

    let store = embedded(&dir, LIMITS);
    over_quota(fill(&store, &a, 5..6).await.unwrap_err());
    store
        .delete(&a, &json!({"_id": "q0"}), Matches::First, NO_DEADLINE)
        .await
        .unwrap();
    drop(store);

    let store = embedded(&dir, LIMITS);
    fill(&store, &a, 5..6).await.unwrap();
    over_quota(fill(&store, &a, 6..7).await.unwrap_err());
}

/// `find`'s `_id`s, sorted by `_id`, and checked against `count`.
async fn matching(store: &DocumentStore, ns: &Namespace, filter: Value) -> Vec<Value> {
    let by_id = FindOptions {
        sort: Some(json!({"_id": 1})),
        ..FindOptions::default()
    };
    let found = ids(store, ns, filter.clone(), by_id).await;
    let counted = store.count(ns, &filter, NO_DEADLINE).await.unwrap();
    assert_eq!(counted, found.len() as u64, "count of {filter}");
    found
}

/// The one document with `_id` `id`.
async fn get(store: &DocumentStore, ns: &Namespace, id: Value) -> Value {
    store
        .find_one(
            ns,
            &json!({"_id": id}),
            &FindOptions::default(),
            NO_DEADLINE,
        )
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no document {id}"))
}

/// Applies `update` to the document `_id` 1.
async fn update_one(
    store: &DocumentStore,
    ns: &Namespace,
    update: Value,
) -> Result<modhost_docstore::UpdateResult, DbError> {
    let one = json!({"_id": 1});
    let (first, no) = (Matches::First, Upsert::No);
    store
        .update(ns, &one, &update, first, no, NO_DEADLINE)
        .await
}

/// Different elements of an array may meet the two bounds of a range, so
/// an index on a path through an array (made before or after the
/// documents) must not narrow the scan to values meeting both.
async fn an_index_never_changes_a_result(store: DocumentStore, scope: Scope) {
    let docs = || {
        vec![
            json!({"_id": 1, "objs": [{"k": 1}, {"k": 5}]}),
            json!({"_id": 2, "objs": [{"k": 9}]}),
        ]
    };
    let range = json!({"objs.k": {"$gt": 2, "$lt": 4}});
    let (before, after) = (ns(&scope, "before"), ns(&scope, "after"));
    store
        .create_index(&before, "objs.k", false, NO_DEADLINE)
        .await
        .unwrap();
    store.insert(&before, docs(), NO_DEADLINE).await.unwrap();
    store.insert(&after, docs(), NO_DEADLINE).await.unwrap();
    store
        .create_index(&after, "objs.k", false, NO_DEADLINE)
        .await
        .unwrap();
    for ns in [&before, &after] {
        assert_eq!(matching(&store, ns, range.clone()).await, [json!(1)]);
    }
}

async fn a_missing_field_in_an_array_element_equals_null(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "nulls");
    let docs = vec![
        json!({"_id": 1, "a": [{"b": 3}, {}]}),
        json!({"_id": 2, "a": [{"b": 3}]}),
    ];
    store.insert(&ns, docs, NO_DEADLINE).await.unwrap();
    for (filter, expected) in [
        (json!({"a.b": null}), vec![1]),
        (json!({"a.b": {"$ne": null}}), vec![2]),
        (json!({"a.b": {"$in": [null]}}), vec![1]),
        (json!({"a.b": {"$nin": [null]}}), vec![2]),
        (json!({"a.b": {"$gte": null}}), vec![1]),
        (json!({"a.b": {"$lte": null}}), vec![1]),
        (json!({"a.b": {"$not": {"$eq": null}}}), vec![2]),
        (json!({"a.b": {"$exists": false}}), vec![]),
    ] {
        let expected: Vec<Value> = expected.into_iter().map(Value::from).collect();
        assert_eq!(
            matching(&store, &ns, filter.clone()).await,
            expected,
            "{filter}"
        );
    }
}

async fn an_empty_array_sorts_before_null_and_missing(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "sorted");
    let docs = vec![
        json!({"_id": 1, "a": null}),
        json!({"_id": 2, "a": []}),
        json!({"_id": 3, "a": 0}),
        json!({"_id": 4}),
    ];
    store.insert(&ns, docs, NO_DEADLINE).await.unwrap();
    // Null and missing sort alike; `_id` breaks their tie.
    let sorted = |sort: Value| FindOptions {
        sort: Some(sort),
        ..FindOptions::default()
    };
    assert_eq!(
        ids(&store, &ns, json!({}), sorted(json!({"a": 1, "_id": 1}))).await,
        [json!(2), json!(1), json!(4), json!(3)]
    );
    assert_eq!(
        ids(&store, &ns, json!({}), sorted(json!({"a": -1, "_id": 1}))).await,
        [json!(3), json!(1), json!(4), json!(2)]
    );
}

async fn a_unique_index_treats_equal_embedded_documents_as_duplicates(
    store: DocumentStore,
    scope: Scope,
) {
    let ns = ns(&scope, "unique_embedded");
    store
        .create_index(&ns, "o", true, NO_DEADLINE)
        .await
        .unwrap();
    let first = vec![json!({"_id": 1, "o": {"x": 1, "l": [1, 2]}})];
    store.insert(&ns, first, NO_DEADLINE).await.unwrap();
    // 1 and 1.0 are equal, so these documents are too.
    let equal = vec![json!({"_id": 2, "o": {"x": 1.0, "l": [1.0, 2]}})];
    let err = store.insert(&ns, equal, NO_DEADLINE).await.unwrap_err();
    assert!(matches!(err, DbError::DuplicateKey(_)), "{err:?}");
    // Field order is part of an embedded document's value.
    let reordered = vec![json!({"_id": 3, "o": {"l": [1, 2], "x": 1}})];
    store.insert(&ns, reordered, NO_DEADLINE).await.unwrap();
}

async fn embedded_documents_compare_by_type_before_field_name(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "embedded");
    let docs = vec![
        json!({"_id": 1, "o": {"a": "x"}}),
        json!({"_id": 2, "o": {"b": 1}}),
    ];
    store.insert(&ns, docs, NO_DEADLINE).await.unwrap();
    let by_o = FindOptions {
        sort: Some(json!({"o": 1})),
        ..FindOptions::default()
    };
    // {b: 1} holds a number, {a: "x"} a string: the number sorts first.
    assert_eq!(
        ids(&store, &ns, json!({}), by_o).await,
        [json!(2), json!(1)]
    );
    let below = json!({"o": {"$lt": {"a": "x"}}});
    assert_eq!(matching(&store, &ns, below).await, [json!(2)]);
}

async fn limit_zero_means_no_limit(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "limits");
    let docs = (0..3).map(|i| json!({"_id": i})).collect();
    store.insert(&ns, docs, NO_DEADLINE).await.unwrap();
    for sort in [None, Some(json!({"_id": -1}))] {
        let options = FindOptions {
            sort: sort.clone(),
            limit: Some(0),
            ..FindOptions::default()
        };
        assert_eq!(
            ids(&store, &ns, json!({}), options).await.len(),
            3,
            "sort {sort:?}"
        );
    }
}

async fn a_projection_of_only_id_keeps_only_id(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "projected");
    store
        .insert(&ns, vec![json!({"_id": 1, "a": 2})], NO_DEADLINE)
        .await
        .unwrap();
    let only_id = FindOptions {
        projection: Some(json!({"_id": 1})),
        ..FindOptions::default()
    };
    let found = store
        .find(&ns, &json!({}), &only_id, NO_DEADLINE)
        .await
        .unwrap();
    assert_eq!(found, [json!({"_id": 1})]);
}

async fn integers_compare_exactly_beyond_2_pow_53(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "big");
    let two_53 = 1_i64 << 53;
    let docs = vec![
        json!({"_id": two_53, "a": two_53}),
        json!({"_id": two_53 + 1, "a": two_53 + 1}),
    ];
    // Distinct _ids, however close.
    store.insert(&ns, docs, NO_DEADLINE).await.unwrap();
    let as_double = json!({"a": two_53 as f64});
    assert_eq!(matching(&store, &ns, as_double).await, [json!(two_53)]);
    let above = json!({"a": {"$gt": two_53 as f64}});
    assert_eq!(matching(&store, &ns, above).await, [json!(two_53 + 1)]);
    assert_eq!(
        matching(&store, &ns, json!({"_id": two_53 + 1})).await,
        [json!(two_53 + 1)]
    );
}

async fn integers_beyond_i64_are_refused(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "huge");
    let huge: Value = serde_json::from_str("18446744073709551615").unwrap();
    let err = store
        .insert(&ns, vec![json!({"n": huge})], NO_DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::InvalidDocument(_)), "{err:?}");
    let err = store
        .count(&ns, &json!({"n": huge}), NO_DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::InvalidFilter(_)), "{err:?}");
    let err = update_one(&store, &ns, json!({"$set": {"n": huge}}))
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::InvalidUpdate(_)), "{err:?}");
}

/// Whether `err` is the refusal of an update, in words MongoDB also uses.
fn refused_update(err: &DbError, words: &str) -> bool {
    // The MongoDB backend reports the server's refusal as a backend error.
    matches!(err, DbError::InvalidUpdate(_) | DbError::Backend(_))
        && err.message().to_lowercase().contains(words)
}

async fn updates_refuse_to_treat_an_existing_null_as_missing(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "nulls");
    store
        .insert(&ns, vec![json!({"_id": 1, "a": null})], NO_DEADLINE)
        .await
        .unwrap();
    for (update, words) in [
        (
            json!({"$set": {"a.b": 1}}),
            "cannot create field 'b' in element {a: null}",
        ),
        (
            json!({"$inc": {"a": 1}}),
            "cannot apply $inc to a value of non-numeric type null",
        ),
        (
            json!({"$push": {"a": 1}}),
            "must be an array but is of type null",
        ),
        (
            json!({"$addToSet": {"a": 1}}),
            "must be an array but is of type null",
        ),
    ] {
        let err = update_one(&store, &ns, update.clone()).await.unwrap_err();
        assert!(refused_update(&err, words), "{update}: {err:?}");
    }
    assert_eq!(
        get(&store, &ns, json!(1)).await,
        json!({"_id": 1, "a": null})
    );
    // A missing field is made.
    let made = json!({"$set": {"m.b": 1}, "$inc": {"n": 1}, "$push": {"p": 1}});
    update_one(&store, &ns, made).await.unwrap();
    let doc = get(&store, &ns, json!(1)).await;
    assert_eq!(
        doc,
        json!({"_id": 1, "a": null, "m": {"b": 1}, "n": 1, "p": [1]})
    );
}

async fn pull_on_a_non_array_is_an_error(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "pulls");
    store
        .insert(&ns, vec![json!({"_id": 1, "a": 5})], NO_DEADLINE)
        .await
        .unwrap();
    let err = update_one(&store, &ns, json!({"$pull": {"a": 5}}))
        .await
        .unwrap_err();
    assert!(
        refused_update(&err, "cannot apply $pull to a non-array value"),
        "{err:?}"
    );
    let missing = update_one(&store, &ns, json!({"$pull": {"b": 5}}))
        .await
        .unwrap();
    assert_eq!((missing.matched, missing.modified), (1, 0));
}

/// The fields of `doc`, in order.
fn field_names(doc: &Value) -> Vec<&str> {
    doc.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

async fn field_order_is_kept_and_is_part_of_equality(store: DocumentStore, scope: Scope) {
    let ns = ns(&scope, "ordered");
    let doc = json!({"_id": 1, "a": 1, "b": 2, "c": 3, "d": 4, "o": {"x": 1, "y": 2}});
    store.insert(&ns, vec![doc], NO_DEADLINE).await.unwrap();
    let drop_b = FindOptions {
        projection: Some(json!({"b": 0})),
        ..FindOptions::default()
    };
    let found = store
        .find(&ns, &json!({}), &drop_b, NO_DEADLINE)
        .await
        .unwrap();
    assert_eq!(field_names(&found[0]), ["_id", "a", "c", "d", "o"]);

    update_one(&store, &ns, json!({"$unset": {"a": ""}}))
        .await
        .unwrap();
    assert_eq!(
        field_names(&get(&store, &ns, json!(1)).await),
        ["_id", "b", "c", "d", "o"]
    );

    // The same fields in another order are another embedded document.
    let reordered = json!({"$set": {"o": {"y": 2, "x": 1}}});
    let result = update_one(&store, &ns, reordered).await.unwrap();
    assert_eq!((result.matched, result.modified), (1, 1));
    assert_eq!(
        matching(&store, &ns, json!({"o": {"x": 1, "y": 2}})).await,
        Vec::<Value>::new()
    );
    assert_eq!(
        matching(&store, &ns, json!({"o": {"y": 2, "x": 1}})).await,
        [json!(1)]
    );
}

// Transactions: a list of writes across a scope's collections, all or none.

/// A write of a transaction, with no expectation.
fn write(collection: &Namespace, action: WriteAction) -> Write {
    Write {
        collection: collection.clone(),
        action,
        expect_matched: None,
    }
}

fn insert(collection: &Namespace, doc: Value) -> Write {
    write(collection, WriteAction::Insert(doc))
}

/// An update of the first match.
fn update(collection: &Namespace, filter: Value, update: Value) -> Write {
    let (which, upsert) = (Matches::First, Upsert::No);
    let action = WriteAction::Update {
        filter,
        update,
        which,
        upsert,
    };
    write(collection, action)
}

/// A delete of the first match.
fn delete(collection: &Namespace, filter: Value) -> Write {
    let which = Matches::First;
    write(collection, WriteAction::Delete { filter, which })
}

/// The same write, aborting the transaction unless it matches `matched`.
fn expecting(write: Write, matched: u64) -> Write {
    Write {
        expect_matched: Some(matched),
        ..write
    }
}

/// Every document of `collections`, in `_id` order, a page at a time:
/// what "changes nothing" compares.
async fn contents(store: &DocumentStore, collections: &[&Namespace]) -> Vec<Vec<Value>> {
    let page_size = u64::from(LIMITS.max_find_documents);
    let (everything, mut all) = (json!({}), Vec::new());
    for collection in collections {
        let mut docs = Vec::new();
        loop {
            let options = page(Some(json!({"_id": 1})), docs.len() as u64, Some(page_size));
            let found = store.find(collection, &everything, &options, NO_DEADLINE);
            let found = found.await.unwrap();
            let last = (found.len() as u64) < page_size;
            docs.extend(found);
            if last {
                break;
            }
        }
        all.push(docs);
    }
    all
}

/// Two collections of a scope with a few documents each.
async fn two_collections(store: &DocumentStore, scope: &Scope) -> (Namespace, Namespace) {
    let (accounts, log) = (ns(scope, "accounts"), ns(scope, "log"));
    let opening = vec![json!({"_id": "x", "n": 1}), json!({"_id": "y", "n": 5})];
    store.insert(&accounts, opening, NO_DEADLINE).await.unwrap();
    let entries = vec![json!({"_id": "old"}), json!({"_id": "older"})];
    store.insert(&log, entries, NO_DEADLINE).await.unwrap();
    (accounts, log)
}

async fn a_transaction_applies_all_its_writes_together(store: DocumentStore, scope: Scope) {
    let (accounts, log) = two_collections(&store, &scope).await;
    let writes = vec![
        insert(&accounts, json!({"_id": "z", "n": 3})),
        update(&accounts, json!({"_id": "x"}), json!({"$set": {"n": 2}})),
        delete(&log, json!({"_id": "old"})),
        insert(&log, json!({"_id": "new"})),
    ];
    let results = store.transact(writes, NO_DEADLINE).await.unwrap();
    let done: Vec<_> = results
        .iter()
        .map(|r| (r.matched, r.modified, r.id.clone()))
        .collect();
    assert_eq!(
        done,
        vec![
            (1, 1, Some(json!("z"))),
            (1, 1, None),
            (1, 1, None),
            (1, 1, Some(json!("new"))),
        ]
    );
    assert_eq!(
        contents(&store, &[&accounts, &log]).await,
        vec![
            vec![
                json!({"_id": "x", "n": 2}),
                json!({"_id": "y", "n": 5}),
                json!({"_id": "z", "n": 3}),
            ],
            vec![json!({"_id": "new"}), json!({"_id": "older"})],
        ]
    );
}

async fn a_failed_expectation_anywhere_changes_nothing_and_names_the_write(
    store: DocumentStore,
    scope: Scope,
) {
    let (accounts, log) = two_collections(&store, &scope).await;
    let before = contents(&store, &[&accounts, &log]).await;
    for failing in 0..3 {
        let mut writes = vec![
            expecting(insert(&log, json!({"_id": "entry"})), 1),
            expecting(
                update(&accounts, json!({"_id": "x"}), json!({"$inc": {"n": 1}})),
                1,
            ),
            expecting(delete(&log, json!({"_id": "older"})), 1),
        ];
        // Only one document matches, so expecting two fails.
        writes[failing].expect_matched = Some(2);
        let err = store.transact(writes, NO_DEADLINE).await.unwrap_err();
        assert_eq!(err.index, Some(failing), "{err:?}");
        assert!(
            matches!(&err.error, DbError::ExpectationFailed(m) if m.contains(&format!("write {failing}"))),
            "{err:?}"
        );
        assert_eq!(contents(&store, &[&accounts, &log]).await, before);
    }
}

async fn a_duplicate_key_in_write_3_changes_nothing_and_names_it(
    store: DocumentStore,
    scope: Scope,
) {
    let (accounts, log) = two_collections(&store, &scope).await;
    let before = contents(&store, &[&accounts, &log]).await;
    let writes = vec![
        insert(&log, json!({"_id": "entry"})),
        update(&accounts, json!({"_id": "x"}), json!({"$inc": {"n": 1}})),
        delete(&log, json!({"_id": "older"})),
        insert(&accounts, json!({"_id": "y", "n": 0})),
    ];
    let err = store.transact(writes, NO_DEADLINE).await.unwrap_err();
    assert_eq!(err.index, Some(3), "{err:?}");
    assert!(matches!(err.error, DbError::DuplicateKey(_)), "{err:?}");
    assert_eq!(contents(&store, &[&accounts, &log]).await, before);
}

async fn each_write_of_a_transaction_sees_the_earlier_ones(store: DocumentStore, scope: Scope) {
    let counters = ns(&scope, "counters");
    let writes = vec![
        insert(&counters, json!({"_id": "c", "count": 1})),
        expecting(
            update(
                &counters,
                json!({"_id": "c"}),
                json!({"$inc": {"count": 1}}),
            ),
            1,
        ),
        // Matches only the value the write before made.
        expecting(
            update(
                &counters,
                json!({"count": 2}),
                json!({"$set": {"seen": true}}),
            ),
            1,
        ),
    ];
    let results = store.transact(writes, NO_DEADLINE).await.unwrap();
    assert_eq!(results[1].modified, 1);
    assert_eq!(
        get(&store, &counters, json!("c")).await,
        json!({"_id": "c", "count": 2, "seen": true})
    );
}

async fn a_transaction_that_is_empty_too_long_or_across_scopes_is_refused_before_it_runs(
    store: DocumentStore,
    scope: Scope,
) {
    let err = store.transact(Vec::new(), NO_DEADLINE).await.unwrap_err();
    assert_eq!(err.index, None, "{err:?}");
    assert!(
        err.error.message().contains("at least one write"),
        "{err:?}"
    );

    let items = ns(&scope, "items");
    let too_many = (0..=MAX_WRITES)
        .map(|i| insert(&items, json!({"_id": i})))
        .collect();
    let err = store.transact(too_many, NO_DEADLINE).await.unwrap_err();
    assert_eq!(err.index, None, "{err:?}");
    assert!(
        err.error
            .message()
            .contains(&format!("at most {MAX_WRITES}")),
        "{err:?}"
    );
    assert_eq!(
        store.count(&items, &json!({}), NO_DEADLINE).await.unwrap(),
        0
    );

    let elsewhere = ns(&Scope::new(&fresh_tenant(), "suite").unwrap(), "items");
    let across = vec![
        insert(&items, json!({"_id": "mine"})),
        insert(&elsewhere, json!({"_id": "theirs"})),
    ];
    let err = store.transact(across, NO_DEADLINE).await.unwrap_err();
    assert_eq!(err.index, Some(1), "{err:?}");
    assert!(matches!(err.error, DbError::InvalidName(_)), "{err:?}");
    assert_eq!(
        store.count(&items, &json!({}), NO_DEADLINE).await.unwrap(),
        0
    );
}

/// One transfer: a debit only when the balance covers it, a credit, and
/// an entry in the ledger.
fn transfer(
    accounts: &Namespace,
    ledger: &Namespace,
    from: u64,
    to: u64,
    amount: i64,
) -> Vec<Write> {
    let covered = json!({"_id": from, "balance": {"$gte": amount}});
    vec![
        expecting(
            update(accounts, covered, json!({"$inc": {"balance": -amount}})),
            1,
        ),
        expecting(
            update(
                accounts,
                json!({"_id": to}),
                json!({"$inc": {"balance": amount}}),
            ),
            1,
        ),
        insert(ledger, json!({"from": from, "to": to, "amount": amount})),
    ]
}

async fn concurrent_transfers_conserve_the_total_and_never_overdraw(
    store: DocumentStore,
    scope: Scope,
) {
    const ACCOUNTS: u64 = 4;
    const OPENING: i64 = 50;
    let (accounts, ledger) = (ns(&scope, "accounts"), ns(&scope, "ledger"));
    let opening = (0..ACCOUNTS)
        .map(|id| json!({"_id": id, "balance": OPENING}))
        .collect();
    store.insert(&accounts, opening, NO_DEADLINE).await.unwrap();
    // Made before the transfers, so none of them has to create it.
    store
        .create_index(&ledger, "from", false, NO_DEADLINE)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8_u64)
        .map(|task| {
            let (store, accounts, ledger) = (store.clone(), accounts.clone(), ledger.clone());
            tokio::spawn(async move {
                for i in 0..50_u64 {
                    let from = (task + i) % ACCOUNTS;
                    let to = (from + 1 + i % (ACCOUNTS - 1)) % ACCOUNTS;
                    let amount = 1 + ((task * 7 + i * 13) % 30) as i64;
                    let writes = transfer(&accounts, &ledger, from, to, amount);
                    match store.transact(writes, NO_DEADLINE).await {
                        Ok(_) => {}
                        // Not covered: the debit matched nothing.
                        Err(err) if err.index == Some(0) => {
                            assert!(
                                matches!(err.error, DbError::ExpectationFailed(_)),
                                "{err:?}"
                            );
                        }
                        Err(err) => panic!("transfer {task}/{i}: {err:?}"),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let [balances, entries] = contents(&store, &[&accounts, &ledger])
        .await
        .try_into()
        .unwrap();
    let mut expected = vec![OPENING; ACCOUNTS as usize];
    for entry in &entries {
        let amount = entry["amount"].as_i64().unwrap();
        expected[entry["from"].as_u64().unwrap() as usize] -= amount;
        expected[entry["to"].as_u64().unwrap() as usize] += amount;
    }
    let balances: Vec<i64> = balances
        .iter()
        .map(|account| account["balance"].as_i64().unwrap())
        .collect();
    assert_eq!(balances, expected, "the balances follow the ledger");
    assert_eq!(balances.iter().sum::<i64>(), OPENING * ACCOUNTS as i64);
    assert!(balances.iter().all(|b| *b >= 0), "{balances:?}");
    assert!(!entries.is_empty(), "some transfers went through");
}

async fn an_expired_deadline_stops_a_transaction_and_changes_nothing(
    store: DocumentStore,
    scope: Scope,
) {
    let (accounts, log) = two_collections(&store, &scope).await;
    let before = contents(&store, &[&accounts, &log]).await;
    let writes = vec![
        insert(&log, json!({"_id": "late"})),
        update(&accounts, json!({"_id": "x"}), json!({"$inc": {"n": 1}})),
    ];
    let err = store.transact(writes, expired()).await.unwrap_err();
    assert!(matches!(err.error, DbError::Timeout(_)), "{err:?}");
    assert_eq!(contents(&store, &[&accounts, &log]).await, before);
}

/// A transaction is one write as far as the scope's quota and each
/// collection's catalog go: its writes across two collections count
/// against the one quota (the write that goes over is named, and nothing is
/// stored), and an index each of them makes multikey is saved as such, so a
/// range's two bounds may still be met by different elements.
#[tokio::test]
async fn embedded_a_transaction_is_held_to_the_quota_and_saves_each_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a, b) = two_collections_under_quota(&dir);
    for ns in [&a, &b] {
        store
            .create_index(ns, "k", false, NO_DEADLINE)
            .await
            .unwrap();
    }
    let arrays = vec![
        insert(&a, json!({"_id": "arr", "k": [1, 5]})),
        insert(&b, json!({"_id": "arr", "k": [1, 5]})),
    ];
    store.transact(arrays, NO_DEADLINE).await.unwrap();
    for ns in [&a, &b] {
        let between = json!({"k": {"$gt": 2, "$lt": 4}});
        assert_eq!(
            matching(&store, ns, between).await,
            [json!("arr")],
            "{ns:?}"
        );
    }

    let before = contents(&store, &[&a, &b]).await;
    let kilobytes: Vec<Write> = (0..6)
        .map(|n| {
            let ns = if n % 2 == 0 { &a } else { &b };
            insert(ns, kilobyte(&format!("k{n}")))
        })
        .collect();
    let err = store.transact(kilobytes, NO_DEADLINE).await.unwrap_err();
    assert_eq!(err.index, Some(5), "{err:?}");
    over_quota(err.error);
    assert_eq!(contents(&store, &[&a, &b]).await, before);
}

/// A find sorted by `_id` (either way) with no filter or one the `_id`
/// key order serves, or sorted by a field whose index is sortable, reads
/// only its page: skip + limit documents of 100k, where a sort on an
/// unindexed field must read every match (and here runs into the store's
/// examined-documents limit).
#[tokio::test]
async fn embedded_a_find_sorted_by_id_or_an_index_reads_only_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("db.redb"), LIMITS).unwrap();
    let ns = Scope::new("t", "m").unwrap().collection("many").unwrap();
    const STORED: i64 = 100_000;
    store
        .create_index(&ns, "n".into(), false, NO_DEADLINE)
        .await
        .unwrap();
    for batch in (0..STORED).step_by(5_000) {
        let docs = (batch..batch + 5_000)
            .map(|i| json!({"_id": i, "n": STORED - i, "m": i % 7}))
            .collect();
        store.insert(&ns, docs, NO_DEADLINE).await.unwrap();
    }
    let find = |filter: Value, sort: Value, skip: u64| {
        let (store, ns) = (store.clone(), ns.clone());
        async move {
            let filter = Filter::parse(&filter).unwrap();
            let sort = Sort::parse(Some(&sort)).unwrap();
            let page = (skip, Some(10));
            let none = Projection::parse(None).unwrap();
            store.find(&ns, filter, sort, page, none, NO_DEADLINE).await
        }
    };
    let ids = |found: &modhost_docstore::Found| -> Vec<i64> {
        found
            .docs
            .iter()
            .map(|doc| doc["_id"].as_i64().unwrap())
            .collect()
    };

    let first = find(json!({}), json!({"_id": 1}), 0).await.unwrap();
    assert_eq!((ids(&first), first.examined), ((0..10).collect(), 10));
    let last = find(json!({}), json!({"_id": -1, "n": 1}), 5)
        .await
        .unwrap();
    let expected: Vec<i64> = (STORED - 15..STORED - 5).rev().collect();
    assert_eq!((ids(&last), last.examined), (expected, 15));
    let ranged = find(json!({"_id": {"$gte": 500}}), json!({"_id": -1}), 0).await;
    let ranged = ranged.unwrap();
    assert_eq!(ids(&ranged)[0], STORED - 1);
    assert_eq!(ranged.examined, 10);
    let listed = find(json!({"_id": {"$in": [7, 3, 3, 9]}}), json!({"_id": -1}), 0).await;
    let listed = listed.unwrap();
    assert_eq!((ids(&listed), listed.examined), (vec![9, 7, 3], 3));

    // A sort an index serves reads its page in the index's order, the
    // filter checked on the way.
    let by_n = find(json!({}), json!({"n": 1}), 0).await.unwrap();
    let expected: Vec<i64> = (STORED - 10..STORED).rev().collect();
    assert_eq!((ids(&by_n), by_n.examined), (expected, 10));
    assert_eq!(by_n.index.as_deref(), Some("n"));
    let by_n_down = find(json!({"n": {"$lte": 500}}), json!({"n": -1, "_id": 1}), 5).await;
    let by_n_down = by_n_down.unwrap();
    let expected: Vec<i64> = (STORED - 495..STORED - 485).collect();
    assert_eq!((ids(&by_n_down), by_n_down.examined), (expected, 15));

    let err = find(json!({}), json!({"m": 1}), 0).await.unwrap_err();
    assert!(matches!(err, DbError::QueryTooLarge(_)), "{err:?}");
}

/// A count whose filter is one equality or `$in` on `_id` or an indexed
/// field counts index keys and reads no document: here it passes a store
/// that may read only 5 documents per call, which a count that must read
/// them cannot.
#[tokio::test]
async fn embedded_a_count_the_index_answers_reads_no_document() {
    let dir = tempfile::tempdir().unwrap();
    let store = reading_at_most(&dir, 5);
    let ns = Scope::new("t", "m").unwrap().collection("counted").unwrap();
    let docs = (0..20)
        .map(|i| json!({"_id": i, "tag": format!("t{}", i % 2), "list": [i, i % 3]}))
        .collect();
    // Made first: building an index over stored documents reads them.
    for field in ["tag", "list"] {
        store
            .create_index(&ns, field, false, NO_DEADLINE)
            .await
            .unwrap();
    }
    store.insert(&ns, docs, NO_DEADLINE).await.unwrap();
    let count = |filter: Value| {
        let (store, ns) = (store.clone(), ns.clone());
        async move { store.count(&ns, &filter, NO_DEADLINE).await }
    };
    assert_eq!(count(json!({"tag": "t0"})).await, Ok(10));
    assert_eq!(
        count(json!({"tag": {"$in": ["t0", "t1", "t0"]}})).await,
        Ok(20)
    );
    // Documents listed under several keys of a multikey index count once.
    // ([4, 1] is under 4 and 1.)
    assert_eq!(
        count(json!({"list": {"$in": [0, 1, 2, 3, 4, 5]}})).await,
        Ok(20)
    );
    assert_eq!(
        count(json!({"_id": {"$in": [1, 2, 3, 4, 5, 6, 99]}})).await,
        Ok(6)
    );
    let err = count(json!({"tag": "t0", "_id": {"$gte": 0}}))
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::QueryTooLarge(_)), "{err:?}");
}

/// A page in `_id` order starts on the caller's thread; one whose
/// documents outgrow what that thread may read (256 KiB) is read again,
/// whole, on a blocking thread: the answer is the full page either way.
#[tokio::test]
async fn embedded_a_page_too_big_for_the_callers_thread_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_document_bytes: 16 * 1024,
        max_find_documents: 1000,
        max_query_bytes: 4 << 20,
        max_examined_documents: 10_000,
    };
    let store = embedded(&dir, limits);
    let ns = ns(&Scope::new("t", "m").unwrap(), "big_pages");
    let docs: Vec<Value> = (0..60)
        .map(|i| json!({"_id": i, "pad": "x".repeat(10_000)}))
        .collect();
    store.insert(&ns, docs, NO_DEADLINE).await.unwrap();
    for limit in [Some(20), Some(60), None] {
        let found = ids(&store, &ns, json!({}), page(None, 5, limit)).await;
        let end = limit.map_or(60, |limit| (5 + limit).min(60));
        let expected: Vec<Value> = (5..end).map(|i| json!(i)).collect();
        assert_eq!(found, expected, "limit {limit:?}");
    }
}
