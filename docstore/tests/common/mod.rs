//! What the embedded store's own tests share: small limits and no deadline.

use modhost_docstore::{Limits, QueryBudget};

/// Limits small enough that no test needs more.
pub const LIMITS: Limits = Limits {
    max_document_bytes: 4096,
    max_find_documents: 1000,
    max_query_bytes: 1 << 20,
    max_examined_documents: 10_000,
};

/// A call with no deadline of its own.
pub const NO_DEADLINE: QueryBudget = QueryBudget { deadline: None };
