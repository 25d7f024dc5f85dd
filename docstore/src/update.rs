//! MongoDB update documents (`{"$set": {...}, "$inc": {...}}`): parsed and
//! checked once, then applied to each matching document.

use serde_json::{Map, Value};

use crate::compare::equal;
use crate::document::check_integers;
use crate::error::{DbError, DbResult};
use crate::filter::{Filter, Op, parse_operators};
use crate::path::check_path;

/// A parsed update: a list of field changes.
#[derive(Debug, Clone)]
pub struct Update {
    changes: Vec<Change>,
}

#[derive(Debug, Clone)]
struct Change {
    path: String,
    kind: ChangeKind,
}

#[derive(Debug, Clone)]
enum ChangeKind {
    Set(Value),
    SetOnInsert(Value),
    Unset,
    Inc(serde_json::Number),
    Push(Vec<Value>),
    AddToSet(Vec<Value>),
    Pull(PullCondition),
}

/// Which array elements `$pull` removes.
#[derive(Debug, Clone)]
enum PullCondition {
    /// Elements equal to a value.
    Equal(Value),
    /// Elements satisfying operators such as `{"$gte": 6}`.
    Operators(Vec<Op>),
    /// Object elements matching a filter document.
    Document(Filter),
}

const SUPPORTED: &str = "$set $unset $inc $push $pull $addToSet $setOnInsert";

fn invalid(message: impl Into<String>) -> DbError {
    DbError::InvalidUpdate(message.into())
}

impl Update {
    /// Parses an update document.
    pub fn parse(update: &Value) -> DbResult<Update> {
        let Value::Object(ops) = update else {
            return Err(invalid(
                "an update must be a JSON object of operators such as $set",
            ));
        };
        check_integers(update).map_err(invalid)?;
        if ops.is_empty() {
            return Err(invalid(
                "an update needs at least one operator, such as $set",
            ));
        }
        let mut changes: Vec<Change> = Vec::new();
        for (op, fields) in ops {
            if !op.starts_with('$') {
                return Err(invalid(format!(
                    "an update must only hold operators such as $set, found the field {op:?}; replacing whole documents is not supported"
                )));
            }
            let Value::Object(fields) = fields else {
                return Err(invalid(format!("{op} takes an object of field paths")));
            };
            for (path, operand) in fields {
                check_path(path).map_err(invalid)?;
                if path == "_id" || path.starts_with("_id.") {
                    return Err(invalid("_id cannot be changed"));
                }
                if let Some(other) = changes.iter().find(|c| overlaps(&c.path, path)) {
                    return Err(invalid(format!(
                        "the update changes {path} and {} at once; change each field in one operator",
                        other.path
                    )));
                }
                let kind = parse_change(op, path, operand)?;
                changes.push(Change {
                    path: path.clone(),
                    kind,
                });
            }
        }
        Ok(Update { changes })
    }

    /// Applies the update to `doc`; `inserting` says whether `doc` is being
    /// made by an upsert (which is when `$setOnInsert` applies). The nulls
    /// every change of the update pads arrays with, together, must fit in
    /// `max_document_bytes`, checked before an array grows.
    pub fn apply(
        &self,
        doc: &mut Value,
        inserting: bool,
        max_document_bytes: usize,
    ) -> DbResult<()> {
        let mut padding = Padding {
            room: max_document_bytes,
            max_document_bytes,
        };
        self.changes
            .iter()
            .try_for_each(|change| change.apply(doc, inserting, &mut padding))
    }
}

fn overlaps(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}.")) || b.starts_with(&format!("{a}."))
}

fn parse_change(op: &str, path: &str, operand: &Value) -> DbResult<ChangeKind> {
    Ok(match op {
        "$set" => ChangeKind::Set(operand.clone()),
        "$setOnInsert" => ChangeKind::SetOnInsert(operand.clone()),
        "$unset" => ChangeKind::Unset,
        "$inc" => match operand {
            Value::Number(n) => ChangeKind::Inc(n.clone()),
            _ => return Err(invalid(format!("$inc of {path} takes a number"))),
        },
        "$push" => ChangeKind::Push(each(op, path, operand)?),
        "$addToSet" => ChangeKind::AddToSet(each(op, path, operand)?),
        "$pull" => ChangeKind::Pull(match operand {
            Value::Object(ops) if ops.keys().all(|k| k.starts_with('$')) && !ops.is_empty() => {
                PullCondition::Operators(
                    parse_operators(path, ops).map_err(|e| invalid(e.message()))?,
                )
            }
            Value::Object(_) => {
                PullCondition::Document(Filter::parse(operand).map_err(|e| invalid(e.message()))?)
            }
            value => PullCondition::Equal(value.clone()),
        }),
        other => {
            return Err(invalid(format!(
                "unsupported update operator {other}; supported: {SUPPORTED}"
            )));
        }
    })
}

