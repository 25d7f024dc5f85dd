//! A `find` in one read transaction: the plan, the order it reads in, the
//! page it keeps, and the documents it answers, as JSON text or values.
//!
//! A document leaves as the text it is stored as unless something had to
//! change it (a projection) or rank it (a sort no index gives): the filter
//! parses a document only when the keys read are not exactly its matches,
//! so a read by `_id`, or of a page in `_id` or index order with an empty
//! filter, parses nothing.

use std::ops::Bound;

use redb::{ReadOnlyMultimapTable, ReadOnlyTable, ReadTransaction, TableError};
use serde_json::Value;

use super::catalog::{self, CATALOG, IndexSpec};
use super::indexing::{index_table, index_table_name};
use super::plan::{Access, KeyRange, plan, to_check};
use super::query::{Stored, count_keys, for_each_in_index_order, for_each_match};
use super::top_k::TopK;
use super::{docs_table, docs_table_name, storage_error, used_index};
use crate::Limits;
use crate::budget::{Held, QueryBudget, Work};
use crate::error::{DbError, DbResult};
use crate::filter::Filter;
use crate::options::{Direction, Projection, Sort};
use crate::scope::Namespace;

/// What a `find` read and returned.
#[derive(Debug, Clone)]
pub struct Found<T = Value> {
    /// The matching documents, sorted, paged and projected.
    pub docs: Vec<T>,
    /// How many stored documents were read to find them.
    pub examined: u64,
    /// The index used (`_id` for the primary key), or none for a scan.
    pub index: Option<String>,
}

/// A document on its way out: as stored, or as a projection or a sort
/// left it.
pub enum Answer {
    /// The JSON text it is stored as.
    Stored(Vec<u8>),
    /// A value made or kept parsed.
    Value(Value),
}

/// What a find can answer its documents as.
pub trait FromAnswer: Sized {
    /// The document `answer` in this form.
    fn from_answer(answer: Answer) -> DbResult<Self>;
}

impl FromAnswer for Value {
    fn from_answer(answer: Answer) -> DbResult<Value> {
        match answer {
            Answer::Stored(text) => serde_json::from_slice(&text).map_err(storage_error),
            Answer::Value(value) => Ok(value),
        }
    }
}

impl FromAnswer for String {
    fn from_answer(answer: Answer) -> DbResult<String> {
        match answer {
            Answer::Stored(text) => String::from_utf8(text).map_err(storage_error),
            Answer::Value(value) => Ok(value.to_string()),
        }
    }
}

/// One `find`, with everything it needs to run in a read transaction.
pub struct FindQuery {
    /// The collection.
    pub namespace: Namespace,
    /// The documents wanted.
    pub filter: Filter,
    /// Their order.
    pub sort: Sort,
    /// Skip and limit.
    pub page: (u64, Option<u64>),
    /// The fields kept, if not all.
    pub projection: Option<Projection>,
    /// The caller's deadline.
    pub budget: QueryBudget,
}

impl FindQuery {
    /// Runs the query in `txn`. Within `small`, only a read that stays
    /// small: `None` when the plan could read more documents than it
    /// allows whatever is stored, or when the documents read come to more
    /// bytes (the read then stops).
    pub fn run<T: FromAnswer>(
        &self,
        txn: &ReadTransaction,
        limits: &Limits,
        small: Option<Small>,
    ) -> DbResult<Option<Found<T>>> {
        let (mut work, mut held) = (Work::new(self.budget, limits), Held::new(limits));
        let (skip, limit) = self.page;
        let max = u64::from(limits.max_find_documents);
        // One more than the cap, to tell "exactly the cap" from "too many".
        let cap = limit.map_or(max + 1, |limit| limit.min(max + 1));
        let Some(reader) = Reader::open(txn, &self.namespace, &self.filter)? else {
            return Ok(Some(Found {
                docs: Vec::new(),
                examined: 0,
                index: None,
            }));
        };
        // With no sort, a sort by `_id` the plan reads in, or a sort a
        // sortable index gives, the first matches read are the page: stop
        // at its end. Otherwise keep the best skip + limit of every match.
        let by_id = match self.sort.by_id() {
            _ if self.sort.is_empty() => Some(Direction::Ascending),
            Some(direction) if reader.keeps_id_order() => Some(direction),
            _ => None,
        };
        let in_index_order = match by_id {
            Some(_) => None,
            None => reader.index_order(txn, &self.sort)?,
        };
        let ordered = by_id.is_some() || in_index_order.is_some();
        if let Some(small) = small
            && (!ordered || reader.most_read(skip.saturating_add(cap)) > small.documents)
        {
            return Ok(None);
        }
        let answers: Vec<Answer> = if ordered {
            let mut page = Page::new(skip, cap, small.map(|small| small.bytes));
            let offer = |found: Stored| page.offer(found, &mut held);
            match (by_id, &in_index_order) {
                (Some(direction), _) => reader.for_each(direction, &mut work, offer)?,
                (None, Some(order)) => order.for_each(&reader, &mut work, offer)?,
                (None, None) => {}
            }
            if page.too_big {
                return Ok(None);
            }
            page.stored
                .into_iter()
                .map(|found| self.project(found))
                .collect::<DbResult<_>>()?
        } else {
            let mut best = TopK::new(&self.sort, skip.saturating_add(cap));
            reader.for_each(Direction::Ascending, &mut work, |found| {
                let found = found.parsed()?;
                best.offer(found.doc, found.bytes, &mut held)?;
                Ok(true)
            })?;
            let sorted = best.into_sorted().into_iter();
            sorted
                .skip(skip as usize)
                .take(cap as usize)
                .map(|doc| Answer::Value(self.projected(doc)))
                .collect()
        };
        if answers.len() as u64 > max {
            return Err(DbError::TooManyResults(limits.max_find_documents));
        }
        Ok(Some(Found {
            docs: answers
                .into_iter()
                .map(T::from_answer)
                .collect::<DbResult<_>>()?,
            examined: work.examined(),
            index: in_index_order
                .map(|order| order.field)
                .or_else(|| reader.index_used()),
        }))
    }

