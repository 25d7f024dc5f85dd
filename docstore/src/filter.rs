//! The MongoDB query language: a filter document parsed into a tree that is
//! checked once, then matched against documents. Every operator that is not
//! supported is refused by name, so nothing is silently ignored.

use regex::Regex;
use serde_json::{Map, Value};

use crate::compare::{bracket, compare, equal};
use crate::document::check_integers;
use crate::error::{DbError, DbResult};
use crate::path::{Found, candidates, check_path, resolve};

/// A parsed filter.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Every filter matches (`$and`, and the fields of one filter document).
    And(Vec<Filter>),
    /// At least one matches.
    Or(Vec<Filter>),
    /// None matches.
    Nor(Vec<Filter>),
    /// The value at `path` satisfies every operator.
    Field {
        /// A dotted path.
        path: String,
        /// The operators, all of which must hold.
        ops: Vec<Op>,
    },
}

/// One operator applied to the value at a path.
#[derive(Debug, Clone)]
pub enum Op {
    /// `$eq`, or a plain value.
    Eq(Value),
    /// `$ne`.
    Ne(Value),
    /// `$gt`.
    Gt(Value),
    /// `$gte`.
    Gte(Value),
    /// `$lt`.
    Lt(Value),
    /// `$lte`.
    Lte(Value),
    /// `$in`.
    In(Vec<Value>),
    /// `$nin`.
    Nin(Vec<Value>),
    /// `$exists`.
    Exists(bool),
    /// `$not`: none of the operators hold.
    Not(Vec<Op>),
    /// `$regex` with its `$options`.
    Regex(Regex),
}

impl Filter {
    /// Parses a filter document such as `{"age": {"$gte": 18}}`.
    pub fn parse(filter: &Value) -> DbResult<Filter> {
        check_integers(filter).map_err(invalid)?;
        parse_filter(filter)
    }

    /// Whether it matches every document (an empty filter).
    pub fn matches_everything(&self) -> bool {
        matches!(self, Filter::And(all) if all.iter().all(Filter::matches_everything))
    }

    /// Whether `doc` matches.
    pub fn matches(&self, doc: &Value) -> bool {
        match self {
            Filter::And(all) => all.iter().all(|f| f.matches(doc)),
            Filter::Or(any) => any.iter().any(|f| f.matches(doc)),
            Filter::Nor(none) => !none.iter().any(|f| f.matches(doc)),
            Filter::Field { path, ops } => {
                let resolved = resolve(doc, path);
                ops.iter().all(|op| op.holds(&resolved))
            }
        }
    }

    /// The one field condition this filter is, if it is no more than that.
    pub fn only_condition(&self) -> Option<(&str, &[Op])> {
        match self {
            Filter::And(all) if all.len() == 1 => all[0].only_condition(),
            Filter::Field { path, ops } => Some((path, ops)),
            _ => None,
        }
    }

    /// The top-level conditions that must all hold: the field conditions an
    /// index may serve.
    pub fn conjuncts(&self) -> Vec<(&str, &[Op])> {
        let mut out = Vec::new();
        self.collect_conjuncts(&mut out);
        out
    }

    fn collect_conjuncts<'a>(&'a self, out: &mut Vec<(&'a str, &'a [Op])>) {
        match self {
            Filter::And(all) => all.iter().for_each(|f| f.collect_conjuncts(out)),
            Filter::Field { path, ops } => out.push((path, ops)),
            Filter::Or(_) | Filter::Nor(_) => {}
        }
    }
}

fn invalid(message: impl Into<String>) -> DbError {
    DbError::InvalidFilter(message.into())
}

fn parse_filter(filter: &Value) -> DbResult<Filter> {
    let Value::Object(fields) = filter else {
        return Err(invalid("a filter must be a JSON object"));
    };
    parse_document(fields)
}

fn parse_document(fields: &Map<String, Value>) -> DbResult<Filter> {
    let mut all = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        let filter = match key.as_str() {
            "$and" => Filter::And(parse_list(key, value)?),
            "$or" => Filter::Or(parse_list(key, value)?),
            "$nor" => Filter::Nor(parse_list(key, value)?),
            op if op.starts_with('$') => {
                return Err(invalid(format!(
                    "unsupported top-level operator {op}; supported: $and, $or, $nor"
                )));
            }
            path => {
                check_path(path).map_err(invalid)?;
                Filter::Field {
                    path: path.to_string(),
                    ops: parse_condition(path, value)?,
                }
            }
        };
        all.push(filter);
    }
    Ok(Filter::And(all))
}

