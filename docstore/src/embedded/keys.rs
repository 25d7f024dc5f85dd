//! Index keys: JSON values as bytes whose order is MongoDB's order within a
//! type bracket, so an index range scan finds a comparison's matches.

use serde_json::Value;

use crate::compare::bracket;

/// The key bytes of a value: its bracket, then an order-preserving body.
/// Numbers are keyed as `f64` (integers beyond 2^53 may share a key; every
/// match is checked against the filter again, so that only widens a scan).
pub fn encode(value: &Value) -> Vec<u8> {
    let mut key = vec![bracket(value)];
    match value {
        Value::Null => {}
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            let bits = if f == 0.0 {
                0.0f64.to_bits()
            } else {
                f.to_bits()
            };
            let ordered = if bits >> 63 == 1 {
                !bits
            } else {
                bits | 1 << 63
            };
            key.extend_from_slice(&ordered.to_be_bytes());
        }
        Value::String(s) => key.extend_from_slice(s.as_bytes()),
        Value::Bool(b) => key.push(u8::from(*b)),
        Value::Object(_) | Value::Array(_) => {
            key.extend_from_slice(value.to_string().as_bytes());
        }
    }
    key
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
}
