//! MongoDB's order of values: first by type bracket (null, numbers, strings,
//! objects, arrays, booleans), then within the bracket.

use std::cmp::Ordering;

use serde_json::{Number, Value};

/// The rank of a value's type among MongoDB's type brackets.
pub fn bracket(value: &Value) -> u8 {
    match value {
        Value::Null => 5,
        Value::Number(_) => 10,
        Value::String(_) => 15,
        Value::Object(_) => 20,
        Value::Array(_) => 25,
        Value::Bool(_) => 40,
    }
}

/// Total order over JSON values, MongoDB style.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(x, y)| compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .zip(y)
            .map(|((kx, vx), (ky, vy))| kx.cmp(ky).then_with(|| compare(vx, vy)))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        _ => bracket(a).cmp(&bracket(b)),
    }
}

/// Whether two values are equal, MongoDB style (`1 == 1.0`).
pub fn equal(a: &Value, b: &Value) -> bool {
    compare(a, b) == Ordering::Equal
}

fn compare_numbers(x: &Number, y: &Number) -> Ordering {
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
        return x.cmp(&y);
    }
    let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
    x.partial_cmp(&y).unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn orders_by_bracket_then_value() {
        assert!(compare(&json!(null), &json!(0)).is_lt());
        assert!(compare(&json!(99), &json!("a")).is_lt());
        assert!(compare(&json!("b"), &json!({})).is_lt());
        assert!(compare(&json!([]), &json!(false)).is_lt());
        assert!(compare(&json!(2), &json!(10.5)).is_lt());
        assert!(equal(&json!(1), &json!(1.0)));
        assert!(compare(&json!([1, 2]), &json!([1, 3])).is_lt());
    }
}