fn parse_list(op: &str, value: &Value) -> DbResult<Vec<Filter>> {
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(parse_filter).collect(),
        _ => Err(invalid(format!(
            "{op} takes a non-empty array of filter objects"
        ))),
    }
}

/// The operators of one field: an object of `$` operators, or a plain value
/// meaning equality.
fn parse_condition(path: &str, value: &Value) -> DbResult<Vec<Op>> {
    match value {
        Value::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => parse_operators(path, ops),
        _ => Ok(vec![Op::Eq(value.clone())]),
    }
}

/// Parses an object whose keys are all operators.
pub(crate) fn parse_operators(path: &str, ops: &Map<String, Value>) -> DbResult<Vec<Op>> {
    let mut parsed = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        let op = match op.as_str() {
            "$eq" => Op::Eq(operand.clone()),
            "$ne" => Op::Ne(operand.clone()),
            "$gt" => Op::Gt(operand.clone()),
            "$gte" => Op::Gte(operand.clone()),
            "$lt" => Op::Lt(operand.clone()),
            "$lte" => Op::Lte(operand.clone()),
            "$in" => Op::In(array_operand(path, "$in", operand)?),
            "$nin" => Op::Nin(array_operand(path, "$nin", operand)?),
            "$exists" => Op::Exists(match operand {
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => return Err(invalid(format!("{path}: $exists takes true or false"))),
            }),
            "$not" => match operand {
                Value::Object(inner)
                    if !inner.is_empty() && inner.keys().all(|k| k.starts_with('$')) =>
                {
                    Op::Not(parse_operators(path, inner)?)
                }
                _ => {
                    return Err(invalid(format!(
                        "{path}: $not takes an object of operators, such as {{\"$gt\": 5}}"
                    )));
                }
            },
            "$regex" => Op::Regex(parse_regex(path, operand, ops.get("$options"))?),
            "$options" if ops.contains_key("$regex") => continue,
            "$options" => return Err(invalid(format!("{path}: $options needs $regex"))),
            other if other.starts_with('$') => {
                return Err(invalid(format!(
                    "{path}: unsupported operator {other}; supported: $eq $ne $gt $gte $lt $lte $in $nin $exists $not $regex"
                )));
            }
            other => {
                return Err(invalid(format!(
                    "{path}: cannot mix the field {other:?} with operators in one condition"
                )));
            }
        };
        parsed.push(op);
    }
    Ok(parsed)
}

fn array_operand(path: &str, op: &str, operand: &Value) -> DbResult<Vec<Value>> {
    match operand {
        Value::Array(items) => Ok(items.clone()),
        _ => Err(invalid(format!("{path}: {op} takes an array"))),
    }
}

fn parse_regex(path: &str, pattern: &Value, options: Option<&Value>) -> DbResult<Regex> {
    let Value::String(pattern) = pattern else {
        return Err(invalid(format!("{path}: $regex takes a string")));
    };
    let options = match options {
        None => "",
        Some(Value::String(options)) => options.as_str(),
        Some(_) => return Err(invalid(format!("{path}: $options takes a string"))),
    };
    let mut builder = regex::RegexBuilder::new(pattern);
    for flag in options.chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            's' => builder.dot_matches_new_line(true),
            'x' => builder.ignore_whitespace(true),
            other => {
                return Err(invalid(format!(
                    "{path}: unsupported $options flag {other:?}; supported: i m s x"
                )));
            }
        };
    }
    builder
        .size_limit(1 << 20)
        .build()
        .map_err(|err| invalid(format!("{path}: $regex is not a valid pattern: {err}")))
}

