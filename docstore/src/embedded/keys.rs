//! Index keys: JSON values as bytes whose order is MongoDB's order within a
//! type bracket, so an index range scan finds a comparison's matches.

use serde_json::{Number, Value};

use crate::compare::{bracket, number_parts};

/// The key bytes of a value: its bracket, then an order-preserving body.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut key = vec![bracket(value)];
    match value {
        Value::Null => {}
        Value::Number(n) => key.extend_from_slice(&number_body(n)),
        Value::String(s) => key.extend_from_slice(s.as_bytes()),
        Value::Bool(b) => key.push(u8::from(*b)),
        Value::Array(items) => {
            for item in items {
                push_part(&mut key, &encode(item));
            }
        }
        Value::Object(fields) => {
            for (name, field) in fields {
                push_part(&mut key, name.as_bytes());
                push_part(&mut key, &encode(field));
            }
        }
    }
    key
}

/// Appends one length-prefixed part of an array's or an object's key. The
/// parts are keys themselves, so values MongoDB calls equal (`{"x": 1}` and
/// `{"x": 1.0}`) share a key, as a unique index needs. Their order is not
/// MongoDB's, and need not be: a plan reads an index by ranges of numbers
/// and strings, and by points of scalars, never by ranges of these.
fn push_part(key: &mut Vec<u8>, part: &[u8]) {
    key.extend_from_slice(&(part.len() as u64).to_be_bytes());
    key.extend_from_slice(part);
}

/// A number's key body: its nearest `f64`, then the exact remainder of an
/// integer (see [`number_parts`]), each as bytes whose order is the value's.
/// So every `i64` has a key of its own, and `1` and `1.0` share one.
fn number_body(number: &Number) -> [u8; 16] {
    let (rounded, remainder) = number_parts(number);
    let bits = rounded.to_bits();
    // Negative doubles order backwards as bits; flipping every bit of those
    // and the sign bit of the rest makes byte order numeric order.
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    let mut body = [0; 16];
    body[..8].copy_from_slice(&ordered.to_be_bytes());
    // Flipping the sign bit of a two's complement integer does the same.
    body[8..].copy_from_slice(&((remainder as u64) ^ 1 << 63).to_be_bytes());
    body
}

/// The key of an empty array, which MongoDB indexes as a value of its own.
pub fn empty_array() -> Vec<u8> {
    vec![bracket(&Value::Array(Vec::new()))]
}

/// The smallest key of `value`'s bracket.
pub fn bracket_start(value: &Value) -> Vec<u8> {
    vec![bracket(value)]
}

/// The first key past `value`'s bracket.
pub fn bracket_end(value: &Value) -> Vec<u8> {
    vec![bracket(value) + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_documents_and_arrays_equal_in_mongodb_share_a_key() {
        assert_eq!(encode(&json!({"x": 1})), encode(&json!({"x": 1.0})));
        assert_eq!(
            encode(&json!([1, {"y": 2}])),
            encode(&json!([1.0, {"y": 2.0}]))
        );
        assert_ne!(
            encode(&json!({"x": 1, "y": 2})),
            encode(&json!({"y": 2, "x": 1}))
        );
        assert_ne!(encode(&json!(["ab", "c"])), encode(&json!(["a", "bc"])));
        assert_ne!(encode(&json!({"x": "1"})), encode(&json!({"x": 1})));
    }
    use crate::compare::compare;
    use serde_json::json;

    #[test]
    fn key_order_is_value_order() {
        let ordered = [
            json!(null),
            json!(-3.5),
            json!(-1),
            json!(0),
            json!(2),
            json!(1e9),
            json!(""),
            json!("a"),
            json!("b"),
            json!(false),
            json!(true),
        ];
        for pair in ordered.windows(2) {
            assert!(
                encode(&pair[0]) < encode(&pair[1]),
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
        assert_eq!(encode(&json!(-0.0)), encode(&json!(0)));
        assert_eq!(encode(&json!(1)), encode(&json!(1.0)));
    }

    /// Numbers where `f64` rounding bites: around 2^53 and 2^63, with
    /// neighbours on both sides, negatives, zeros and fractions.
    fn awkward_numbers() -> Vec<Value> {
        let mut numbers = vec![json!(0), json!(0.0), json!(-0.0), json!(0.5), json!(-0.5)];
        for base in [1_i64 << 53, 1 << 62, i64::MAX - 1024] {
            for delta in [-3_i64, -2, -1, 0, 1, 2, 3, 1023, 1024, 1025] {
                let near = base.saturating_add(delta);
                numbers.extend([json!(near), json!(-near), json!(near as f64)]);
                numbers.extend([json!(-(near as f64)), json!(near as f64 + 0.5)]);
            }
        }
        numbers.extend([json!(i64::MAX), json!(i64::MIN), json!(i64::MIN + 1)]);
        numbers.extend([json!(9.3e18), json!(-9.3e18), json!(1e300), json!(-1e-300)]);
        numbers
    }

    #[test]
    fn number_key_order_is_compare_order() {
        let numbers = awkward_numbers();
        for a in &numbers {
            for b in &numbers {
                assert_eq!(
                    encode(a).cmp(&encode(b)),
                    compare(a, b),
                    "keys of {a} and {b}"
                );
            }
        }
    }

    #[test]
    fn every_i64_has_its_own_key() {
        let two_53 = 1_i64 << 53;
        assert_ne!(encode(&json!(two_53)), encode(&json!(two_53 + 1)));
        assert_eq!(encode(&json!(two_53)), encode(&json!(two_53 as f64)));
        assert_ne!(encode(&json!(i64::MAX)), encode(&json!(i64::MAX - 1)));
    }
}
