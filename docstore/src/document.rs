//! What a stored document must be, and the `_id` every one carries.

use mongodb::bson::oid::ObjectId;
use serde_json::{Map, Value};

use crate::error::{DbError, DbResult};
use crate::filter::{Filter, Op};

/// Checks a document from a guest and gives it an `_id` (a new ObjectId as
/// 24 hex characters) when it has none, as its first field (where MongoDB
/// keeps it). Returns the `_id`.
pub fn prepare(doc: &mut Value) -> DbResult<Value> {
    check_integers(doc).map_err(DbError::InvalidDocument)?;
    let Value::Object(fields) = doc else {
        return Err(DbError::InvalidDocument(
            "a document must be a JSON object".into(),
        ));
    };
    check_fields(fields)?;
    // First, as MongoDB stores it, given or made.
    let id = fields
        .shift_remove("_id")
        .unwrap_or_else(|| Value::String(ObjectId::new().to_hex()));
    check_id(&id)?;
    fields.shift_insert(0, "_id".into(), id.clone());
    Ok(id)
}

/// Checks that an `_id` is a string or a number.
pub fn check_id(id: &Value) -> DbResult<()> {
    match id {
        Value::String(_) | Value::Number(_) => Ok(()),
        other => Err(DbError::InvalidDocument(format!(
            "_id must be a string or a number, not {other}"
        ))),
    }
}

/// Field names may not start with `$` or hold a `.`, at any depth: they
/// would read as operators and paths.
fn check_fields(fields: &Map<String, Value>) -> DbResult<()> {
    for (name, value) in fields {
        if name.starts_with('$') || name.contains('.') || name.is_empty() {
            return Err(DbError::InvalidDocument(format!(
                "field name {name:?} is not allowed: names may not be empty, start with '$' or contain '.'"
            )));
        }
        check_nested(value)?;
    }
    Ok(())
}

fn check_nested(value: &Value) -> DbResult<()> {
    match value {
        Value::Object(fields) => check_fields(fields),
        Value::Array(items) => items.iter().try_for_each(check_nested),
        _ => Ok(()),
    }
}

/// Checks an updated document again: the same field rules, the same `_id`.
pub fn check_updated(doc: &Value, id: &Value) -> DbResult<()> {
    let Value::Object(fields) = doc else {
        return Err(DbError::InvalidDocument(
            "a document must be a JSON object".into(),
        ));
    };
    check_fields(fields)?;
    if fields.get("_id") != Some(id) {
        return Err(DbError::InvalidUpdate("_id cannot be changed".into()));
    }
    Ok(())
}

/// Refuses integers beyond the signed 64-bit range (serde_json reads
/// 2^63..2^64 as `u64`): BSON cannot store them, and refusing them here
/// keeps both backends alike.
pub fn check_integers(value: &Value) -> Result<(), String> {
    match value {
        Value::Number(n) if n.is_u64() && !n.is_i64() => Err(format!(
            "the integer {n} is beyond the 64-bit range a document can hold (up to {}); store it as a string or a double",
            i64::MAX
        )),
        Value::Object(fields) => fields.values().try_for_each(check_integers),
        Value::Array(items) => items.iter().try_for_each(check_integers),
        _ => Ok(()),
    }
}

/// Whether two documents are the same, field order and number types
/// included: MongoDB stores a reordered or retyped document as changed.
/// (serde_json's own equality ignores the order of an object's fields.)
pub fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && identical(vx, vy))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| identical(x, y))
        }
        _ => a == b,
    }
}

/// The JSON text of a document, refused when longer than `max_bytes`.
pub fn encode(doc: &Value, max_bytes: usize) -> DbResult<Vec<u8>> {
    let bytes = serde_json::to_vec(doc).map_err(|e| DbError::InvalidDocument(e.to_string()))?;
    if bytes.len() > max_bytes {
        return Err(DbError::DocumentTooLarge(format!(
            "the document is {} bytes; the limit is {max_bytes} (db.max_document_bytes)",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The document an upsert starts from: the filter's top-level equalities.
pub fn upsert_seed(filter: &Filter) -> Value {
    let mut seed = Value::Object(Map::new());
    for (path, ops) in filter.conjuncts() {
        if let [Op::Eq(value)] = ops {
            set_path(&mut seed, path, value.clone());
        }
    }
    seed
}

fn set_path(doc: &mut Value, path: &str, value: Value) {
    let mut target = doc;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let Value::Object(fields) = target else {
            return;
        };
        if segments.peek().is_none() {
            fields.insert(segment.to_string(), value);
            return;
        }
        target = fields
            .entry(segment)
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_order_makes_documents_differ() {
        let (ab, ba) = (
            json!({"a": 1, "b": {"x": 1, "y": 2}}),
            json!({"a": 1, "b": {"y": 2, "x": 1}}),
        );
        assert_eq!(ab, ba, "serde_json's equality ignores order");
        assert!(!identical(&ab, &ba));
        assert!(identical(&ab, &ab.clone()));
        assert!(!identical(&json!({"a": 1}), &json!({"a": 1.0})));
    }

    #[test]
    fn integers_beyond_i64_are_refused() {
        let mut doc: Value =
            serde_json::from_str(r#"{"n": [1, {"m": 9223372036854775808}]}"#).unwrap();
        let err = prepare(&mut doc).unwrap_err();
        assert!(matches!(err, DbError::InvalidDocument(_)), "{err:?}");
        assert!(err.message().contains("9223372036854775808"), "{err}");
        assert!(prepare(&mut json!({"n": i64::MAX, "m": i64::MIN})).is_ok());
    }
}
