//! Dotted paths into documents, resolved the way MongoDB's matcher does: a
//! segment names a field of an object, an array index, or the field of
//! every object in an array.

use std::collections::HashSet;

use serde_json::{Map, Value};

/// What a path leads to at one place in a document: a value, or `None` where
/// the path ends in a missing field (which MongoDB reads as null).
pub type Found<'a> = Option<&'a Value>;

/// The null a missing field stands for.
static NULL: Value = Value::Null;

/// The places `path` leads to in `doc`. A missing field is `None`: at the
/// top level, and in each object element of an array that lacks it, so
/// `{"a.b": null}` matches `{"a": [{"b": 3}, {}]}` as in MongoDB. Elements
/// that are not objects contribute nothing to a path that goes on past them.
pub fn resolve<'a>(doc: &'a Value, path: &str) -> Vec<Found<'a>> {
    let segments: Vec<&str> = path.split('.').collect();
    walk(doc, &segments).found
}

/// Walks `segments` through `doc`.
fn walk<'p, 'a>(doc: &'a Value, segments: &'p [&'p str]) -> Walk<'p, 'a> {
    let mut walk = Walk {
        // Only a numeric segment can lead to one place twice.
        revisits: segments.iter().any(|s| array_index(s).is_some()),
        segments,
        visited: HashSet::new(),
        found: Vec::new(),
        steps: 0,
    };
    match doc {
        Value::Object(fields) => walk.object(doc, fields, 0),
        // A path cannot enter a scalar.
        _ => walk.found.push(None),
    }
    walk
}

/// One resolution of a path. Each (value, segment position) pair is walked
/// once: an array with a numeric segment is both indexed and searched
/// through its object elements, so nested such arrays would otherwise
/// double the work at every level.
struct Walk<'p, 'a> {
    segments: &'p [&'p str],
    /// Whether the path can reach a place twice, so visits are recorded.
    revisits: bool,
    visited: HashSet<(*const Value, usize)>,
    found: Vec<Found<'a>>,
    /// Objects and arrays entered, which bounds the work done.
    steps: usize,
}

impl<'a> Walk<'_, 'a> {
    /// Whether `value` at segment `position` is walked for the first time.
    fn first_visit(&mut self, value: &Value, position: usize) -> bool {
        self.steps += 1;
        !self.revisits || self.visited.insert((value as *const Value, position))
    }

    /// Follows the fields of `object` (which is `value`) from `position`,
    /// until the path ends, goes missing, or meets an array.
    fn object(&mut self, value: &'a Value, object: &'a Map<String, Value>, position: usize) {
        if !self.first_visit(value, position) {
            return;
        }
        let mut fields = object;
        for (at, segment) in self.segments.iter().enumerate().skip(position) {
            let last = at + 1 == self.segments.len();
            match fields.get(*segment) {
                Some(child) if last => return self.found.push(Some(child)),
                Some(Value::Object(inner)) => fields = inner,
                Some(array @ Value::Array(items)) => return self.array(array, items, at + 1),
                // Missing, or a scalar the rest of the path cannot enter.
                _ => return self.found.push(None),
            }
        }
    }

    /// Walks the elements of `items` (which is `value`) with the path going
    /// on at `position`.
    fn array(&mut self, value: &'a Value, items: &'a [Value], position: usize) {
        if position == self.segments.len() {
            return self.found.push(Some(value));
        }
        if !self.first_visit(value, position) {
            return;
        }
        let wanted = array_index(self.segments[position]);
        let last = position + 1 == self.segments.len();
        for (index, item) in items.iter().enumerate() {
            if let Value::Object(fields) = item {
                self.object(item, fields, position);
            }
            if wanted != Some(index) {
                continue;
            }
            match item {
                _ if last => self.found.push(Some(item)),
                Value::Object(fields) => self.object(item, fields, position + 1),
                Value::Array(inner) => self.array(item, inner, position + 1),
                _ => {}
            }
        }
    }
}

/// The array index a segment names: digits in canonical form (`"01"` is
/// a field name, not index 1).
fn array_index(segment: &str) -> Option<usize> {
    segment
        .parse()
        .ok()
        .filter(|index: &usize| index.to_string() == segment)
}