    /// A match of an ordered read, projected if asked: only then parsed.
    fn project(&self, found: Stored) -> DbResult<Answer> {
        Ok(match &self.projection {
            None => Answer::Stored(found.text),
            Some(projection) => Answer::Value(projection.apply(&found.parsed()?.doc)),
        })
    }

    fn projected(&self, doc: Value) -> Value {
        match &self.projection {
            Some(projection) => projection.apply(&doc),
            None => doc,
        }
    }
}

/// How many documents `filter` matches on `namespace`, in `txn`.
pub fn count(
    txn: &ReadTransaction,
    namespace: &Namespace,
    filter: &Filter,
    work: &mut Work,
) -> DbResult<u64> {
    let Some(reader) = Reader::open(txn, namespace, filter)? else {
        return Ok(0);
    };
    if reader.to_check.is_none() {
        return count_keys(&reader.docs, reader.index.as_ref(), &reader.access, work);
    }
    let mut count = 0;
    reader.for_each(Direction::Ascending, work, |_| {
        count += 1;
        Ok(true)
    })?;
    Ok(count)
}

/// A query's plan in a read transaction, with the tables it reads.
struct Reader<'f> {
    docs: ReadOnlyTable<&'static [u8], &'static [u8]>,
    index: Option<ReadOnlyMultimapTable<&'static [u8], &'static [u8]>>,
    access: Access,
    /// What of the filter is left to check on each document read.
    to_check: Option<&'f Filter>,
    /// The collection's key and indexes, for a sort an index may serve.
    key: String,
    indexes: Vec<IndexSpec>,
}

/// What a read may come to to run on the caller's thread.
#[derive(Debug, Clone, Copy)]
pub struct Small {
    /// The most documents its plan may read, whatever is stored.
    pub documents: u64,
    /// The most bytes of documents it may keep.
    pub bytes: usize,
}

/// The first matches of an ordered read, past its skip, up to its cap.
struct Page {
    skip: u64,
    cap: u64,
    skipped: u64,
    stored: Vec<Stored>,
    bytes: usize,
    /// The most bytes it may keep, for a read that must stay small.
    max_bytes: Option<usize>,
    /// Whether it stopped at `max_bytes`.
    too_big: bool,
}

impl Page {
    fn new(skip: u64, cap: u64, max_bytes: Option<usize>) -> Page {
        Page {
            skip,
            cap,
            skipped: 0,
            stored: Vec::new(),
            bytes: 0,
            max_bytes,
            too_big: false,
        }
    }

    /// Takes the next match in order; says whether to read on.
    fn offer(&mut self, found: Stored, held: &mut Held) -> DbResult<bool> {
        if self.skipped < self.skip {
            self.skipped += 1;
            return Ok(true);
        }
        held.hold(found.bytes())?;
        self.bytes += found.bytes();
        if self.max_bytes.is_some_and(|max| self.bytes > max) {
            self.too_big = true;
            return Ok(false);
        }
        self.stored.push(found);
        Ok((self.stored.len() as u64) < self.cap)
    }
}

