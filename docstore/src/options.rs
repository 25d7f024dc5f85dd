//! How a `find` orders, pages and trims its results.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::compare::compare;
use crate::error::{DbError, DbResult};
use crate::path::{check_path, resolve};

/// The options of a `find`, as the guest passes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindOptions {
    /// `{"field": 1 | -1, ...}`: sort keys in order.
    pub sort: Option<Value>,
    /// How many matches to leave out first.
    pub skip: u64,
    /// How many to return at most.
    pub limit: Option<u64>,
    /// `{"field": 1, ...}` to keep fields, or `{"field": 0, ...}` to drop them.
    pub projection: Option<Value>,
}

impl FindOptions {
    /// The skip and the limit, where a limit of 0 means no limit, as in
    /// MongoDB. Both backends page through this, so they agree.
    pub fn page(&self) -> (u64, Option<u64>) {
        (self.skip, self.limit.filter(|&limit| limit != 0))
    }

    /// The same find, for its first document only.
    pub fn first_only(&self) -> FindOptions {
        FindOptions {
            limit: Some(1),
            ..self.clone()
        }
    }
}

/// An order of reading keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// A checked sort specification.
#[derive(Debug, Clone, Default)]
pub struct Sort {
    keys: Vec<(String, bool)>,
}

impl Sort {
    /// Parses `{"field": 1 | -1}`; keys apply in the order given.
    pub fn parse(sort: Option<&Value>) -> DbResult<Sort> {
        let Some(sort) = sort else {
            return Ok(Sort::default());
        };
        let Value::Object(fields) = sort else {
            return Err(DbError::InvalidFilter(
                "sort must be an object such as {\"field\": 1}".into(),
            ));
        };
        let keys = fields
            .iter()
            .map(|(path, direction)| {
                check_path(path).map_err(DbError::InvalidFilter)?;
                match direction.as_i64() {
                    Some(1) => Ok((path.clone(), true)),
                    Some(-1) => Ok((path.clone(), false)),
                    _ => Err(DbError::InvalidFilter(format!(
                        "sort of {path} must be 1 (ascending) or -1 (descending)"
                    ))),
                }
            })
            .collect::<DbResult<_>>()?;
        Ok(Sort { keys })
    }

    /// Whether there is nothing to sort by.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The field, its direction and the direction of `_id` among equal
    /// values, when the sort is by one field other than `_id`, then
    /// perhaps by `_id`: what reading an index on that field in order gives.
    pub(crate) fn by_field(&self) -> Option<(&str, Direction, Direction)> {
        let direction = |ascending: bool| {
            if ascending {
                Direction::Ascending
            } else {
                Direction::Descending
            }
        };
        match self.keys.as_slice() {
            [(field, ascending)] if field != "_id" => {
                Some((field, direction(*ascending), Direction::Ascending))
            }
            [(field, ascending), (id, ties)] if field != "_id" && id == "_id" => {
                Some((field, direction(*ascending), direction(*ties)))
            }
            _ => None,
        }
    }

    /// The direction, when the sort is by `_id` first: then the order of
    /// the `_id` keys is the sort's, since `_id` is a unique string or
    /// number (later keys never decide between two documents).
    pub(crate) fn by_id(&self) -> Option<Direction> {
        match self.keys.first() {
            Some((path, true)) if path == "_id" => Some(Direction::Ascending),
            Some((path, false)) if path == "_id" => Some(Direction::Descending),
            _ => None,
        }
    }

    /// Orders two documents: an array sorts by its least element ascending
    /// and its greatest descending, a missing field as null, and an empty
    /// array before null and missing fields in either direction.
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for (path, ascending) in &self.keys {
            let (ka, kb) = (sort_key(a, path, *ascending), sort_key(b, path, *ascending));
            let order = ka.cmp(&kb);
            let order = if *ascending { order } else { order.reverse() };
            if order.is_ne() {
                return order;
            }
        }
        Ordering::Equal
    }
}

/// What a document sorts by on one path. MongoDB sorts an empty array by
/// the key `undefined`, which is below null; in a descending sort it then
/// comes last, since it is also the greatest key of an empty array.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey<'a> {
    EmptyArray,
    Value(Ordered<'a>),
}

/// A value in MongoDB's order.
#[derive(Debug)]
struct Ordered<'a>(&'a Value);

impl Ord for Ordered<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self.0, other.0)
    }
}

impl PartialOrd for Ordered<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ordered<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ordered<'_> {}

