//! The guest's memory allocator.
//!
//! Every call runs in a fresh instance, so every call starts with an empty
//! heap. Rust's default wasm allocator (dlmalloc) ignores the free part of the
//! initial linear memory and grows memory on its first allocation; the host
//! then has to map more memory in and, when the instance is recycled, take it
//! away again, on every request. This allocator is talc (a general-purpose
//! allocator that frees and reuses) fed first with the free part of the
//! initial memory, from `__heap_base` to its end, and only then with pages
//! from `memory.grow`. Modules link with a larger initial memory (see
//! scripts/build-guests) so that a typical request never grows memory.

use core::alloc::Layout;

use talc::{OomHandler, Span, Talc, Talck, locking::AssumeUnlockable};

/// The size of a wasm page.
const PAGE_SIZE: usize = 64 * 1024;

unsafe extern "C" {
    /// Set by the linker: the first byte after the stack and static data.
    static __heap_base: u8;
}

/// Hands talc the initial memory's free tail first, then grown pages.
pub struct InitialMemoryThenGrow {
    /// The heap talc manages so far; empty until the first allocation.
    heap: Span,
}

impl OomHandler for InitialMemoryThenGrow {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        let memory_end = core::arch::wasm32::memory_size::<0>() * PAGE_SIZE;
        if talc.oom_handler.heap.is_empty() {
            let base = (&raw const __heap_base).cast_mut();
            let end = memory_end as *mut u8;
            // A tail too small to hold talc's metadata is left unused.
            if let Ok(heap) = unsafe { talc.claim(Span::new(base, end)) } {
                talc.oom_handler.heap = heap;
                return Ok(());
            }
        }
        // Grow by what this allocation needs (plus talc's bookkeeping).
        let needed = layout.size() + layout.align() + 64;
        let pages = needed.div_ceil(PAGE_SIZE);
        let previous = core::arch::wasm32::memory_grow::<0>(pages);
        if previous == usize::MAX {
            return Err(());
        }
        let grown_start = (previous * PAGE_SIZE) as *mut u8;
        let grown_end = grown_start.wrapping_add(pages * PAGE_SIZE);
        let heap = talc.oom_handler.heap;
        talc.oom_handler.heap = match heap.get_base_acme() {
            // Memory grows at its end, so the new pages extend the heap.
            Some((base, acme)) if acme == grown_start => unsafe {
                talc.extend(heap, Span::new(base, grown_end))
            },
            _ => unsafe { talc.claim(Span::new(grown_start, grown_end))? },
        };
        Ok(())
    }
}

// Safety: a wasm32-unknown-unknown guest has one thread, so the lock that
// `AssumeUnlockable` leaves out can never be contended.
#[global_allocator]
static ALLOCATOR: Talck<AssumeUnlockable, InitialMemoryThenGrow> =
    Talc::new(InitialMemoryThenGrow {
        heap: Span::empty(),
    })
    .lock();