/// The values of `$push` and `$addToSet`: one value, or `{"$each": [...]}`.
fn each(op: &str, path: &str, operand: &Value) -> DbResult<Vec<Value>> {
    match operand {
        Value::Object(fields) if fields.keys().any(|k| k.starts_with('$')) => {
            match (fields.len(), fields.get("$each")) {
                (1, Some(Value::Array(items))) => Ok(items.clone()),
                _ => Err(invalid(format!(
                    "{op} of {path}: only the $each modifier is supported, with an array"
                ))),
            }
        }
        value => Ok(vec![value.clone()]),
    }
}

impl Change {
    fn apply(&self, doc: &mut Value, inserting: bool, padding: &mut Padding) -> DbResult<()> {
        let path = self.path.as_str();
        match &self.kind {
            ChangeKind::Set(value) => *slot(doc, path, padding)?.value = value.clone(),
            ChangeKind::SetOnInsert(value) if inserting => {
                *slot(doc, path, padding)?.value = value.clone()
            }
            ChangeKind::SetOnInsert(_) => {}
            ChangeKind::Unset => unset(doc, path),
            ChangeKind::Inc(delta) => {
                let Slot { value, existed } = slot(doc, path, padding)?;
                *value = match value {
                    _ if !existed => Value::Number(delta.clone()),
                    Value::Number(current) => add(current, delta)?,
                    other => {
                        return Err(invalid(format!(
                            "{path}: cannot apply $inc to a value of non-numeric type {}",
                            type_name(other)
                        )));
                    }
                };
            }
            ChangeKind::Push(values) => {
                array_at(doc, path, "$push", padding)?.extend(values.iter().cloned())
            }
            ChangeKind::AddToSet(values) => {
                let items = array_at(doc, path, "$addToSet", padding)?;
                for value in values {
                    if !items.iter().any(|item| equal(item, value)) {
                        items.push(value.clone());
                    }
                }
            }
            ChangeKind::Pull(condition) => match existing(doc, path) {
                None => {}
                Some(Value::Array(items)) => items.retain(|item| !condition.removes(item)),
                Some(other) => {
                    return Err(invalid(format!(
                        "{path}: cannot apply $pull to a non-array value (it is of type {})",
                        type_name(other)
                    )));
                }
            },
        }
        Ok(())
    }
}

impl PullCondition {
    fn removes(&self, item: &Value) -> bool {
        match self {
            PullCondition::Equal(value) => equal(item, value),
            PullCondition::Operators(ops) => ops.iter().all(|op| op.holds(&[Some(item)])),
            PullCondition::Document(filter) => item.is_object() && filter.matches(item),
        }
    }
}

fn add(a: &serde_json::Number, b: &serde_json::Number) -> DbResult<Value> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return a
            .checked_add(b)
            .map(Value::from)
            .ok_or_else(|| invalid("$inc would overflow a 64-bit integer"));
    }
    let sum = a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0);
    serde_json::Number::from_f64(sum)
        .map(Value::Number)
        .ok_or_else(|| invalid("$inc gives a number JSON cannot hold"))
}

/// The array at `path`, made when missing; an error when something else,
/// null included, is there (as MongoDB refuses it).
fn array_at<'a>(
    doc: &'a mut Value,
    path: &str,
    op: &str,
    padding: &mut Padding,
) -> DbResult<&'a mut Vec<Value>> {
    let Slot { value, existed } = slot(doc, path, padding)?;
    if !existed {
        *value = Value::Array(Vec::new());
    }
    match value {
        Value::Array(items) => Ok(items),
        other => Err(invalid(format!(
            "{op} of {path}: the field must be an array but is of type {}",
            type_name(other)
        ))),
    }
}

/// MongoDB's name of a value's type, for messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The value at `path`, if there is one, without making anything.
fn existing<'a>(doc: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.').try_fold(doc, |value, segment| match value {
        Value::Object(fields) => fields.get_mut(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    })
}

