//! From a request's method and path to the module and route that serve it.

mod pattern;
mod table;
mod trie;

pub use pattern::RoutePattern;
pub use table::{DeclaredRoute, Lookup, RouteMatch, RouteTable};
