//! A segment trie over route patterns. A lookup walks the request's
//! segments down the trie, trying the literal child before the parameter
//! child before a tail at each node, so it meets the matching routes most
//! specific first and its cost depends on the path and the patterns that
//! share its prefix, not on how many routes the table holds.

use std::collections::HashMap;

use super::pattern::{RoutePattern, Segment};

/// The routes of one shape, as indices into the table's routes: routes in
/// one slot differ only by method.
pub(super) type Slot = Vec<usize>;

/// One position in the patterns: what may follow it and what ends there.
#[derive(Debug, Clone, Default)]
struct Node {
    /// Literal next segments.
    literals: HashMap<String, Node>,
    /// A `:name` next segment, whatever its name.
    param: Option<Box<Node>>,
    /// Routes whose pattern ends here.
    exact: Slot,
    /// Routes whose pattern ends here with `...`.
    tail: Slot,
}

/// Every pattern of a route table, by shape.
#[derive(Debug, Clone, Default)]
pub(super) struct Trie {
    root: Node,
}

impl Trie {
    /// The slot of `pattern`'s shape (parameter names do not count),
    /// made if new: where a route with this pattern is kept.
    pub(super) fn slot_mut(&mut self, pattern: &RoutePattern) -> &mut Slot {
        let mut node = &mut self.root;
        for segment in pattern.segments() {
            node = match segment {
                Segment::Literal(text) => node.literals.entry(text.clone()).or_default(),
                Segment::Param(_) => node.param.get_or_insert_default(),
                Segment::Tail => return &mut node.tail,
            };
        }
        &mut node.exact
    }

    /// Offers `visit` the slots whose patterns match `segments`, most
    /// specific first (segment by segment a literal before a parameter
    /// before a tail; a pattern ending with the path before a tail that
    /// matches nothing), until it returns `Some`.
    pub(super) fn find<T>(
        &self,
        segments: &[&str],
        visit: &mut impl FnMut(&Slot) -> Option<T>,
    ) -> Option<T> {
        self.root.find(segments, visit)
    }
}

impl Node {
    /// Each node sits at one depth, so a lookup visits a node at most once.
    fn find<T>(&self, segments: &[&str], visit: &mut impl FnMut(&Slot) -> Option<T>) -> Option<T> {
        let deeper = match segments.split_first() {
            None => visit(&self.exact),
            Some((first, rest)) => {
                let literal = match self.literals.get(*first) {
                    Some(child) => child.find(rest, visit),
                    None => None,
                };
                match (literal, &self.param) {
                    // A parameter takes a segment that is not empty.
                    (None, Some(param)) if !first.is_empty() => param.find(rest, visit),
                    (found, _) => found,
                }
            }
        };
        match deeper {
            Some(found) => Some(found),
            None => visit(&self.tail),
        }
    }
}