/// A place in a document an update writes to.
struct Slot<'a> {
    /// The value there (null when just made).
    value: &'a mut Value,
    /// Whether it was there before: MongoDB creates a missing field, but
    /// refuses to treat an existing null as an empty number or array.
    existed: bool,
}

/// The place at `path`, made when missing along with what leads to it: an
/// object for each missing field on the way, and nulls to pad an array up
/// to an index (refused beyond what `padding` has room for, before the
/// array grows). A scalar or null on the way is an error, as in MongoDB.
fn slot<'a>(doc: &'a mut Value, path: &str, padding: &mut Padding) -> DbResult<Slot<'a>> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut value = doc;
    let mut existed = true;
    for (at, segment) in segments.iter().copied().enumerate() {
        let made = if at + 1 == segments.len() {
            Value::Null
        } else {
            Value::Object(Map::new())
        };
        value = match value {
            Value::Object(fields) => {
                existed &= fields.contains_key(segment);
                fields.entry(segment).or_insert(made)
            }
            Value::Array(items) => {
                let index = array_index(path, segment)?;
                if index >= items.len() {
                    padding.take(path, index - items.len())?;
                    existed = false;
                    items.resize(index, Value::Null);
                    items.push(made);
                }
                &mut items[index]
            }
            other => {
                let parent = segments[at.saturating_sub(1)];
                return Err(invalid(format!(
                    "{path}: cannot create field '{segment}' in element {{{parent}: {other}}}"
                )));
            }
        };
    }
    Ok(Slot { value, existed })
}

/// The index `segment` names in the array at `path`.
fn array_index(path: &str, segment: &str) -> DbResult<usize> {
    segment.parse().map_err(|_| {
        invalid(format!(
            "{path}: {segment:?} is not an index into the array there"
        ))
    })
}

/// Refuses padding an array with `nulls` nulls when they alone (each at
/// least `null,`) would be more than a document may hold: a large index
/// would otherwise allocate far more memory than any document could store.
/// What the nulls padding arrays may still take, across the changes of
/// one update: they alone may not outgrow the largest document.
struct Padding {
    room: usize,
    max_document_bytes: usize,
}

impl Padding {
    /// Takes room for `nulls` more nulls, or refuses before any is made.
    fn take(&mut self, path: &str, nulls: usize) -> DbResult<()> {
        const NULL_BYTES: usize = "null,".len();
        let bytes = nulls.saturating_mul(NULL_BYTES);
        if bytes > self.room {
            return Err(DbError::DocumentTooLarge(format!(
                "{path}: reaching that index would pad arrays with {nulls} more nulls, more than a document of at most {} bytes can hold (db.max_document_bytes)",
                self.max_document_bytes
            )));
        }
        self.room -= bytes;
        Ok(())
    }
}

