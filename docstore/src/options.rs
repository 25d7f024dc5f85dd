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

    /// Orders two documents: an array sorts by its least element ascending
    /// and its greatest descending, a missing field as null.
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for (path, ascending) in &self.keys {
            let (ka, kb) = (sort_key(a, path, *ascending), sort_key(b, path, *ascending));
            let order = compare(&ka, &kb);
            let order = if *ascending { order } else { order.reverse() };
            if order.is_ne() {
                return order;
            }
        }
        Ordering::Equal
    }
}

fn sort_key(doc: &Value, path: &str, ascending: bool) -> Value {
    let values = resolve(doc, path)
        .into_iter()
        .flat_map(|value| match value {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        });
    let key = if ascending {
        values.min_by(|a, b| compare(a, b))
    } else {
        values.max_by(|a, b| compare(a, b))
    };
    key.cloned().unwrap_or(Value::Null)
}

/// A checked projection.
#[derive(Debug, Clone)]
pub struct Projection {
    include: bool,
    fields: Vec<String>,
    keep_id: bool,
}

impl Projection {
    /// Parses `{"a": 1, "b.c": 1}` (keep these, and `_id` unless it is 0) or
    /// `{"a": 0}` (drop these). The two may not be mixed.
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
        let mut keep_id = true;
        let mut paths = Vec::new();
        for (path, flag) in fields {
            check_path(path).map_err(DbError::InvalidFilter)?;
            let keep = match flag {
                Value::Bool(b) => *b,
                Value::Number(n) if n.as_f64() == Some(0.0) => false,
                Value::Number(n) if n.as_f64() == Some(1.0) => true,
                _ => {
                    return Err(DbError::InvalidFilter(format!(
                        "projection of {path} must be 1 or 0; computed projections are not supported"
                    )));
                }
            };
            if path == "_id" {
                keep_id = keep;
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
        Ok(Some(Projection {
            include: include.unwrap_or(false),
            fields: paths,
            keep_id,
        }))
    }

    /// The projected copy of `doc`.
    pub fn apply(&self, doc: &Value) -> Value {
        let mut out = if self.include {
            let mut kept = Value::Object(Map::new());
            for path in &self.fields {
                copy_path(doc, &mut kept, path);
            }
            kept
        } else {
            let mut rest = doc.clone();
            for path in &self.fields {
                remove_path(&mut rest, path);
            }
            rest
        };
        if let Value::Object(fields) = &mut out {
            match (self.keep_id, doc.get("_id")) {
                (true, Some(id)) => {
                    fields.insert("_id".into(), id.clone());
                }
                _ => {
                    fields.remove("_id");
                }
            }
        }
        out
    }
}

fn copy_path(from: &Value, to: &mut Value, path: &str) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let (Value::Object(source), Value::Object(target)) = (from, &mut *to) else {
        return;
    };
    let Some(value) = source.get(head) else {
        return;
    };
    match (rest, value) {
        (None, value) => {
            target.insert(head.to_string(), value.clone());
        }
        (Some(rest), Value::Object(_)) => {
            let child = target
                .entry(head)
                .or_insert_with(|| Value::Object(Map::new()));
            copy_path(value, child, rest);
        }
        (Some(rest), Value::Array(items)) => {
            let projected = items
                .iter()
                .filter(|item| item.is_object())
                .map(|item| {
                    let mut kept = Value::Object(Map::new());
                    copy_path(item, &mut kept, rest);
                    kept
                })
                .collect();
            target.insert(head.to_string(), Value::Array(projected));
        }
        (Some(_), _) => {}
    }
}

fn remove_path(doc: &mut Value, path: &str) {
    match (doc, path.split_once('.')) {
        (Value::Object(fields), None) => {
            fields.remove(path);
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
