//! The store's errors as the guest receives them: the same kind, the
//! store's own message (written once, in the store).

use modhost_docstore::DbError as StoreError;

use crate::bindings::modhost::module::db::DbError;

impl From<StoreError> for DbError {
    fn from(err: StoreError) -> Self {
        let message = err.message();
        match err {
            StoreError::InvalidName(_) => DbError::InvalidName(message),
            StoreError::InvalidFilter(_) => DbError::InvalidFilter(message),
            StoreError::InvalidUpdate(_) => DbError::InvalidUpdate(message),
            StoreError::InvalidDocument(_) => DbError::InvalidDocument(message),
            StoreError::InvalidIndex(_) => DbError::InvalidIndex(message),
            StoreError::DuplicateKey(_) => DbError::DuplicateKey(message),
            StoreError::DocumentTooLarge(_) => DbError::DocumentTooLarge(message),
            StoreError::TooManyResults(_) => DbError::TooManyResults(message),
            StoreError::Unavailable(_) => DbError::Unavailable(message),
            StoreError::Backend(_) => DbError::Backend(message),
            StoreError::Timeout(_) => DbError::Timeout(message),
            StoreError::QueryTooLarge(_) => DbError::QueryTooLarge(message),
            StoreError::QuotaExceeded(_) => DbError::QuotaExceeded(message),
            StoreError::ExpectationFailed(_) => DbError::ExpectationFailed(message),
        }
    }
}