fn unset(doc: &mut Value, path: &str) {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (existing(doc, parent), last),
        None => (Some(doc), path),
    };
    match parent {
        Some(Value::Object(fields)) => {
            // A shift, not a swap: the fields after it keep their order.
            fields.shift_remove(last);
        }
        Some(Value::Array(items)) => {
            if let Some(item) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(update: Value, mut doc: Value) -> Value {
        Update::parse(&update)
            .unwrap()
            .apply(&mut doc, false, LIMIT)
            .unwrap();
        doc
    }

    /// A document size limit for the tests.
    const LIMIT: usize = 4096;

    /// The error `update` gives on `doc`.
    fn refusal(update: Value, mut doc: Value) -> DbError {
        Update::parse(&update)
            .unwrap()
            .apply(&mut doc, false, LIMIT)
            .unwrap_err()
    }

    #[test]
    fn sets_nested_paths_and_increments() {
        let doc = apply(
            json!({"$set": {"a.b": 1}, "$inc": {"n": 2}}),
            json!({"n": 1}),
        );
        assert_eq!(doc, json!({"a": {"b": 1}, "n": 3}));
    }

    #[test]
    fn array_operators() {
        let doc = apply(
            json!({"$push": {"p": {"$each": [1, 2]}}, "$addToSet": {"s": 1}, "$pull": {"q": {"$gt": 1}}}),
            json!({"s": [1], "q": [0, 1, 2, 3]}),
        );
        assert_eq!(doc, json!({"p": [1, 2], "s": [1], "q": [0, 1]}));
    }

    #[test]
    fn refuses_what_it_does_not_support() {
        let err = Update::parse(&json!({"$rename": {"a": "b"}})).unwrap_err();
        assert!(err.message().contains("$rename"), "{err}");
        assert!(Update::parse(&json!({"a": 1})).is_err());
        assert!(Update::parse(&json!({"$set": {"_id": 1}})).is_err());
        let err = Update::parse(&json!({"$inc": {"n": 1}}))
            .unwrap()
            .apply(&mut json!({"n": "x"}), false, LIMIT)
            .unwrap_err();
        assert!(err.message().contains("$inc"), "{err}");
    }

    #[test]
    fn updates_refuse_to_treat_an_existing_null_as_missing() {
        let null = || json!({"a": null});
        for (update, words) in [
            (
                json!({"$set": {"a.b": 1}}),
                "cannot create field 'b' in element {a: null}",
            ),
            (
                json!({"$inc": {"a": 1}}),
                "cannot apply $inc to a value of non-numeric type null",
            ),
            (
                json!({"$push": {"a": 1}}),
                "must be an array but is of type null",
            ),
            (
                json!({"$addToSet": {"a": 1}}),
                "must be an array but is of type null",
            ),
            (
                json!({"$pull": {"a": 1}}),
                "cannot apply $pull to a non-array value",
            ),
        ] {
            let err = refusal(update.clone(), null());
            assert!(
                matches!(err, DbError::InvalidUpdate(_)),
                "{update}: {err:?}"
            );
            assert!(err.message().contains(words), "{update}: {err}");
            assert!(err.message().contains('a'), "{update}: {err}");
        }
        // Missing fields are still made.
        let made = apply(
            json!({"$set": {"m.b": 1}, "$inc": {"n": 2}, "$push": {"p": 1}, "$addToSet": {"s": 1}, "$pull": {"q": 1}}),
            json!({}),
        );
        assert_eq!(made, json!({"m": {"b": 1}, "n": 2, "p": [1], "s": [1]}));
    }

    #[test]
    fn pull_on_a_non_array_is_an_error() {
        let err = refusal(json!({"$pull": {"a": 1}}), json!({"a": 5}));
        assert!(err.message().contains("non-array"), "{err}");
    }

    #[test]
    fn set_pads_an_array_with_nulls_within_the_size_limit() {
        let doc = apply(
            json!({"$set": {"a.3": 1, "b.1.c": 2}}),
            json!({"a": [0], "b": []}),
        );
        assert_eq!(doc, json!({"a": [0, null, null, 1], "b": [null, {"c": 2}]}));
        let err = refusal(json!({"$set": {"a.1000000000000": 1}}), json!({"a": []}));
        assert!(matches!(err, DbError::DocumentTooLarge(_)), "{err:?}");
        assert!(err.message().contains("a.1000000000000"), "{err}");
        // Each change may fit by itself; together they may not.
        let each = LIMIT / "null,".len() - 1;
        let fields: serde_json::Map<String, Value> =
            (0..4).map(|n| (format!("a{n}.{each}"), json!(1))).collect();
        let empty: serde_json::Map<String, Value> =
            (0..4).map(|n| (format!("a{n}"), json!([]))).collect();
        let one = json!({"$set": {format!("a0.{each}"): 1}});
        Update::parse(&one)
            .unwrap()
            .apply(&mut Value::Object(empty.clone()), false, LIMIT)
            .unwrap();
        let err = refusal(json!({"$set": fields}), Value::Object(empty));
        assert!(matches!(err, DbError::DocumentTooLarge(_)), "{err:?}");
    }

    #[test]
    fn unset_keeps_the_order_of_the_other_fields() {
        let doc = apply(
            json!({"$unset": {"a": "", "m.x": ""}}),
            json!({"a": 1, "b": 2, "c": 3, "m": {"x": 1, "y": 2, "z": 3}}),
        );
        let order: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(order, ["b", "c", "m"]);
        let inner: Vec<&String> = doc["m"].as_object().unwrap().keys().collect();
        assert_eq!(inner, ["y", "z"]);
    }

    #[test]
    fn integers_beyond_i64_are_refused_in_updates() {
        let update: Value =
            serde_json::from_str(r#"{"$set": {"n": 9223372036854775808}}"#).unwrap();
        let err = Update::parse(&update).unwrap_err();
        assert!(matches!(err, DbError::InvalidUpdate(_)), "{err:?}");
    }
}
