//! `[pool]`: the shape of one instance slot in wasmtime's pooling
//! allocator. How many slots there are follows from the modules'
//! `max_concurrency` (capacity.rs); what one slot holds is set here, for
//! components that need more than a Rust guest (componentize-py and -js
//! components have more core instances, memories and tables) or a host
//! that wants less address space or resident memory per slot.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// The most any per-component count may be.
const MAX_PER_COMPONENT: u32 = 1_000;
/// The most memory a recycled slot may keep mapped.
const MAX_KEEP_RESIDENT_BYTES: usize = 64 << 20;

/// `[pool]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Core instances one component instance may hold (a Rust guest has 3).
    pub core_instances_per_component: u32,
    /// Linear memories one component instance may hold (a Rust guest has 1).
    pub memories_per_component: u32,
    /// Tables one component instance may hold.
    pub tables_per_component: u32,
    /// Bytes of a slot's memory kept mapped, and zeroed, when the slot is
    /// recycled: the pages a small guest touches on every request stay
    /// resident instead of faulting in again.
    pub keep_resident_bytes: usize,
    /// Slots kept beyond those the modules' `max_concurrency` add up to,
    /// for reloads: the modules a reload adds, and the calls of a module
    /// whose concurrency changed that the old set still runs while the new
    /// one serves. None: as many as the modules use (a reload may then
    /// add as many again).
    pub reload_instances: Option<u32>,
}

/// The most `reload_instances` may be.
const MAX_RELOAD_INSTANCES: u32 = 1_000_000;

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            core_instances_per_component: 16,
            memories_per_component: 4,
            tables_per_component: 8,
            keep_resident_bytes: 1 << 20,
            reload_instances: None,
        }
    }
}

impl PoolConfig {
    /// Checks each value's range; the error names the file and the key.
    pub fn validate(&self, file: &str) -> Result<()> {
        let counts = [
            (
                "core_instances_per_component",
                self.core_instances_per_component,
            ),
            ("memories_per_component", self.memories_per_component),
            ("tables_per_component", self.tables_per_component),
        ];
        for (key, value) in counts {
            if !(1..=MAX_PER_COMPONENT).contains(&value) {
                bail!("{file}: pool.{key} is {value}; it must be 1 to {MAX_PER_COMPONENT}");
            }
        }
        if let Some(spare) = self.reload_instances
            && spare > MAX_RELOAD_INSTANCES
        {
            bail!(
                "{file}: pool.reload_instances is {spare}; it must be at most {MAX_RELOAD_INSTANCES}"
            );
        }
        if self.keep_resident_bytes > MAX_KEEP_RESIDENT_BYTES {
            bail!(
                "{file}: pool.keep_resident_bytes is {}; it must be at most {MAX_KEEP_RESIDENT_BYTES} (64 MiB)",
                self.keep_resident_bytes
            );
        }
        Ok(())
    }
}