/// The values a condition is tested against: each value found, the
/// elements of those that are arrays, and null for each missing field.
pub fn candidates<'a>(resolved: &[Found<'a>]) -> Vec<&'a Value> {
    let mut out = Vec::with_capacity(resolved.len());
    for found in resolved {
        let value = found.unwrap_or(&NULL);
        out.push(value);
        if let Value::Array(items) = value {
            out.extend(items.iter());
        }
    }
    out
}

/// Whether following `path` in `doc` meets an array (at its end or on the
/// way), which makes an index on `path` multikey.
pub fn meets_array(doc: &Value, path: &str) -> bool {
    let mut value = doc;
    for segment in path.split('.') {
        value = match value {
            Value::Object(fields) => match fields.get(segment) {
                Some(child) => child,
                None => return false,
            },
            Value::Array(_) => return true,
            _ => return false,
        };
    }
    value.is_array()
}

/// Checks a field path: non-empty segments, none starting with `$`.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.split('.').any(|s| s.is_empty() || s.starts_with('$')) {
        return Err(format!(
            "field path {path:?} is not valid: use dot-separated field names that do not start with '$'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values<'a>(doc: &'a Value, path: &str) -> Vec<Option<&'a Value>> {
        resolve(doc, path)
    }

    #[test]
    fn follows_objects_arrays_and_indexes() {
        let doc = json!({"a": {"b": 1}, "list": [{"x": 1}, {"x": 2}, 7], "n": [[1], 2]});
        assert_eq!(values(&doc, "a.b"), vec![Some(&json!(1))]);
        assert_eq!(
            values(&doc, "list.x"),
            vec![Some(&json!(1)), Some(&json!(2))]
        );
        assert_eq!(values(&doc, "list.2"), vec![None, None, Some(&json!(7))]);
        assert_eq!(values(&doc, "a.c"), vec![None]);
        assert_eq!(candidates(&resolve(&doc, "n")).len(), 3);
    }

    #[test]
    fn a_missing_field_in_an_array_element_is_found_as_missing() {
        let doc = json!({"a": [{"b": 3}, {}, 5], "s": 1, "e": []});
        assert_eq!(values(&doc, "a.b"), vec![Some(&json!(3)), None]);
        // A scalar in the middle of a path, as MongoDB reads it: missing.
        assert_eq!(values(&doc, "s.t"), vec![None]);
        // An empty array has no elements to lack the field.
        assert!(values(&doc, "e.b").is_empty());
    }

    #[test]
    fn an_array_on_the_way_makes_a_path_multikey() {
        let doc = json!({"objs": [{"k": 1}], "o": {"k": [1]}, "s": {"k": 1}});
        assert!(meets_array(&doc, "objs.k"));
        assert!(meets_array(&doc, "o.k"));
        assert!(!meets_array(&doc, "s.k"));
        assert!(!meets_array(&doc, "missing.k"));
    }

    /// `[{"0": [{"0": ...}]}]` with the path `a.0.0.0...`: each level is
    /// reached both as index 0 and as field "0" of the element, so walking
    /// every route is Fibonacci in the depth (hours at 60 levels).
    #[test]
    fn nested_numeric_paths_resolve_in_polynomial_time() {
        // Each level is an array whose one element has a field "0": the
        // segment "0" both indexes the array and names that field, so
        // without remembering where it has been the walk doubles per level.
        let depth = 20;
        let mut value = json!(1);
        for _ in 0..depth {
            value = json!([{ "0": value }]);
        }
        let doc = json!({ "a": value });
        let path = format!("a{}", ".0".repeat(depth));
        let segments: Vec<&str> = path.split('.').collect();
        let walked = walk(&doc, &segments);
        assert!(walked.found.contains(&Some(&json!(1))));
        // At most every (value, position) pair: 2 values per level, depth
        // + 1 positions.
        let bound = 2 * (depth + 1) * (depth + 1);
        assert!(
            walked.steps <= bound,
            "{} steps for depth {depth}",
            walked.steps
        );
    }
}
