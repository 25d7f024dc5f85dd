//! The embedded cache's byte accounting covers what an entry really costs
//! on the heap: a module of many tiny entries cannot hold more memory than
//! its quota says. Measured with a counting allocator, at the entry count
//! just past a hash-table growth (where the table's share per entry peaks).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use modhost_cache::{ENTRY_OVERHEAD_BYTES, EmbeddedCache};

/// The system allocator, counting the bytes live on the heap.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn an_entry_is_charged_at_least_what_it_holds_on_the_heap() {
    // Just past 7/8 of 16,384 buckets: the table has doubled to 32,768.
    let entries = 14_400;
    let cache = EmbeddedCache::new(usize::MAX);
    let scope = "tenant/module";
    cache
        .set_many(scope, usize::MAX, vec![("first".into(), vec![0])], None)
        .unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..entries {
        // Each with a TTL: the expiry index is part of the cost.
        let entry = (format!("k{i}"), vec![0; 1]);
        cache
            .set_many(
                scope,
                usize::MAX,
                vec![entry],
                Some(Duration::from_secs(600)),
            )
            .unwrap();
    }
    let held = (LIVE.load(Ordering::Relaxed) - before) as usize;
    let charged = cache.used_bytes(scope) - (ENTRY_OVERHEAD_BYTES + "first".len() + 1);
    assert_eq!(ENTRY_OVERHEAD_BYTES, 256, "the figure the README gives");
    assert!(
        held <= charged,
        "{entries} entries hold {held} bytes on the heap but are charged {charged}"
    );
}
