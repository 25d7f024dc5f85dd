//! What can go wrong with a database call. Every failure is a value the
//! guest can inspect; none is a trap.

use std::fmt;

/// Why a database call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// A collection name (or the scope around it) is not allowed.
    InvalidName(String),
    /// The filter, sort or projection is malformed or uses an unsupported
    /// operator (named in the message).
    InvalidFilter(String),
    /// The update is malformed or uses an unsupported operator.
    InvalidUpdate(String),
    /// The document is not a JSON object, or has a field MongoDB forbids.
    InvalidDocument(String),
    /// An index cannot be made as asked.
    InvalidIndex(String),
    /// A write would give two documents the same `_id` or the same value of a
    /// unique index.
    DuplicateKey(String),
    /// A document is larger than the configured maximum.
    DocumentTooLarge(String),
    /// More documents match than one `find` may return; the limit is given.
    TooManyResults(u32),
    /// The call ran past the request's deadline; the message says how many
    /// documents it had read. A write that times out changes nothing.
    Timeout(String),
    /// The call would read more documents, or hold more bytes of them at
    /// once, than the store allows; the message names the limit and what to
    /// change. A write refused this way changes nothing.
    QueryTooLarge(String),
    /// The write would take the module's stored bytes over its quota; the
    /// message gives the quota and the use. Nothing was written. Deletes are
    /// always allowed.
    QuotaExceeded(String),
    /// The backend cannot be reached or did not answer in time.
    Unavailable(String),
    /// The backend refused the operation for another reason.
    Backend(String),
    /// A write of a transaction matched other than it expected, so the
    /// transaction was rolled back.
    ExpectationFailed(String),
}

impl DbError {
    /// The message without the kind.
    pub fn message(&self) -> String {
        match self {
            DbError::InvalidName(why)
            | DbError::InvalidFilter(why)
            | DbError::InvalidUpdate(why)
            | DbError::InvalidDocument(why)
            | DbError::InvalidIndex(why)
            | DbError::DuplicateKey(why)
            | DbError::DocumentTooLarge(why)
            | DbError::Timeout(why)
            | DbError::QueryTooLarge(why)
            | DbError::QuotaExceeded(why)
            | DbError::Unavailable(why)
            | DbError::Backend(why)
            | DbError::ExpectationFailed(why) => why.clone(),
            DbError::TooManyResults(limit) => format!(
                "more than {limit} documents match; pass a limit of at most {limit} and page with skip"
            ),
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for DbError {}

/// `Result` with [`DbError`].
pub type DbResult<T> = Result<T, DbError>;

impl AsRef<DbError> for DbError {
    fn as_ref(&self) -> &DbError {
        self
    }
}
