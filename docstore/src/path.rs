//! Dotted paths into documents, resolved the way MongoDB does: a segment
//! names a field of an object, an array index, or the field of every object
//! in an array.

use serde_json::Value;

/// The values found at `path` in `doc`; empty when the path is missing.
pub fn resolve<'a>(doc: &'a Value, path: &str) -> Vec<&'a Value> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut found = Vec::new();
    walk(doc, &segments, &mut found);
    found
}

fn walk<'a>(value: &'a Value, segments: &[&str], found: &mut Vec<&'a Value>) {
    let Some((segment, rest)) = segments.split_first() else {
        found.push(value);
        return;
    };
    match value {
        Value::Object(fields) => {
            if let Some(child) = fields.get(*segment) {
                walk(child, rest, found);
            }
        }
        Value::Array(items) => {
            if let Ok(index) = segment.parse::<usize>()
                && let Some(item) = items.get(index)
            {
                walk(item, rest, found);
            }
            for item in items.iter().filter(|item| item.is_object()) {
                walk(item, segments, found);
            }
        }
        _ => {}
    }
}

/// The values a condition is tested against: each value at the path, and
/// the elements of those that are arrays.
pub fn candidates<'a>(resolved: &[&'a Value]) -> Vec<&'a Value> {
    let mut out = Vec::with_capacity(resolved.len());
    for value in resolved {
        out.push(*value);
        if let Value::Array(items) = value {
            out.extend(items.iter());
        }
    }
    out
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

    #[test]
    fn follows_objects_arrays_and_indexes() {
        let doc = json!({"a": {"b": 1}, "list": [{"x": 1}, {"x": 2}, 7], "n": [[1], 2]});
        assert_eq!(resolve(&doc, "a.b"), vec![&json!(1)]);
        assert_eq!(resolve(&doc, "list.x"), vec![&json!(1), &json!(2)]);
        assert_eq!(resolve(&doc, "list.2"), vec![&json!(7)]);
        assert!(resolve(&doc, "a.c").is_empty());
        assert_eq!(candidates(&resolve(&doc, "n")).len(), 3);
    }
}
