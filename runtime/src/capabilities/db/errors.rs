//! The store's errors as the guest receives them: the same kind, the
//! store's own message.

use modhost_docstore::DbError as StoreError;

use crate::bindings::modhost::module::db::DbError;

impl From<StoreError> for DbError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::InvalidName(m) => DbError::InvalidName(m),
            StoreError::InvalidFilter(m) => DbError::InvalidFilter(m),
            StoreError::InvalidUpdate(m) => DbError::InvalidUpdate(m),
            StoreError::InvalidDocument(m) => DbError::InvalidDocument(m),
            StoreError::InvalidIndex(m) => DbError::InvalidIndex(m),
            StoreError::DuplicateKey(m) => DbError::DuplicateKey(m),
            StoreError::DocumentTooLarge(m) => DbError::DocumentTooLarge(m),
            StoreError::TooManyResults(limit) => DbError::TooManyResults(limit),
            StoreError::Unavailable(m) => DbError::Unavailable(m),
            StoreError::Backend(m) => DbError::Backend(m),
            StoreError::Timeout(m) => DbError::Timeout(m),
            StoreError::QueryTooLarge(m) => DbError::QueryTooLarge(m),
            StoreError::QuotaExceeded(m) => DbError::QuotaExceeded(m),
        }
    }
}
