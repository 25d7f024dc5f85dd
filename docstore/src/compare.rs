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
        // Pair by pair in stored order: the value's type, then the field
        // name, then the value; a prefix sorts first.
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .zip(y)
            .map(|((kx, vx), (ky, vy))| {
                bracket(vx)
                    .cmp(&bracket(vy))
                    .then_with(|| kx.cmp(ky))
                    .then_with(|| compare(vx, vy))
            })
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
    let (x, y) = (number_parts(x), number_parts(y));
    x.0.partial_cmp(&y.0)
        .unwrap_or(Ordering::Equal)
        .then(x.1.cmp(&y.1))
}

/// A number as the nearest `f64` (never -0.0) and what an integer exceeds
/// that by, exactly. Ordering these pairs orders the numbers exactly, ints
/// and doubles alike: rounding to `f64` never reverses two numbers, and two
/// that round alike differ by their remainders (0 for a double). Index keys
/// are made from the same pair, so key order is this order.
pub fn number_parts(number: &Number) -> (f64, i64) {
    let exact = number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from));
    match exact {
        Some(integer) => {
            let rounded = integer as f64;
            // Below 2^64 the rounding error is at most 2^10, so it fits.
            let remainder = (integer - rounded as i128) as i64;
            (rounded, remainder)
        }
        // Adding 0.0 turns -0.0 into 0.0, which MongoDB holds equal.
        None => (number.as_f64().unwrap_or(0.0) + 0.0, 0),
    }
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

    #[test]
    fn embedded_documents_compare_by_type_before_field_name() {
        // A number sorts before a string whatever the field names.
        assert!(compare(&json!({"b": 1}), &json!({"a": "x"})).is_lt());
        // Same types: the field name decides, then the value.
        assert!(compare(&json!({"a": 9}), &json!({"b": 1})).is_lt());
        assert!(compare(&json!({"a": 1}), &json!({"a": 2})).is_lt());
        // Field order matters, and a prefix sorts first.
        assert!(!equal(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})));
        assert!(compare(&json!({"a": 1}), &json!({"a": 1, "b": 0})).is_lt());
    }

    #[test]
    fn integers_beyond_2_pow_53_compare_exactly_with_doubles() {
        let two_53 = 9_007_199_254_740_992_i64;
        assert!(!equal(&json!(two_53 + 1), &json!(two_53 as f64)));
        assert!(compare(&json!(two_53 as f64), &json!(two_53 + 1)).is_lt());
        assert!(equal(&json!(two_53), &json!(two_53 as f64)));
        // i64::MAX rounds up to 2^63 as a double, i64::MIN is -2^63 exactly.
        assert!(compare(&json!(i64::MAX), &json!(i64::MAX as f64)).is_lt());
        assert!(compare(&json!(i64::MIN), &json!(i64::MIN as f64)).is_eq());
        assert!(equal(&json!(-0.0), &json!(0)));
    }
}
