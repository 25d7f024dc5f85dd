//! Conformance of the document database's filters: a fixed corpus of
//! awkward documents and a list of filters, each answered (by `find` with
//! and without sorts, skip and limit, and by `count`) on an unindexed
//! collection and again on collections indexed on each field the filter
//! names, the index made before and after the documents. The answers must
//! be identical, and equal MongoDB's where the case states it.
//!
//! Runs as `embedded::<check>` always and as `mongodb::<check>` when the run
//! asks for ignored tests with `MODHOST_TEST_MONGODB_URI` set.

mod docstore_backends;

use std::collections::BTreeSet;

use modhost_docstore::{DocumentStore, FindOptions, Namespace, Scope};
use serde_json::{Value, json};

use docstore_backends::NO_DEADLINE;

on_every_backend!(every_filter_answers_alike_with_and_without_indexes);

/// 2^53, where `f64` stops holding every integer.
const TWO_53: i64 = 1 << 53;

/// The documents every collection holds: missing fields, nulls, empty
/// arrays, arrays of scalars and of objects (some lacking the field),
/// nested arrays, embedded documents in different field orders and types,
/// numbers around 2^53, strings and booleans.
fn corpus() -> Vec<Value> {
    vec![
        json!({"_id": 1}),
        json!({"_id": 2, "a": null}),
        json!({"_id": 3, "a": []}),
        json!({"_id": 4, "a": [1, 5]}),
        json!({"_id": 5, "a": 3}),
        json!({"_id": 6, "a": 3.0}),
        json!({"_id": 7, "a": "3"}),
        json!({"_id": 8, "a": true}),
        json!({"_id": 9, "a": [[3]]}),
        json!({"_id": 10, "objs": [{"k": 1}, {"k": 5}]}),
        json!({"_id": 11, "objs": [{"k": 3}, {}]}),
        json!({"_id": 12, "objs": [{"k": null}]}),
        json!({"_id": 13, "objs": []}),
        json!({"_id": 14, "objs": [1, 2]}),
        json!({"_id": 15, "objs": {"k": 3}}),
        json!({"_id": 16, "o": {"x": 1, "y": "a"}}),
        json!({"_id": 17, "o": {"y": "a", "x": 1}}),
        json!({"_id": 18, "o": {"x": "a"}}),
        json!({"_id": 19, "n": TWO_53}),
        json!({"_id": 20, "n": TWO_53 + 1}),
        json!({"_id": 21, "n": TWO_53 as f64}),
        json!({"_id": 22, "n": -(TWO_53 + 1)}),
        json!({"_id": 23, "n": 0.5}),
        json!({"_id": 24, "s": "apple", "t": ["x", "y"]}),
        json!({"_id": 25, "s": "Banana", "t": []}),
        json!({"_id": 26, "nested": {"deep": {"v": 1}}}),
        json!({"_id": 27, "nested": [{"deep": [{"v": 2}, {"w": 1}]}]}),
        json!({"_id": 28, "a": -0.0}),
    ]
}

/// The fields indexed, one collection each (made before and after the
/// documents are stored).
const INDEXED: [&str; 11] = [
    "a",
    "objs",
    "objs.k",
    "objs.0.k",
    "objs.1",
    "o",
    "o.x",
    "n",
    "s",
    "t",
    "nested.deep.v",
];