/// A read of a sortable index in its key order, for a sort on its field.
struct IndexOrder {
    table: ReadOnlyMultimapTable<&'static [u8], &'static [u8]>,
    field: String,
    ranges: Vec<KeyRange>,
    directions: (Direction, Direction),
}

impl IndexOrder {
    /// Calls `visit` with each match of `reader`'s filter in the index's
    /// order until it returns false.
    fn for_each(
        &self,
        reader: &Reader,
        work: &mut Work,
        visit: impl FnMut(Stored) -> DbResult<bool>,
    ) -> DbResult<()> {
        let (table, ranges, filter) = (&self.table, &self.ranges, reader.to_check);
        for_each_in_index_order(
            &reader.docs,
            table,
            ranges,
            self.directions,
            filter,
            work,
            visit,
        )
    }
}

impl<'f> Reader<'f> {
    /// The plan of `filter` on `namespace`; `None` when the collection has
    /// never been written.
    fn open(
        txn: &ReadTransaction,
        namespace: &Namespace,
        filter: &'f Filter,
    ) -> DbResult<Option<Reader<'f>>> {
        let key = namespace.key();
        let indexes = match txn.open_table(CATALOG) {
            Ok(table) => catalog::load(&table, &key)?,
            Err(TableError::TableDoesNotExist(_)) => Vec::new(),
            Err(err) => return Err(storage_error(err)),
        };
        let docs = match txn.open_table(docs_table(&docs_table_name(namespace))) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(err) => return Err(storage_error(err)),
        };
        let access = plan(filter, &indexes);
        let index = match &access {
            Access::Index { field, .. } => {
                let name = index_table_name(&key, field);
                Some(
                    txn.open_multimap_table(index_table(&name))
                        .map_err(storage_error)?,
                )
            }
            _ => None,
        };
        Ok(Some(Reader {
            docs,
            index,
            to_check: to_check(filter, &access),
            access,
            key,
            indexes,
        }))
    }

    /// The most documents an ordered read can examine, whatever is stored:
    /// one that checks nothing stops at `page_end`; a read of points by
    /// `_id` examines one document a point. Otherwise no bound.
    fn most_read(&self, page_end: u64) -> u64 {
        if self.to_check.is_none() {
            return page_end;
        }
        match &self.access {
            Access::Ids(ranges) if ranges.iter().all(is_point) => ranges.len() as u64,
            _ => u64::MAX,
        }
    }

    /// The in-order read of an index that gives `sort`'s order, when there
    /// is one and the plan reads nothing narrower: the sort is by one field
    /// (then perhaps `_id`), that field has a sortable index, and the plan
    /// is a scan or that same index (whose ranges are kept).
    fn index_order(&self, txn: &ReadTransaction, sort: &Sort) -> DbResult<Option<IndexOrder>> {
        let Some((field, direction, ties)) = sort.by_field() else {
            return Ok(None);
        };
        if !self.indexes.iter().any(|i| i.field == field && i.sortable) {
            return Ok(None);
        }
        let ranges = match &self.access {
            Access::Scan => vec![(Bound::Unbounded, Bound::Unbounded)],
            Access::Index {
                field: planned,
                ranges,
            } if planned == field => ranges.clone(),
            _ => return Ok(None),
        };
        let name = index_table_name(&self.key, field);
        let table = txn
            .open_multimap_table(index_table(&name))
            .map_err(storage_error)?;
        Ok(Some(IndexOrder {
            table,
            field: field.to_string(),
            ranges,
            directions: (direction, ties),
        }))
    }

    /// Whether the plan reads documents in `_id` order (either way): a scan
    /// or an `_id` range does, an index does not.
    fn keeps_id_order(&self) -> bool {
        !matches!(self.access, Access::Index { .. })
    }

    /// Calls `visit` with each match until it returns false, in `_id` order
    /// `direction` first where the plan keeps it.
    fn for_each(
        &self,
        direction: Direction,
        work: &mut Work,
        visit: impl FnMut(Stored) -> DbResult<bool>,
    ) -> DbResult<()> {
        let plan = (&self.access, direction);
        let index = self.index.as_ref();
        for_each_match(&self.docs, index, plan, self.to_check, work, visit)
    }

    /// The index used (`_id` for the primary key), or none for a scan.
    fn index_used(&self) -> Option<String> {
        used_index(&self.access)
    }
}

/// Whether `range` holds one key.
fn is_point(range: &KeyRange) -> bool {
    matches!(range, (Bound::Included(low), Bound::Included(high)) if low == high)
}
