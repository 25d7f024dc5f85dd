//! The cache's errors as the guest receives them: the same kind, the
//! cache's own message.

use modhost_cache::CacheError as StoreError;

use crate::bindings::modhost::module::cache::CacheError;

impl From<StoreError> for CacheError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(m) => CacheError::Unavailable(m),
            StoreError::InvalidKey(m) => CacheError::InvalidKey(m),
            StoreError::ValueTooLarge(m) => CacheError::ValueTooLarge(m),
            StoreError::QuotaExceeded(m) => CacheError::QuotaExceeded(m),
            StoreError::NotANumber(m) => CacheError::NotANumber(m),
            StoreError::InvalidTtl(m) => CacheError::InvalidTtl(m),
        }
    }
}