/// The least (ascending) or greatest (descending) of the keys `doc` has on
/// `path`, the keys an index on `path` would hold.
fn sort_key<'a>(doc: &'a Value, path: &str, ascending: bool) -> SortKey<'a> {
    static NULL: Value = Value::Null;
    let keys = resolve(doc, path)
        .into_iter()
        .flat_map(|found| match found {
            None => vec![SortKey::Value(Ordered(&NULL))],
            Some(Value::Array(items)) if items.is_empty() => vec![SortKey::EmptyArray],
            Some(Value::Array(items)) => items.iter().map(|v| SortKey::Value(Ordered(v))).collect(),
            Some(other) => vec![SortKey::Value(Ordered(other))],
        });
    let key = if ascending { keys.min() } else { keys.max() };
    key.unwrap_or(SortKey::Value(Ordered(&NULL)))
}

/// A checked projection.
#[derive(Debug, Clone)]
pub struct Projection {
    /// Whether `paths` are kept (else dropped).
    include: bool,
    /// The paths kept or dropped, `_id` among them as the projection says.
    paths: Vec<String>,
}

impl Projection {
    /// Parses `{"a": 1, "b.c": 1}` (keep these, and `_id` unless it is 0) or
    /// `{"a": 0}` (drop these). The two may not be mixed. `{"_id": 1}` alone
    /// keeps only `_id`, and `{"_id": 0}` alone drops only `_id`.
    pub fn parse(projection: Option<&Value>) -> DbResult<Option<Projection>> {
        let Some(projection) = projection else {
            return Ok(None);
        };
        let Value::Object(fields) = projection else {
            return Err(DbError::InvalidFilter(
                "projection must be an object such as {\"field\": 1}".into(),
            ));
        };
        let mut include = None;
        let mut keep_id = None;
        let mut paths = Vec::new();
        for (path, flag) in fields {
            check_path(path).map_err(DbError::InvalidFilter)?;
            let keep = projection_flag(path, flag)?;
            if path == "_id" {
                keep_id = Some(keep);
                continue;
            }
            if include.is_some_and(|include| include != keep) {
                return Err(DbError::InvalidFilter(
                    "a projection either keeps fields (1) or drops them (0), not both".into(),
                ));
            }
            include = Some(keep);
            paths.push(path.clone());
        }
        // Only `_id` named: its flag says which kind of projection this is.
        let include = include.or(keep_id).unwrap_or(false);
        if keep_id.unwrap_or(true) == include {
            paths.push("_id".into());
        }
        Ok(Some(Projection { include, paths }))
    }

    /// The projected copy of `doc`, its fields in their stored order.
    pub fn apply(&self, doc: &Value) -> Value {
        if !self.include {
            let mut rest = doc.clone();
            for path in &self.paths {
                remove_path(&mut rest, path);
            }
            return rest;
        }
        let paths: Vec<&str> = self.paths.iter().map(String::as_str).collect();
        keep_within(doc, &paths).unwrap_or_else(|| Value::Object(Map::new()))
    }
}

/// Whether a projection's flag keeps its field (1 or true) or drops it.
fn projection_flag(path: &str, flag: &Value) -> DbResult<bool> {
    match flag {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(false),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(true),
        _ => Err(DbError::InvalidFilter(format!(
            "projection of {path} must be 1 or 0; computed projections are not supported"
        ))),
    }
}

/// The part of `value` the `paths` (relative to it) name: an object keeps
/// those fields, an array those parts of its object elements; a scalar has
/// none.
fn keep_within(value: &Value, paths: &[&str]) -> Option<Value> {
    match value {
        Value::Object(fields) => Some(Value::Object(keep_fields(fields, paths))),
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter(|item| item.is_object())
                .filter_map(|item| keep_within(item, paths))
                .collect(),
        )),
        _ => None,
    }
}

/// The fields `paths` name, whole or in part, in the order `fields` has.
fn keep_fields(fields: &Map<String, Value>, paths: &[&str]) -> Map<String, Value> {
    let mut kept = Map::new();
    for (name, value) in fields {
        if paths.contains(&name.as_str()) {
            kept.insert(name.clone(), value.clone());
            continue;
        }
        let inner: Vec<&str> = paths
            .iter()
            .filter_map(|path| path.strip_prefix(name.as_str())?.strip_prefix('.'))
            .collect();
        if inner.is_empty() {
            continue;
        }
        if let Some(part) = keep_within(value, &inner) {
            kept.insert(name.clone(), part);
        }
    }
    kept
}