impl Op {
    /// Whether the operator holds for what its path leads to.
    pub fn holds(&self, resolved: &[Found<'_>]) -> bool {
        match self {
            Op::Eq(operand) => equals(resolved, operand),
            Op::Ne(operand) => !equals(resolved, operand),
            Op::Gt(operand) => ordered(resolved, operand, |o| o.is_gt()),
            Op::Gte(operand) => ordered(resolved, operand, |o| o.is_ge()),
            Op::Lt(operand) => ordered(resolved, operand, |o| o.is_lt()),
            Op::Lte(operand) => ordered(resolved, operand, |o| o.is_le()),
            Op::In(operands) => operands.iter().any(|o| equals(resolved, o)),
            Op::Nin(operands) => !operands.iter().any(|o| equals(resolved, o)),
            Op::Exists(wanted) => resolved.iter().any(Option::is_some) == *wanted,
            Op::Not(ops) => !ops.iter().all(|op| op.holds(resolved)),
            Op::Regex(regex) => candidates(resolved)
                .iter()
                .any(|v| v.as_str().is_some_and(|s| regex.is_match(s))),
        }
    }
}

/// Equality: a missing field equals null; an array matches a value equal to
/// it or to one of its elements.
fn equals(resolved: &[Found<'_>], operand: &Value) -> bool {
    candidates(resolved).iter().any(|v| equal(v, operand))
}

/// Comparison within one type bracket, as MongoDB does: `{"$gt": 5}` never
/// matches a string.
fn ordered(
    resolved: &[Found<'_>],
    operand: &Value,
    wanted: fn(std::cmp::Ordering) -> bool,
) -> bool {
    candidates(resolved)
        .iter()
        .any(|v| bracket(v) == bracket(operand) && wanted(compare(v, operand)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(filter: Value, doc: Value) -> bool {
        Filter::parse(&filter).unwrap().matches(&doc)
    }

    #[test]
    fn comparisons_stay_within_a_type() {
        assert!(matches(json!({"n": {"$gt": 5}}), json!({"n": 6})));
        assert!(!matches(json!({"n": {"$gt": 5}}), json!({"n": "6"})));
        assert!(matches(
            json!({"n": {"$lte": 5, "$gte": 5}}),
            json!({"n": 5.0})
        ));
    }

    #[test]
    fn arrays_match_by_element() {
        assert!(matches(json!({"tags": "a"}), json!({"tags": ["b", "a"]})));
        assert!(matches(
            json!({"tags": ["b", "a"]}),
            json!({"tags": ["b", "a"]})
        ));
        assert!(!matches(
            json!({"tags": {"$nin": ["a"]}}),
            json!({"tags": ["b", "a"]})
        ));
    }

    #[test]
    fn missing_fields_equal_null() {
        assert!(matches(json!({"x": null}), json!({})));
        assert!(matches(json!({"x": {"$ne": 1}}), json!({})));
        assert!(!matches(json!({"x": {"$exists": true}}), json!({})));
    }

    #[test]
    fn a_missing_field_in_an_array_element_equals_null() {
        let doc = json!({"_id": 1, "a": [{"b": 3}, {}]});
        for filter in [
            json!({"a.b": null}),
            json!({"a.b": {"$in": [null, 7]}}),
            json!({"a.b": {"$gte": null}}),
            json!({"a.b": {"$lte": null}}),
            json!({"a.b": {"$not": {"$ne": null}}}),
            json!({"a.b": {"$exists": true}}),
        ] {
            assert!(matches(filter.clone(), doc.clone()), "{filter}");
        }
        for filter in [
            json!({"a.b": {"$ne": null}}),
            json!({"a.b": {"$nin": [null]}}),
            json!({"a.b": {"$not": {"$eq": null}}}),
            json!({"a.b": {"$exists": false}}),
        ] {
            assert!(!matches(filter.clone(), doc.clone()), "{filter}");
        }
        // Elements that are not objects do not stand for a missing field.
        assert!(!matches(json!({"a.b": null}), json!({"a": [1, 2]})));
        assert!(matches(
            json!({"a.b": {"$exists": false}}),
            json!({"a": [{}]})
        ));
    }

    #[test]
    fn integers_beyond_i64_are_refused_in_filters() {
        let filter: Value =
            serde_json::from_str(r#"{"$or": [{"n": 18446744073709551615}]}"#).unwrap();
        let err = Filter::parse(&filter).unwrap_err();
        assert!(matches!(err, DbError::InvalidFilter(_)), "{err:?}");
    }

    #[test]
    fn unsupported_operators_are_named() {
        let err = Filter::parse(&json!({"a": {"$elemMatch": {}}})).unwrap_err();
        assert!(err.message().contains("$elemMatch"), "{err}");
        let err = Filter::parse(&json!({"$where": "1"})).unwrap_err();
        assert!(err.message().contains("$where"), "{err}");
    }
}
