//! Which keys a query reads: the `_id` key space, an index's, or every
//! document. An index is used for an equality, an `$in` or a range on the
//! field it indexes; the filter is checked on every document read, so a plan
//! only has to find a superset of the matches.

use std::ops::Bound;

use serde_json::Value;

use super::catalog::IndexSpec;
use super::keys::{bracket_end, bracket_start, encode};
use crate::compare::{bracket, compare};
use crate::filter::{Filter, Op};

/// A range of key bytes.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// How a query reaches its candidate documents.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// Read every document.
    Scan,
    /// Read the documents whose `_id` keys fall in these ranges.
    Ids(Vec<KeyRange>),
    /// Read the documents an index lists under these key ranges.
    Index {
        /// The indexed field.
        field: String,
        /// The key ranges to read.
        ranges: Vec<KeyRange>,
    },
}

/// The cheapest access for `filter` given the collection's indexes: an
/// equality or `$in` first, then a range, else a scan.
pub fn plan(filter: &Filter, indexes: &[IndexSpec]) -> Access {
    let conjuncts = filter.conjuncts();
    let indexed = |path: &str| -> Option<Option<&IndexSpec>> {
        if path == "_id" {
            return Some(None);
        }
        indexes.iter().find(|i| i.field == path).map(Some)
    };
    let access = |index: Option<&IndexSpec>, ranges| match index {
        None => Access::Ids(ranges),
        Some(spec) => Access::Index {
            field: spec.field.clone(),
            ranges,
        },
    };
    for (path, ops) in &conjuncts {
        if let (Some(index), Some(ranges)) = (indexed(path), points(ops)) {
            return access(index, ranges);
        }
    }
    for (path, ops) in &conjuncts {
        if let Some(index) = indexed(path) {
            let multikey = index.is_some_and(|i| i.multikey);
            if let Some(range) = range(ops, multikey) {
                return access(index, vec![range]);
            }
        }
    }
    Access::Scan
}

/// Whether the keys `access` reads are exactly the matches of `filter`, so
/// they can be counted without reading a document: the filter is empty, or
/// one equality or `$in` of scalars on the very field read. (An index key of a
/// scalar equals exactly the values MongoDB calls equal to it, array
/// elements included; a range's bounds are inclusive here, so it is not
/// exact.)
pub fn is_exact(filter: &Filter, access: &Access) -> bool {
    if filter.matches_everything() {
        return true;
    }
    let Some((path, [op])) = filter.only_condition() else {
        return false;
    };
    let read = match access {
        Access::Ids(_) => "_id",
        Access::Index { field, .. } => field,
        Access::Scan => return false,
    };
    path == read && points(std::slice::from_ref(op)).is_some()
}

/// What of `filter` is left to check on the documents `access` reads:
/// nothing when they are exactly its matches.
pub fn to_check<'f>(filter: &'f Filter, access: &Access) -> Option<&'f Filter> {
    (!is_exact(filter, access)).then_some(filter)
}

fn keyable(value: &Value) -> bool {
    matches!(value, Value::Number(_) | Value::String(_) | Value::Bool(_))
}

fn point(value: &Value) -> KeyRange {
    let key = encode(value);
    (Bound::Included(key.clone()), Bound::Included(key))
}

/// Key ranges for an equality or an `$in` of plain values.
fn points(ops: &[Op]) -> Option<Vec<KeyRange>> {
    ops.iter().find_map(|op| match op {
        Op::Eq(value) if keyable(value) => Some(vec![point(value)]),
        Op::In(values) if !values.is_empty() && values.iter().all(keyable) => {
            // In key order, each once: a repeated value must not read its
            // documents twice, and an ordered read walks them in order.
            let mut keys: Vec<Vec<u8>> = values.iter().map(encode).collect();
            keys.sort();
            keys.dedup();
            Some(
                keys.into_iter()
                    .map(|key| (Bound::Included(key.clone()), Bound::Included(key)))
                    .collect(),
            )
        }
        _ => None,
    })
}

/// One key range for the comparisons on a field, within the bracket of
/// their operand. On a multikey index, different elements may meet the two
/// bounds, so only the first comparison bounds the scan.
fn range(ops: &[Op], multikey: bool) -> Option<KeyRange> {
    let mut lower: Option<&Value> = None;
    let mut upper: Option<&Value> = None;
    let mut kind: Option<u8> = None;
    for op in ops {
        let (operand, is_lower) = match op {
            Op::Gt(v) | Op::Gte(v) => (v, true),
            Op::Lt(v) | Op::Lte(v) => (v, false),
            _ => continue,
        };
        if !matches!(operand, Value::Number(_) | Value::String(_)) {
            continue;
        }
        if kind.is_some_and(|k| k != bracket(operand)) || (multikey && kind.is_some()) {
            continue;
        }
        kind = Some(bracket(operand));
        let bound = if is_lower { &mut lower } else { &mut upper };
        let tighter = match bound {
            None => true,
            Some(current) if is_lower => compare(operand, current).is_gt(),
            Some(current) => compare(operand, current).is_lt(),
        };
        if tighter {
            *bound = Some(operand);
        }
    }
    let sample = lower.or(upper)?;
    Some((
        Bound::Included(lower.map(encode).unwrap_or_else(|| bracket_start(sample))),
        match upper {
            Some(upper) => Bound::Included(encode(upper)),
            None => Bound::Excluded(bracket_end(sample)),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn index(field: &str, multikey: bool) -> IndexSpec {
        IndexSpec {
            field: field.into(),
            unique: false,
            multikey,
            sortable: !multikey,
        }
    }

    fn plan_of(filter: Value, indexes: &[IndexSpec]) -> Access {
        plan(&Filter::parse(&filter).unwrap(), indexes)
    }

    #[test]
    fn equality_on_an_index_is_a_point() {
        let access = plan_of(json!({"x": 1, "email": "a@b"}), &[index("email", false)]);
        assert_eq!(
            access,
            Access::Index {
                field: "email".into(),
                ranges: vec![point(&json!("a@b"))]
            }
        );
        assert_eq!(
            plan_of(json!({"_id": "k"}), &[]),
            Access::Ids(vec![point(&json!("k"))])
        );
        assert_eq!(
            plan_of(json!({"x": 1}), &[index("email", false)]),
            Access::Scan
        );
        assert_eq!(
            plan_of(json!({"$or": [{"email": "a"}]}), &[index("email", false)]),
            Access::Scan
        );
    }

    #[test]
    fn ranges_are_bounded_by_type() {
        let access = plan_of(json!({"n": {"$gt": 3, "$lt": 9}}), &[index("n", false)]);
        let Access::Index { ranges, .. } = access else {
            panic!("{access:?}")
        };
        assert_eq!(
            ranges[0],
            (
                Bound::Included(encode(&json!(3))),
                Bound::Included(encode(&json!(9)))
            )
        );
        let access = plan_of(json!({"n": {"$gt": 3, "$lt": 9}}), &[index("n", true)]);
        let Access::Index { ranges, .. } = access else {
            panic!("{access:?}")
        };
        assert_eq!(
            ranges[0],
            (
                Bound::Included(encode(&json!(3))),
                Bound::Excluded(vec![11])
            )
        );
    }
}
