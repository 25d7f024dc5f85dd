//! Reading the documents a plan leads to and keeping those the filter
//! matches. Used by reads and, inside write transactions, by writes. Every
//! document read counts against the call's [`Work`], so a scan stops itself
//! past the deadline or the most documents a call may read.

use std::collections::HashSet;
use std::ops::Bound;

use redb::{ReadableMultimapTable, ReadableTable};
use serde_json::Value;

use super::plan::{Access, KeyRange};
use super::storage_error;
use crate::budget::Work;
use crate::error::DbResult;
use crate::filter::Filter;
use crate::options::Direction;

/// The document store of one collection: `_id` key -> JSON text.
pub trait DocTable: ReadableTable<&'static [u8], &'static [u8]> {}
impl<T: ReadableTable<&'static [u8], &'static [u8]>> DocTable for T {}

/// An index of one collection: value key -> `_id` keys.
pub trait IndexTable: ReadableMultimapTable<&'static [u8], &'static [u8]> {}
impl<T: ReadableMultimapTable<&'static [u8], &'static [u8]>> IndexTable for T {}

/// A matching document as it is stored: its JSON text, and the document
/// parsed if the filter needed it.
pub struct Stored {
    /// Its `_id` key.
    pub key: Vec<u8>,
    /// Its JSON text.
    pub text: Vec<u8>,
    parsed: Option<Value>,
}

/// A matching document, parsed.
pub struct Parsed {
    /// Its `_id` key.
    pub key: Vec<u8>,
    /// The document.
    pub doc: Value,
    /// The length of its JSON text.
    pub bytes: usize,
}

impl Stored {
    /// The length of its JSON text.
    pub fn bytes(&self) -> usize {
        self.text.len()
    }

    /// The document, parsed now unless the filter parsed it already.
    pub fn parsed(self) -> DbResult<Parsed> {
        let bytes = self.text.len();
        let doc = match self.parsed {
            Some(doc) => doc,
            None => serde_json::from_slice(&self.text).map_err(storage_error)?,
        };
        Ok(Parsed {
            key: self.key,
            doc,
            bytes,
        })
    }
}

/// Calls `visit` with each matching document until it returns false,
/// counting each document read in `work` (which may stop the scan). A scan
/// and an `_id` plan read in `_id` order, `direction` first; an index plan
/// reads in index order, ascending. `filter` is what remains to be
/// checked: `None` when every document the plan reads matches (see
/// [`super::plan::to_check`]), and then none is parsed.
pub fn for_each_match(
    docs: &impl DocTable,
    index: Option<&impl IndexTable>,
    (access, direction): (&Access, Direction),
    filter: Option<&Filter>,
    work: &mut Work,
    mut visit: impl FnMut(Stored) -> DbResult<bool>,
) -> DbResult<()> {
    let mut check = |key: &[u8], text: &[u8]| check(filter, work, &mut visit, key, text);
    match (access, index) {
        (Access::Scan, _) => {
            let entries = docs.iter().map_err(storage_error)?;
            for entry in in_direction(entries, direction) {
                let (key, text) = entry.map_err(storage_error)?;
                if !check(key.value(), text.value())? {
                    break;
                }
            }
        }
        (Access::Ids(ranges), _) => {
            let ranges: Vec<&KeyRange> = match direction {
                Direction::Ascending => ranges.iter().collect(),
                Direction::Descending => ranges.iter().rev().collect(),
            };
            'ranges: for range in ranges {
                let entries = docs
                    .range::<&[u8]>(borrowed(range))
                    .map_err(storage_error)?;
                for entry in in_direction(entries, direction) {
                    let (key, text) = entry.map_err(storage_error)?;
                    if !check(key.value(), text.value())? {
                        break 'ranges;
                    }
                }
            }
        }
        (Access::Index { ranges, .. }, Some(index)) => {
            let mut seen = HashSet::new();
            'ranges: for range in ranges {
                for entry in index
                    .range::<&[u8]>(borrowed(range))
                    .map_err(storage_error)?
                {
                    let (_, ids) = entry.map_err(storage_error)?;
                    for id in ids {
                        let id = id.map_err(storage_error)?.value().to_vec();
                        if !seen.insert(id.clone()) {
                            continue;
                        }
                        let Some(text) = docs.get(id.as_slice()).map_err(storage_error)? else {
                            continue;
                        };
                        if !check(&id, text.value())? {
                            break 'ranges;
                        }
                    }
                }
            }
        }
        (Access::Index { field, .. }, None) => {
            return Err(storage_error(format!("the index on {field} has no table")));
        }
    }
    Ok(())
}

