//! The cache benchmark, on each backend: `n` sets of 100 bytes, then `n`
//! gets, one call each. Redis is `MODHOST_BENCH_REDIS_URL`, by default
//! `redis://127.0.0.1:6379`; the benchmark's keys are deleted afterwards.

use std::path::Path;
use std::time::{Duration, Instant};

use modhost_cache::{CacheStore, EmbeddedCache, Quotas, RedisCache, ScopedCache};

use crate::server::Server;
use crate::{per_second, ratio_row, row};

const VALUE: [u8; 100] = [7; 100];
const PREFIX: &str = "modhost-bench";

/// Measures and prints.
pub fn run(modhost: &Path, guest: &Path, calls: u64) {
    let url = std::env::var("MODHOST_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // The Redis connection manager needs a runtime around it when made.
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let _context = runtime.enter();
    println!("cache, {calls} sets of 100 bytes then {calls} gets, one call each");
    println!("{:<28}{:>14}{:>14}", "", "set/s", "get/s");
    for (backend, section) in [
        ("embedded", String::new()),
        ("redis", format!("backend = \"redis\"\nurl = \"{url}\"\n")),
    ] {
        let store = match backend {
            "embedded" => CacheStore::Embedded(EmbeddedCache::new(64 << 20)),
            _ => CacheStore::Redis(
                RedisCache::connect(&url, Duration::from_secs(2)).expect("a Redis URL"),
            ),
        };
        let direct = direct(&runtime, store, calls);
        let config = format!(
            "[cache]\nkey_prefix = \"{PREFIX}\"\nmax_ops_per_second = 100000000\n{section}"
        );
        let through_guest = through_guest(modhost, guest, &config, calls);
        row(&format!("{backend}: direct from Rust"), &direct);
        row(&format!("{backend}: through a guest"), &through_guest);
        ratio_row(
            &format!("{backend}: ratio guest / direct"),
            &through_guest,
            &direct,
        );
    }
    clean_up(&runtime, &url, calls);
}

/// The calls from a task on the runtime's worker threads, where the
/// runtime's own host calls run.
fn direct(runtime: &tokio::runtime::Runtime, store: CacheStore, calls: u64) -> Vec<f64> {
    let task = runtime.spawn(async move {
        let quotas = Quotas {
            max_value_bytes: 1 << 20,
            max_bytes: 64 << 20,
            max_ops_per_second: u32::MAX,
        };
        let cache = ScopedCache::new(store, PREFIX, "default", "direct", quotas).unwrap();
        let started = Instant::now();
        for i in 0..calls {
            cache
                .set(&format!("key-{i}"), VALUE.to_vec(), None)
                .await
                .unwrap();
        }
        let set_rate = per_second(calls, started.elapsed());
        let started = Instant::now();
        for i in 0..calls {
            assert!(cache.get(&format!("key-{i}")).await.unwrap().is_some());
        }
        vec![set_rate, per_second(calls, started.elapsed())]
    });
    runtime.block_on(task).expect("the benchmark task")
}

fn through_guest(modhost: &Path, guest: &Path, config: &str, calls: u64) -> Vec<f64> {
    let server = Server::start(modhost, guest, "cache_bench_module", config);
    let started = Instant::now();
    let set = server.request("POST", &format!("/cache-bench/set/{calls}"));
    let set_rate = per_second(calls, started.elapsed());
    assert!(set.ends_with(&format!("set {calls}")), "{set}");
    let started = Instant::now();
    let got = server.request("GET", &format!("/cache-bench/get/{calls}"));
    let get_rate = per_second(calls, started.elapsed());
    assert!(got.ends_with(&format!("found {calls}")), "{got}");
    vec![set_rate, get_rate]
}

/// Deletes the benchmark's keys from Redis.
fn clean_up(runtime: &tokio::runtime::Runtime, url: &str, calls: u64) {
    runtime.block_on(async {
        let redis = RedisCache::connect(url, Duration::from_secs(2)).expect("a Redis URL");
        let quotas = Quotas {
            max_value_bytes: 1 << 20,
            max_bytes: 64 << 20,
            max_ops_per_second: u32::MAX,
        };
        for module in ["direct", "cache_bench_module"] {
            let cache = ScopedCache::new(
                CacheStore::Redis(redis.clone()),
                PREFIX,
                "default",
                module,
                quotas,
            )
            .unwrap();
            for i in 0..calls {
                cache.delete(&format!("key-{i}")).await.unwrap();
            }
        }
    });
}
