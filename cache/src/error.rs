//! What can go wrong with a cache call: always a value, never a trap.

use std::fmt;

/// Why a cache call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheError {
    /// The cache cannot be reached or did not answer in time.
    Unavailable(String),
    /// A key is empty or too long.
    InvalidKey(String),
    /// A value is larger than the module's quota.
    ValueTooLarge(String),
    /// The module made more calls than its quota allows.
    QuotaExceeded(String),
    /// `incr` on a value that is not an integer.
    NotANumber(String),
    /// A TTL longer than [`crate::MAX_TTL`].
    InvalidTtl(String),
}

impl CacheError {
    /// The message, for people.
    pub fn message(&self) -> &str {
        match self {
            CacheError::Unavailable(m)
            | CacheError::InvalidKey(m)
            | CacheError::ValueTooLarge(m)
            | CacheError::QuotaExceeded(m)
            | CacheError::NotANumber(m)
            | CacheError::InvalidTtl(m) => m,
        }
    }
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for CacheError {}

/// `Result` with [`CacheError`].
pub type CacheResult<T> = Result<T, CacheError>;
