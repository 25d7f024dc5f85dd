//! The one wasmtime engine of the process: async calls, a pooling allocator
//! sized from the config so a fresh instance per request is cheap, and an
//! epoch clock whose every tick makes a running guest yield its thread (and
//! lets a call's budget stop a guest that never returns).

use std::time::Duration;

use anyhow::{Result, anyhow};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::capacity::HostCapacity;

/// How often the epoch advances: the longest a guest runs before it yields
/// its worker thread to other tasks, and the granularity of CPU limits.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Table bytes kept mapped (and zeroed) when an instance slot is recycled.
const KEEP_RESIDENT_TABLE_BYTES: usize = 64 << 10;

/// Builds the engine with a pool of `capacity`'s size and starts the thread
/// that advances its epoch.
pub fn build_engine(capacity: &HostCapacity) -> Result<Engine> {
    let instances = capacity.pool_instances;
    let shape = &capacity.pool;
    let memories = instances.saturating_mul(shape.memories_per_component);
    let mut pool = PoolingAllocationConfig::default();
    // Every module's admission slots fit in these totals (see capacity.rs),
    // and no component instance may take more than its slot's share, so
    // the pool never refuses an instance a module was admitted for (a
    // component that needs more than `[pool]` gives fails to load).
    pool.total_component_instances(instances)
        .max_core_instances_per_component(shape.core_instances_per_component)
        .max_memories_per_component(shape.memories_per_component)
        .max_tables_per_component(shape.tables_per_component)
        .total_core_instances(instances.saturating_mul(shape.core_instances_per_component))
        .total_memories(memories)
        .total_tables(instances.saturating_mul(shape.tables_per_component))
        .total_stacks(instances)
        .max_memory_size(capacity.max_memory_bytes)
        // A slot last used by one module keeps that module's memory image
        // mapped; handing it to another means mapping the other's image
        // (mmap, a TLB shootdown, page faults). Every slot may stay warm, so
        // a module whose slots are all busy takes a cold slot before it
        // takes another module's (see README, many modules).
        .max_unused_warm_slots(memories)
        // Recycling an instance slot zeroes this much of its memory and
        // tables with memset, keeping the pages mapped, instead of madvise:
        // that avoids a page fault per touched page on the next request and
        // a TLB shootdown across cores per request (see README, performance).
        .linear_memory_keep_resident(shape.keep_resident_bytes)
        .table_keep_resident(KEEP_RESIDENT_TABLE_BYTES)
        // On Linux 6.7+ the PAGEMAP_SCAN ioctl tells which of those pages
        // the call actually wrote, so only those are reset instead of the
        // whole initial memory (README, performance). Older kernels fall
        // back to the memset.
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    if needs_small_reservations(memories) {
        // Each memory slot reserves only what its module may use: the
        // compiled code checks bounds itself instead of relying on a 4 GiB
        // guard region (a few percent of guest CPU; README, many modules).
        config.memory_reservation(capacity.max_memory_bytes as u64);
    }
    config
        .epoch_interruption(true)
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // The pool reserves address space for every slot up front; a config
    // asking for more than the machine has fails here, said plainly.
    let engine = Engine::new(&config).map_err(|err| {
        anyhow!(
            "the instance pool for {instances} instances with up to {} MiB of memory each cannot be reserved ({err}); lower max_concurrency or memory_bytes under [sandbox] or [modules.<name>.limits], or the per-component counts under [pool]",
            capacity.max_memory_bytes >> 20
        )
    })?;
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Address space the memory pool may take with wasmtime's default slots
/// (a 4 GiB reservation and a 32 MiB guard each, so that compiled code
/// needs no bounds checks): half of x86-64's 128 TiB of user space.
const DEFAULT_SLOTS_ADDRESS_SPACE: u64 = 64 << 40;
const DEFAULT_SLOT_BYTES: u64 = (4 << 30) + (32 << 20);

/// Whether `memories` memory slots at the default size would take more
/// address space than the pool may: a host of many modules (about 4,000
/// instance slots or more at the default `[pool]`).
fn needs_small_reservations(memories: u32) -> bool {
    u64::from(memories).saturating_mul(DEFAULT_SLOT_BYTES) > DEFAULT_SLOTS_ADDRESS_SPACE
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
