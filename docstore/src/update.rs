//! MongoDB update documents (`{"$set": {...}, "$inc": {...}}`): parsed and
//! checked once, then applied to each matching document.

use serde_json::{Map, Value};

use crate::compare::equal;
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
    /// made by an upsert (which is when `$setOnInsert` applies).
    pub fn apply(&self, doc: &mut Value, inserting: bool) -> DbResult<()> {
        self.changes
            .iter()
            .try_for_each(|change| change.apply(doc, inserting))
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
    fn apply(&self, doc: &mut Value, inserting: bool) -> DbResult<()> {
        match &self.kind {
            ChangeKind::Set(value) => *slot(doc, &self.path)? = value.clone(),
            ChangeKind::SetOnInsert(value) if inserting => *slot(doc, &self.path)? = value.clone(),
            ChangeKind::SetOnInsert(_) => {}
            ChangeKind::Unset => unset(doc, &self.path),
            ChangeKind::Inc(delta) => {
                let target = slot(doc, &self.path)?;
                *target = match target {
                    Value::Null => Value::Number(delta.clone()),
                    Value::Number(current) => add(current, delta)?,
                    other => {
                        return Err(invalid(format!(
                            "$inc of {} needs a number there, found {other}",
                            self.path
                        )));
                    }
                };
            }
            ChangeKind::Push(values) => {
                array_at(doc, &self.path, "$push")?.extend(values.iter().cloned())
            }
            ChangeKind::AddToSet(values) => {
                let items = array_at(doc, &self.path, "$addToSet")?;
                for value in values {
                    if !items.iter().any(|item| equal(item, value)) {
                        items.push(value.clone());
                    }
                }
            }
            ChangeKind::Pull(condition) => {
                if let Some(Value::Array(items)) = existing(doc, &self.path) {
                    items.retain(|item| !condition.removes(item));
                }
            }
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

/// The array at `path`, made when missing; an error when something else is there.
fn array_at<'a>(doc: &'a mut Value, path: &str, op: &str) -> DbResult<&'a mut Vec<Value>> {
    let target = slot(doc, path)?;
    if target.is_null() {
        *target = Value::Array(Vec::new());
    }
    match target {
        Value::Array(items) => Ok(items),
        other => Err(invalid(format!(
            "{op} of {path} needs an array there, found {other}"
        ))),
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

/// The place at `path`, made (as null) along with the objects leading to it.
fn slot<'a>(doc: &'a mut Value, path: &str) -> DbResult<&'a mut Value> {
    let mut value = doc;
    for segment in path.split('.') {
        value = match value {
            Value::Object(fields) => fields.entry(segment).or_insert(Value::Null),
            Value::Array(items) => {
                let index: usize = segment.parse().map_err(|_| {
                    invalid(format!(
                        "{path}: {segment:?} is not an index into the array there"
                    ))
                })?;
                if index >= items.len() {
                    items.resize(index + 1, Value::Null);
                }
                &mut items[index]
            }
            Value::Null => {
                *value = Value::Object(Map::new());
                let Value::Object(fields) = value else {
                    unreachable!("just made an object")
                };
                fields.entry(segment).or_insert(Value::Null)
            }
            other => {
                return Err(invalid(format!(
                    "{path}: cannot make the field {segment:?} inside {other}"
                )));
            }
        };
    }
    Ok(value)
}

fn unset(doc: &mut Value, path: &str) {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (existing(doc, parent), last),
        None => (Some(doc), path),
    };
    match parent {
        Some(Value::Object(fields)) => {
            fields.remove(last);
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
            .apply(&mut doc, false)
            .unwrap();
        doc
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
            .apply(&mut json!({"n": "x"}), false)
            .unwrap_err();
        assert!(err.message().contains("$inc"), "{err}");
    }
}