/// MongoDB's answer to a case, as `_id`s.
enum Expect {
    /// Exactly these.
    Only(&'static [i64]),
    /// Every document but these.
    AllBut(&'static [i64]),
}

impl Expect {
    /// The expected `_id`s in ascending order.
    fn ids(&self) -> Vec<Value> {
        let all = 1..=corpus().len() as i64;
        let ids: Vec<i64> = match self {
            Expect::Only(ids) => all.filter(|id| ids.contains(id)).collect(),
            Expect::AllBut(ids) => all.filter(|id| !ids.contains(id)).collect(),
        };
        ids.into_iter().map(Value::from).collect()
    }
}

/// Each filter with MongoDB's answer over the corpus.
fn cases() -> Vec<(Value, Expect)> {
    use Expect::{AllBut, Only};
    /// The documents holding `a`, which a null test on `a` leaves out.
    const HOLD_A: &[i64] = &[3, 4, 5, 6, 7, 8, 9, 28];
    vec![
        // Scalars, arrays and types on `a`.
        (json!({"a": 3}), Only(&[5, 6])),
        (json!({"a": 0}), Only(&[28])),
        (json!({"a": true}), Only(&[8])),
        (json!({"a": []}), Only(&[3])),
        (json!({"a": [3]}), Only(&[9])),
        (json!({"a": null}), AllBut(HOLD_A)),
        (json!({"a": {"$gte": null}}), AllBut(HOLD_A)),
        (json!({"a": {"$ne": null}}), Only(HOLD_A)),
        // Different elements of [1, 5] meet the two bounds.
        (json!({"a": {"$gt": 2, "$lt": 4}}), Only(&[4, 5, 6])),
        (json!({"a": {"$gte": 3}}), Only(&[4, 5, 6])),
        (json!({"a": {"$lt": 3}}), Only(&[4, 28])),
        (json!({"a": {"$lte": "3"}}), Only(&[7])),
        (
            json!({"a": {"$in": [null, 3]}}),
            AllBut(&[3, 4, 7, 8, 9, 28]),
        ),
        (json!({"a": {"$nin": [3, "3"]}}), AllBut(&[5, 6, 7])),
        (
            json!({"a": {"$exists": true}}),
            Only(&[2, 3, 4, 5, 6, 7, 8, 9, 28]),
        ),
        (
            json!({"a": {"$exists": false}}),
            AllBut(&[2, 3, 4, 5, 6, 7, 8, 9, 28]),
        ),
        (json!({"a": {"$not": {"$gt": 2}}}), AllBut(&[4, 5, 6])),
        (json!({"a": {"$regex": "^3"}}), Only(&[7])),
        // Arrays of objects, some lacking the field.
        (json!({"objs.k": 5}), Only(&[10])),
        (json!({"objs.k": {"$gt": 2, "$lt": 4}}), Only(&[10, 11, 15])),
        (json!({"objs.k": null}), AllBut(&[10, 13, 14, 15])),
        (json!({"objs.k": {"$lte": null}}), AllBut(&[10, 13, 14, 15])),
        (json!({"objs.k": {"$ne": null}}), Only(&[10, 13, 14, 15])),
        (json!({"objs.k": {"$in": [null, 5]}}), AllBut(&[13, 14, 15])),
        (json!({"objs.k": {"$nin": [null]}}), Only(&[10, 13, 14, 15])),
        (
            json!({"objs.k": {"$not": {"$eq": null}}}),
            Only(&[10, 13, 14, 15]),
        ),
        (
            json!({"objs.k": {"$exists": false}}),
            AllBut(&[10, 11, 12, 15]),
        ),
        (json!({"objs.0.k": 1}), Only(&[10])),
        (json!({"objs.1": {}}), Only(&[11])),
        (json!({"objs": []}), Only(&[13])),
        (json!({"objs": 2}), Only(&[14])),
        // Embedded documents: field order, then type before name.
        (json!({"o": {"x": 1, "y": "a"}}), Only(&[16])),
        (json!({"o": {"y": "a", "x": 1}}), Only(&[17])),
        (json!({"o.x": 1}), Only(&[16, 17])),
        (json!({"o": {"$gt": {"x": 1}}}), Only(&[16, 17, 18])),
        (json!({"o": {"$lt": {"x": "a"}}}), Only(&[16])),
        // Integers and doubles around 2^53.
        (json!({"n": TWO_53}), Only(&[19, 21])),
        (json!({"n": TWO_53 as f64}), Only(&[19, 21])),
        (json!({"n": TWO_53 + 1}), Only(&[20])),
        (json!({"n": {"$gt": TWO_53 as f64}}), Only(&[20])),
        (
            json!({"n": {"$gte": TWO_53, "$lt": TWO_53 + 1}}),
            Only(&[19, 21]),
        ),
        (json!({"n": {"$lt": 0}}), Only(&[22])),
        (json!({"n": {"$gt": 0, "$lt": 1}}), Only(&[23])),
        (json!({"n": {"$in": [TWO_53 + 1, 0.5]}}), Only(&[20, 23])),
        // Strings and arrays of strings.
        (json!({"s": {"$gt": "B"}}), Only(&[24, 25])),
        (json!({"s": {"$gte": "a"}}), Only(&[24])),
        (json!({"s": {"$regex": "^b", "$options": "i"}}), Only(&[25])),
        (json!({"t": "x"}), Only(&[24])),
        (json!({"t": []}), Only(&[25])),
        (json!({"t": {"$nin": ["x"]}}), AllBut(&[24])),
        (json!({"t": {"$exists": true, "$ne": []}}), Only(&[24])),
        // Nested arrays of objects.
        (json!({"nested.deep.v": 1}), Only(&[26])),
        (json!({"nested.deep.v": 2}), Only(&[27])),
        (json!({"nested.deep.v": null}), AllBut(&[26])),
        (json!({"nested.deep.v": {"$exists": true}}), Only(&[26, 27])),
        // Combinations and _id.
        (json!({"$or": [{"a": 3}, {"objs.k": 5}]}), Only(&[5, 6, 10])),
        (
            json!({"$and": [{"n": {"$exists": true}}, {"n": {"$ne": TWO_53}}]}),
            Only(&[20, 22, 23]),
        ),
        (
            json!({"$nor": [{"a": {"$exists": true}}, {"objs": {"$exists": true}}]}),
            AllBut(&[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 28]),
        ),
        (json!({"a": {"$gt": 2}, "objs.k": null}), Only(&[4, 5, 6])),
        (json!({"_id": {"$in": [1, 20, 99]}}), Only(&[1, 20])),
        (json!({"_id": {"$in": [20, 1, 20]}}), Only(&[1, 20])),
        (json!({"a": {"$in": [3, 3, true]}}), Only(&[5, 6, 8])),
        (json!({"_id": {"$gte": 25}}), Only(&[25, 26, 27, 28])),
    ]
}

/// The field paths `filter` names, at any depth of `$and`, `$or`, `$nor`.
fn paths_of(filter: &Value, paths: &mut BTreeSet<String>) {
    match filter {
        Value::Object(fields) => {
            for (key, value) in fields {
                if key.starts_with('$') {
                    paths_of(value, paths);
                } else {
                    paths.insert(key.clone());
                }
            }
        }
        Value::Array(filters) => filters.iter().for_each(|f| paths_of(f, paths)),
        _ => {}
    }
}

/// `find`'s `_id`s in the order found.
async fn found_ids(
    store: &DocumentStore,
    ns: &Namespace,
    filter: &Value,
    options: FindOptions,
) -> Vec<Value> {
    store
        .find(ns, filter, &options, NO_DEADLINE)
        .await
        .unwrap_or_else(|err| panic!("{filter}: {err}"))
        .into_iter()
        .map(|doc| doc["_id"].clone())
        .collect()
}

/// Everything `filter` answers on `ns`: its matches unsorted (as a set),
/// sorted by `_id`, by `field` each way, a page of those, with limit 0, and
/// the count. The first is the matches by `_id`.
async fn answers(
    store: &DocumentStore,
    ns: &Namespace,
    filter: &Value,
    field: &str,
) -> Vec<Vec<Value>> {
    let sorted = |sort: Value, skip: u64, limit: Option<u64>| FindOptions {
        sort: Some(sort),
        skip,
        limit,
        projection: None,
    };
    let by_field = json!({ field: 1, "_id": 1 });
    let mut unsorted = found_ids(store, ns, filter, FindOptions::default()).await;
    unsorted.sort_by_key(|id| id.as_i64());
    let mut all = vec![
        found_ids(store, ns, filter, sorted(json!({"_id": 1}), 0, None)).await,
        unsorted,
        found_ids(store, ns, filter, sorted(by_field.clone(), 0, None)).await,
        found_ids(
            store,
            ns,
            filter,
            sorted(json!({ field: -1, "_id": 1 }), 0, None),
        )
        .await,
        found_ids(store, ns, filter, sorted(by_field, 1, Some(2))).await,
        found_ids(store, ns, filter, sorted(json!({"_id": -1}), 0, Some(0))).await,
    ];
    let count = store.count(ns, filter, NO_DEADLINE).await.unwrap();
    all.push(vec![json!(count)]);
    all
}

/// A collection holding the corpus, with an index on `field` made before
/// (`early`) or after the documents are stored.
async fn collection(
    store: &DocumentStore,
    scope: &Scope,
    name: &str,
    index: Option<(&str, bool)>,
) -> Namespace {
    let ns = scope.collection(name).unwrap();
    if let Some((field, true)) = index {
        store
            .create_index(&ns, field, false, NO_DEADLINE)
            .await
            .unwrap();
    }
    store.insert(&ns, corpus(), NO_DEADLINE).await.unwrap();
    if let Some((field, false)) = index {
        store
            .create_index(&ns, field, false, NO_DEADLINE)
            .await
            .unwrap();
    }
    ns
}

async fn every_filter_answers_alike_with_and_without_indexes(store: DocumentStore, scope: Scope) {
    let plain = collection(&store, &scope, "plain", None).await;
    let mut indexed = Vec::new();
    for (number, field) in INDEXED.iter().enumerate() {
        for early in [true, false] {
            let name = format!("indexed{number}{}", if early { "early" } else { "late" });
            let ns = collection(&store, &scope, &name, Some((field, early))).await;
            indexed.push((*field, early, ns));
        }
    }
    for (filter, expect) in cases() {
        let mut paths = BTreeSet::new();
        paths_of(&filter, &mut paths);
        let field = paths.first().expect("every case names a field").clone();
        let reference = answers(&store, &plain, &filter, &field).await;
        assert_eq!(reference[0], expect.ids(), "{filter} unindexed");
        for (index, early, ns) in indexed.iter().filter(|(f, ..)| paths.contains(*f)) {
            let when = if *early { "before" } else { "after" };
            assert_eq!(
                answers(&store, ns, &filter, &field).await,
                reference,
                "{filter} with an index on {index} made {when} the documents"
            );
        }
    }
}
