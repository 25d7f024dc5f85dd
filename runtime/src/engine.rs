//! The one wasmtime engine of the process: async calls, a pooling allocator
//! so a fresh instance per request is cheap, and an epoch clock that lets a
//! call's deadline interrupt a guest that never returns.

use std::time::Duration;

use anyhow::Result;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are rounded up to this.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The largest linear memory any guest may grow to. Per-module limits come
/// below it; the pool reserves address space for this much per memory.
pub const MAX_MEMORY_BYTES: usize = 256 << 20;

/// Memory kept mapped (and zeroed) when an instance slot is recycled: as much
/// as a small guest's whole initial memory (see scripts/build-guests).
const KEEP_RESIDENT_MEMORY_BYTES: usize = 1 << 20;

/// Table bytes kept mapped (and zeroed) when an instance slot is recycled.
const KEEP_RESIDENT_TABLE_BYTES: usize = 64 << 10;

/// How many instances may be alive at once across all modules.
const MAX_CONCURRENT_INSTANCES: u32 = 1000;

/// Builds the engine and starts the thread that advances its epoch.
pub fn build_engine() -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_CONCURRENT_INSTANCES)
        .total_core_instances(MAX_CONCURRENT_INSTANCES * 2)
        .total_memories(MAX_CONCURRENT_INSTANCES * 2)
        .total_tables(MAX_CONCURRENT_INSTANCES * 2)
        .total_stacks(MAX_CONCURRENT_INSTANCES)
        .max_memory_size(MAX_MEMORY_BYTES)
        // Recycling an instance slot zeroes this much of its memory and
        // tables with memset, keeping the pages mapped, instead of madvise:
        // that avoids a page fault per touched page on the next request and
        // a TLB shootdown across cores per request (see README, performance).
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY_BYTES)
        .table_keep_resident(KEEP_RESIDENT_TABLE_BYTES)
        // On Linux 6.7+ the PAGEMAP_SCAN ioctl tells which of those pages
        // the call actually wrote, so only those are reset instead of the
        // whole initial memory (README, performance). Older kernels fall
        // back to the memset.
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// The number of epoch ticks that covers `timeout`, plus one because the
/// current tick is already partly over.
pub fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_millis().max(1);
    u64::try_from(timeout.as_millis().div_ceil(tick)).unwrap_or(u64::MAX) + 1
}

fn start_epoch_ticker(engine: &Engine) {
    // A weak handle: the thread ends once the engine is dropped.
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("modhost-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("the OS can start one thread at startup");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_whole_ticks_plus_one() {
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 2);
        assert_eq!(deadline_ticks(Duration::from_millis(10)), 2);
        assert_eq!(deadline_ticks(Duration::from_millis(25)), 4);
    }
}