/// Drops `path` from `doc`, keeping the order of the fields that stay.
fn remove_path(doc: &mut Value, path: &str) {
    match (doc, path.split_once('.')) {
        (Value::Object(fields), None) => {
            fields.shift_remove(path);
        }
        (Value::Object(fields), Some((head, rest))) => {
            if let Some(child) = fields.get_mut(head) {
                remove_path(child, rest);
            }
        }
        (Value::Array(items), _) => items.iter_mut().for_each(|item| remove_path(item, path)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projections_keep_or_drop_nested_fields() {
        let doc = json!({"_id": "1", "a": {"b": 1, "c": 2}, "d": 3});
        let keep = Projection::parse(Some(&json!({"a.b": 1})))
            .unwrap()
            .unwrap();
        assert_eq!(keep.apply(&doc), json!({"_id": "1", "a": {"b": 1}}));
        let drop = Projection::parse(Some(&json!({"a": 0, "_id": 0})))
            .unwrap()
            .unwrap();
        assert_eq!(drop.apply(&doc), json!({"d": 3}));
        assert!(Projection::parse(Some(&json!({"a": 1, "d": 0}))).is_err());
    }

    /// The projected document's fields, in order.
    fn field_order(doc: &Value) -> Vec<&str> {
        doc.as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn projections_keep_the_stored_field_order() {
        let doc = json!({"_id": 1, "z": 1, "a": 2, "m": {"y": 1, "b": 2, "c": 3}, "k": 4});
        let keep = Projection::parse(Some(&json!({"k": 1, "z": 1})))
            .unwrap()
            .unwrap();
        assert_eq!(field_order(&keep.apply(&doc)), ["_id", "z", "k"]);
        let drop = Projection::parse(Some(&json!({"z": 0, "m.y": 0})))
            .unwrap()
            .unwrap();
        let dropped = drop.apply(&doc);
        assert_eq!(field_order(&dropped), ["_id", "a", "m", "k"]);
        assert_eq!(field_order(&dropped["m"]), ["b", "c"]);
    }

    #[test]
    fn a_projection_of_only_id_keeps_only_id() {
        let doc = json!({"_id": 1, "a": 2});
        let only_id = Projection::parse(Some(&json!({"_id": 1})))
            .unwrap()
            .unwrap();
        assert_eq!(only_id.apply(&doc), json!({"_id": 1}));
        let no_id = Projection::parse(Some(&json!({"_id": 0})))
            .unwrap()
            .unwrap();
        assert_eq!(no_id.apply(&doc), json!({"a": 2}));
        let nothing = Projection::parse(Some(&json!({}))).unwrap().unwrap();
        assert_eq!(nothing.apply(&doc), doc);
    }

    #[test]
    fn an_empty_array_sorts_before_null_and_missing() {
        let mut docs = [
            json!({"_id": 1, "a": null}),
            json!({"_id": 2}),
            json!({"_id": 3, "a": []}),
            json!({"_id": 4, "a": 0}),
        ];
        let ascending = Sort::parse(Some(&json!({"a": 1}))).unwrap();
        docs.sort_by(|x, y| ascending.compare(x, y));
        let ids: Vec<&Value> = docs.iter().map(|d| &d["_id"]).collect();
        assert_eq!(ids, [&json!(3), &json!(1), &json!(2), &json!(4)]);
        let descending = Sort::parse(Some(&json!({"a": -1}))).unwrap();
        docs.sort_by(|x, y| descending.compare(x, y));
        let ids: Vec<&Value> = docs.iter().map(|d| &d["_id"]).collect();
        assert_eq!(ids, [&json!(4), &json!(1), &json!(2), &json!(3)]);
    }

    #[test]
    fn limit_zero_means_no_limit() {
        let zero = FindOptions {
            limit: Some(0),
            skip: 2,
            ..FindOptions::default()
        };
        assert_eq!(zero.page(), (2, None));
        let three = FindOptions {
            limit: Some(3),
            ..FindOptions::default()
        };
        assert_eq!(three.page(), (0, Some(3)));
    }

    #[test]
    fn sorts_on_several_keys() {
        let sort = Sort::parse(Some(&json!({"a": 1, "b": -1}))).unwrap();
        let mut docs = vec![
            json!({"a": 2, "b": 1}),
            json!({"a": 1, "b": 1}),
            json!({"a": 1, "b": 2}),
        ];
        docs.sort_by(|x, y| sort.compare(x, y));
        assert_eq!(
            docs,
            vec![
                json!({"a": 1, "b": 2}),
                json!({"a": 1, "b": 1}),
                json!({"a": 2, "b": 1})
            ]
        );
    }
}
