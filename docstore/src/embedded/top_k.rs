//! The first `k` matches of a sorted `find`, kept as the scan goes rather
//! than sorting every match: a sorted find holds at most its skip plus its
//! limit. Ties keep scan order, so the result is that of a stable sort of
//! every match.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde_json::Value;

use crate::budget::Held;
use crate::error::DbResult;
use crate::options::Sort;

/// The `k` first documents seen so far in sort order.
pub struct TopK<'s> {
    sort: &'s Sort,
    k: u64,
    seen: u64,
    /// A max-heap: its top is the last of those kept.
    kept: BinaryHeap<Ranked<'s>>,
}

/// A kept document with its place in scan order.
struct Ranked<'s> {
    sort: &'s Sort,
    seen: u64,
    bytes: usize,
    doc: Value,
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort
            .compare(&self.doc, &other.doc)
            .then(self.seen.cmp(&other.seen))
    }
}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ranked<'_> {}

impl<'s> TopK<'s> {
    /// Keeps the first `k` in `sort` order.
    pub fn new(sort: &'s Sort, k: u64) -> TopK<'s> {
        TopK {
            sort,
            k,
            seen: 0,
            kept: BinaryHeap::new(),
        }
    }

    /// Offers the next match, of `bytes` stored bytes: kept when it is among
    /// the first `k` so far, and the one it displaces is dropped. Fails when
    /// the kept documents are more than `held` allows.
    pub fn offer(&mut self, doc: Value, bytes: usize, held: &mut Held) -> DbResult<()> {
        let entry = Ranked {
            sort: self.sort,
            seen: self.seen,
            bytes,
            doc,
        };
        self.seen += 1;
        if self.kept.len() as u64 >= self.k {
            match self.kept.peek_mut() {
                // Seen last, it ranks after every kept one it ties with.
                Some(mut last) if entry < *last => {
                    held.release(last.bytes);
                    held.hold(bytes)?;
                    *last = entry;
                }
                _ => {}
            }
            return Ok(());
        }
        held.hold(bytes)?;
        self.kept.push(entry);
        Ok(())
    }

    /// The kept documents, first first.
    pub fn into_sorted(self) -> Vec<Value> {
        self.kept
            .into_sorted_vec()
            .into_iter()
            .map(|ranked| ranked.doc)
            .collect()
    }
}