/// Reads one document: counts it in `work`, and calls `visit` with it when
/// it matches `filter` (parsing it only to check that). Returns whether to
/// go on.
fn check(
    filter: Option<&Filter>,
    work: &mut Work,
    visit: &mut impl FnMut(Stored) -> DbResult<bool>,
    key: &[u8],
    text: &[u8],
) -> DbResult<bool> {
    work.examine()?;
    let parsed = match filter {
        Some(filter) => {
            let doc: Value = serde_json::from_slice(text).map_err(storage_error)?;
            if !filter.matches(&doc) {
                return Ok(true);
            }
            Some(doc)
        }
        None => None,
    };
    visit(Stored {
        key: key.to_vec(),
        text: text.to_vec(),
        parsed,
    })
}

/// Calls `visit` with each match in the order of a sortable `index` over
/// `ranges` (`direction` first; the documents of one key in `ties` order of
/// their `_id`) until it returns false. A sortable index is not multikey,
/// so each document is under one key and is read once. `filter` is what
/// remains to be checked, as for [`for_each_match`].
pub fn for_each_in_index_order(
    docs: &impl DocTable,
    index: &impl IndexTable,
    ranges: &[KeyRange],
    (direction, ties): (Direction, Direction),
    filter: Option<&Filter>,
    work: &mut Work,
    mut visit: impl FnMut(Stored) -> DbResult<bool>,
) -> DbResult<()> {
    let ranges: Vec<&KeyRange> = match direction {
        Direction::Ascending => ranges.iter().collect(),
        Direction::Descending => ranges.iter().rev().collect(),
    };
    for range in ranges {
        let entries = index
            .range::<&[u8]>(borrowed(range))
            .map_err(storage_error)?;
        for entry in in_direction(entries, direction) {
            let (_, ids) = entry.map_err(storage_error)?;
            for id in in_direction(ids, ties) {
                let id = id.map_err(storage_error)?;
                let Some(text) = docs.get(id.value()).map_err(storage_error)? else {
                    continue;
                };
                if !check(filter, work, &mut visit, id.value(), text.value())? {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// How many documents the keys of `access` lead to, without reading one:
/// for a plan [`super::plan::is_exact`] says is exact (a scan only for
/// an empty filter). Each key counts as a
/// unit of `work`, so the deadline still stops a long count.
pub fn count_keys(
    docs: &impl DocTable,
    index: Option<&impl IndexTable>,
    access: &Access,
    work: &mut Work,
) -> DbResult<u64> {
    let mut count = 0;
    match (access, index) {
        (Access::Ids(ranges), _) => {
            for range in ranges {
                for entry in docs
                    .range::<&[u8]>(borrowed(range))
                    .map_err(storage_error)?
                {
                    entry.map_err(storage_error)?;
                    work.step()?;
                    count += 1;
                }
            }
        }
        (Access::Index { ranges, .. }, Some(index)) => {
            // Under several keys (an `$in` on an array field) one document
            // may be listed more than once.
            let mut seen = HashSet::new();
            for range in ranges {
                for entry in index
                    .range::<&[u8]>(borrowed(range))
                    .map_err(storage_error)?
                {
                    let (_, ids) = entry.map_err(storage_error)?;
                    for id in ids {
                        work.step()?;
                        let id = id.map_err(storage_error)?;
                        if ranges.len() == 1 || seen.insert(id.value().to_vec()) {
                            count += 1;
                        }
                    }
                }
            }
        }
        (Access::Index { field, .. }, None) => {
            return Err(storage_error(format!("the index on {field} has no table")));
        }
        // Only an empty filter is exact on a scan: every document counts,
        // and the table knows how many it holds.
        (Access::Scan, _) => {
            work.step()?;
            count = docs.len().map_err(storage_error)?;
        }
    }
    Ok(count)
}

/// `entries` forwards or backwards.
fn in_direction<'a, I: DoubleEndedIterator + 'a>(
    entries: I,
    direction: Direction,
) -> Box<dyn Iterator<Item = I::Item> + 'a> {
    match direction {
        Direction::Ascending => Box::new(entries),
        Direction::Descending => Box::new(entries.rev()),
    }
}

fn borrowed(range: &KeyRange) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (as_slice(&range.0), as_slice(&range.1))
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
