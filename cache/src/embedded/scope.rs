//! One module's entries in the embedded cache: in order of use, with an
//! index by expiry so that expired entries leave (and free their bytes) as
//! soon as the scope is next touched, not only when they are read.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use lru::LruCache;

/// A value and when it expires.
pub(super) struct Entry {
    pub(super) value: Vec<u8>,
    pub(super) expires: Option<Instant>,
}

/// One module's entries and the bytes they count for (see [`size`]).
pub(super) struct Scope {
    entries: LruCache<Arc<str>, Entry>,
    expiries: BTreeSet<(Instant, Arc<str>)>,
    bytes: usize,
    /// The most bytes the scope may hold, as its latest writer said.
    pub(super) max_bytes: usize,
}

/// What an entry costs beyond its key and value: its node in the LRU list
/// and hash table, its place in the expiry index, the key's shared header
/// and the allocator's rounding. Measured by `cache/tests/entry_cost.rs`.
pub const ENTRY_OVERHEAD_BYTES: usize = 256;

/// What an entry counts for: its key (as the module names it), its value
/// and [`ENTRY_OVERHEAD_BYTES`].
pub(super) fn size(key: &str, value: &[u8]) -> usize {
    ENTRY_OVERHEAD_BYTES + key.len() + value.len()
}

impl Scope {
    /// An empty scope that may hold `max_bytes`.
    pub(super) fn new(max_bytes: usize) -> Scope {
        Scope {
            entries: LruCache::unbounded(),
            expiries: BTreeSet::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// The bytes of the entries held, expired or not.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the scope holds no entry.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every entry expired at `now`.
    pub(super) fn drop_expired(&mut self, now: Instant) {
        while let Some((at, key)) = self.expiries.first()
            && *at <= now
        {
            let key = key.clone();
            self.remove(&key);
        }
    }

    /// The entry at `key`, which becomes the most recently used. Expired
    /// entries are only gone after [`Scope::drop_expired`].
    pub(super) fn get(&mut self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Removes `key`; says whether it was there.
    pub(super) fn remove(&mut self, key: &str) -> bool {
        match self.entries.pop_entry(key) {
            Some((key, entry)) => {
                self.forget(&key, &entry);
                true
            }
            None => false,
        }
    }

    /// Removes the least recently used entries until at most `bytes` are
    /// held.
    pub(super) fn shrink_to(&mut self, bytes: usize) {
        while self.bytes > bytes && self.remove_least_recently_used() {}
    }

    /// Removes the least recently used entry; says whether there was one.
    pub(super) fn remove_least_recently_used(&mut self) -> bool {
        match self.entries.pop_lru() {
            Some((key, entry)) => {
                self.forget(&key, &entry);
                true
            }
            None => false,
        }
    }

    /// Stores `entry` under `key`, replacing any entry there, as the most
    /// recently used. Making room is the caller's business.
    pub(super) fn insert(&mut self, key: &str, entry: Entry) {
        self.remove(key);
        self.put(Arc::from(key), entry);
    }

    /// Makes the entry at `key` expire at `at` (never when `None`) and the
    /// most recently used; says whether there is one.
    pub(super) fn set_expiry(&mut self, key: &str, at: Option<Instant>) -> bool {
        let Some((key, entry)) = self.entries.pop_entry(key) else {
            return false;
        };
        self.forget(&key, &entry);
        let value = entry.value;
        self.put(key, Entry { value, expires: at });
        true
    }

    /// Puts an entry whose key is not held on the books.
    fn put(&mut self, key: Arc<str>, entry: Entry) {
        self.bytes += size(&key, &entry.value);
        if let Some(at) = entry.expires {
            self.expiries.insert((at, key.clone()));
        }
        self.entries.put(key, entry);
    }

    /// Takes an entry already out of `entries` off the books.
    fn forget(&mut self, key: &Arc<str>, entry: &Entry) {
        self.bytes -= size(key, &entry.value);
        if let Some(at) = entry.expires {
            self.expiries.remove(&(at, key.clone()));
        }
    }
}
