//! What the config lets the host hold at once, worked out before anything
//! starts: the size of the instance pool (so every slot a module's admission
//! hands out has an instance behind it) and the host's worst-case memory,
//! which `modhost check` prints.

use serde::Serialize;

use crate::config::{CacheBackend, RuntimeConfig};
use crate::pool_config::PoolConfig;

/// The stack of a guest's fiber (wasmtime's default async stack).
const FIBER_STACK_BYTES: u64 = 2 << 20;

/// What hyper keeps per open connection at most (its read buffer's cap
/// plus the connection's state), counted for every allowed connection.
const CONNECTION_BYTES: u64 = 416 << 10;

/// The runtime itself: code, the engine, tokio, compiled guests' metadata.
const BASE_BYTES: u64 = 96 << 20;

/// Compiled code and its metadata per byte of component, a generous ratio
/// measured on the example guests (machine code is larger than wasm).
const COMPILED_BYTES_PER_COMPONENT_BYTE: u64 = 4;

/// Parsed JSON documents take a few times their text in memory.
const JSON_EXPANSION: u64 = 3;

/// The sizes the host is built for.
#[derive(Debug, Clone, Serialize)]
pub struct HostCapacity {
    /// Component instances the modules may run at once: every module's
    /// concurrency, plus one for the start-up calls, which run one at a
    /// time before serving.
    pub instances: u32,
    /// Component instances the pool holds: `instances` and the slots kept
    /// for reloads (`[pool] reload_instances`).
    pub pool_instances: u32,
    /// The largest linear memory any module may grow to.
    pub max_memory_bytes: usize,
    /// What one slot holds (`[pool]`).
    pub pool: PoolConfig,
    /// The most memory the host can use, in parts.
    pub memory: MemoryBound,
}

/// The host's worst-case memory, by what holds it.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryBound {
    /// Every module's instances at its memory limit and their fiber stacks.
    pub guest_bytes: u64,
    /// A request body on every allowed connection.
    pub request_body_bytes: u64,
    /// Connection buffers at the connection cap.
    pub connection_bytes: u64,
    /// Documents held by database queries of every running call.
    pub query_bytes: u64,
    /// The embedded cache, with the allocator's rounding (0 with Redis).
    pub cache_bytes: u64,
    /// The runtime and the compiled components.
    pub runtime_bytes: u64,
    /// The sum: what `modhost check` prints as the bound.
    pub total_bytes: u64,
}

impl HostCapacity {
    /// The capacity `config` asks for; `component_bytes` is the size of the
    /// component files on disk (0 where unknown).
    pub fn of(config: &RuntimeConfig, component_bytes: u64) -> HostCapacity {
        let modules = config.all_module_limits();
        let concurrency: u64 = modules.iter().map(|l| u64::from(l.max_concurrency)).sum();
        let guest_bytes = modules
            .iter()
            .map(|l| u64::from(l.max_concurrency) * (l.memory_bytes as u64 + FIBER_STACK_BYTES))
            .sum::<u64>();
        let cache_bytes = match config.cache.backend {
            // Its size counts each entry's structures (checked against the
            // heap by cache/tests/entry_cost.rs); a quarter more covers the
            // allocator's rounding.
            CacheBackend::Embedded => {
                let max = config.cache.max_bytes as u64;
                max.saturating_add(max / 4)
            }
            CacheBackend::Redis => 0,
        };
        let mut memory = MemoryBound {
            guest_bytes,
            // A connection carries one request at a time, whose body is
            // read before it queues for a slot.
            request_body_bytes: (config.server.max_connections as u64)
                .saturating_mul(config.server.max_body_bytes as u64),
            connection_bytes: (config.server.max_connections as u64)
                .saturating_mul(CONNECTION_BYTES),
            query_bytes: concurrency
                .saturating_mul(config.db.max_query_bytes as u64)
                .saturating_mul(JSON_EXPANSION),
            cache_bytes,
            runtime_bytes: BASE_BYTES
                .saturating_add(component_bytes.saturating_mul(COMPILED_BYTES_PER_COMPONENT_BYTE)),
            total_bytes: 0,
        };
        memory.total_bytes = [
            memory.guest_bytes,
            memory.request_body_bytes,
            memory.connection_bytes,
            memory.query_bytes,
            memory.cache_bytes,
            memory.runtime_bytes,
        ]
        .into_iter()
        .fold(0, u64::saturating_add);
        let instances = u32::try_from(concurrency + 1).unwrap_or(u32::MAX);
        let spare = config
            .pool
            .reload_instances
            .unwrap_or_else(|| u32::try_from(concurrency).unwrap_or(u32::MAX));
        HostCapacity {
            instances,
            pool_instances: instances.saturating_add(spare),
            max_memory_bytes: modules
                .iter()
                .map(|l| l.memory_bytes)
                .max()
                .unwrap_or(1 << 16),
            pool: config.pool.clone(),
            memory,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_pool_holds_every_modules_slots_and_one_for_start_up() {
        let text = "[sandbox]\nmax_concurrency = 3\nmemory_bytes = 1048576\n\
                    [modules.a]\npath = \"a.wasm\"\n\
                    [modules.b]\npath = \"b.wasm\"\n[modules.b.limits]\nmax_concurrency = 5\nmemory_bytes = 2097152\n";
        let config = RuntimeConfig::parse(text, Path::new("/x/runtime.toml")).unwrap();
        let capacity = HostCapacity::of(&config, 0);
        assert_eq!(capacity.instances, 3 + 5 + 1);
        assert_eq!(
            capacity.pool_instances,
            2 * (3 + 5) + 1,
            "as many again for reloads"
        );
        let fixed = format!("{text}[pool]\nreload_instances = 2\n");
        let config = RuntimeConfig::parse(&fixed, Path::new("/x/runtime.toml")).unwrap();
        assert_eq!(HostCapacity::of(&config, 0).pool_instances, 3 + 5 + 1 + 2);
        assert_eq!(capacity.max_memory_bytes, 2 << 20);
        let guests = 3 * ((1 << 20) + FIBER_STACK_BYTES) + 5 * ((2 << 20) + FIBER_STACK_BYTES);
        assert_eq!(capacity.memory.guest_bytes, guests);
        assert!(capacity.memory.total_bytes > guests);
    }
}
