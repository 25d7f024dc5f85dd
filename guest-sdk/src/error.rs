//! The error a handler returns: an HTTP status and a message for the client.

use std::fmt;

/// A failed request: the status to answer with and a message for the client.
///
/// The SDK turns it into `{"error": <message>, "request_id": <id>}`, the same
/// shape the host uses for its own errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: u16,
    message: String,
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with any status; `status` should be 4xx or 5xx.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is malformed or misses a field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 404: the thing asked for does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    /// 500: the module itself failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The message for the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for Error {}

/// An error value of a host interface ([`DbError`], [`CacheError`],
/// [`CallError`], [`AuthError`]): the host's message, written once by the host, and the
/// HTTP status the SDK answers with when a handler returns it with `?`.
/// (The WIT bindings derive `Display` from `Debug` for these types, so the
/// words are here, as [`HostError::message`].)
///
/// [`DbError`]: crate::db::DbError
/// [`CacheError`]: crate::cache::CacheError
/// [`CallError`]: crate::modules::CallError
/// [`AuthError`]: crate::auth::AuthError
pub trait HostError {
    /// What went wrong, in the host's words.
    fn message(&self) -> &str;

    /// The HTTP status this error answers with.
    fn status(&self) -> u16;
}

/// Every host error becomes an [`Error`] with its status and message.
impl<E: HostError> From<E> for Error {
    fn from(err: E) -> Self {
        Error::new(err.status(), err.message())
    }
}

/// Serialising a module's own value failed: that is the module's fault, a 500.
impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Self::internal(format!("could not encode JSON: {err}"))
    }
}

/// Checks that each error of `cases` becomes an [`Error`] with its status
/// and the message "why".
#[cfg(test)]
pub(crate) fn assert_statuses<E: HostError>(cases: impl IntoIterator<Item = (E, u16)>) {
    for (err, status) in cases {
        let error: Error = err.into();
        assert_eq!((error.status(), error.message()), (status, "why"));
    }
}
