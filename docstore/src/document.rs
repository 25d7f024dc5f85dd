//! What a stored document must be, and the `_id` every one carries.

use mongodb::bson::oid::ObjectId;
use serde_json::{Map, Value};

use crate::error::{DbError, DbResult};
use crate::filter::{Filter, Op};

/// Checks a document from a guest and gives it an `_id` (a new ObjectId as
/// 24 hex characters) when it has none. Returns the `_id`.
pub fn prepare(doc: &mut Value) -> DbResult<Value> {
    let Value::Object(fields) = doc else {
        return Err(DbError::InvalidDocument(
            "a document must be a JSON object".into(),
        ));
    };
    check_fields(fields)?;
    let id = fields
        .entry("_id")
        .or_insert_with(|| Value::String(ObjectId::new().to_hex()))
        .clone();
    check_id(&id)?;
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
