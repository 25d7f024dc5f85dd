//! A tenant's request quota: `[tenants.<t>.quota]` (or `[quota]` for the
//! default tenant's modules) admits `requests_per_second` sustained with
//! bursts of `burst`, and answers the rest 429 before any module is
//! called. Counted by GCRA (one "theoretical arrival time" per tenant):
//! with `scope = "instance"` in this process, with `scope = "global"` in
//! the Redis the cache uses, so several modhost instances behind a load
//! balancer share one quota. Should that Redis not answer, requests are
//! admitted (the quota must not make Redis a single point of failure for
//! every tenant) and the readiness probe reports Redis down.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use modhost_cache::RedisCache;
use serde::Deserialize;

/// `[tenants.<t>.quota]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Requests admitted per second, sustained.
    pub requests_per_second: u32,
    /// Requests admitted at once after a quiet spell; `requests_per_second`
    /// when not set.
    pub burst: Option<u32>,
    /// Where requests are counted.
    #[serde(default)]
    pub scope: QuotaScope,
}

/// Where a quota counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaScope {
    /// In this process: each instance admits the whole rate.
    #[default]
    Instance,
    /// In the shared Redis: all instances together admit the rate.
    Global,
}

/// The most `requests_per_second` or `burst` may be.
const MAX_RATE: u32 = 1_000_000;

/// One tenant's quota, ready to count.
pub struct TenantQuota {
    /// Time between two admitted requests at the sustained rate.
    interval: Duration,
    /// How far ahead of now the arrival time may run: `burst - 1` intervals.
    tolerance: Duration,
    counter: Counter,
}

enum Counter {
    /// This process's theoretical arrival time.
    Instance(Mutex<Instant>),
    /// The key holding it in the shared Redis.
    Global { redis: RedisCache, key: String },
}

impl TenantQuota {
    /// The quota `config` of `tenant` (the error names `key` in `file`);
    /// a global one counts in `redis` (`(cache, key_prefix)`), which it
    /// needs.
    pub fn new(
        config: &QuotaConfig,
        tenant: &str,
        redis: Option<(&RedisCache, &str)>,
        key: &str,
        file: &str,
    ) -> Result<Self> {
        let burst = config.burst.unwrap_or(config.requests_per_second);
        if !(1..=MAX_RATE).contains(&config.requests_per_second) || !(1..=MAX_RATE).contains(&burst)
        {
            bail!("{file}: {key}: requests_per_second and burst must be 1 to {MAX_RATE}");
        }
        let interval = Duration::from_secs(1) / config.requests_per_second;
        let counter = match (config.scope, redis) {
            (QuotaScope::Instance, _) => Counter::Instance(Mutex::new(Instant::now())),
            (QuotaScope::Global, Some((redis, prefix))) => Counter::Global {
                redis: redis.clone(),
                // `!` is in no tenant or module name: no module key can be it.
                key: format!("{prefix}:!quota:{tenant}"),
            },
            (QuotaScope::Global, None) => bail!(
                "{file}: {key}.scope = \"global\" counts in the shared Redis, and cache.backend is not \"redis\"; set [cache] backend = \"redis\" and url, or scope = \"instance\""
            ),
        };
        Ok(Self {
            interval,
            tolerance: interval * (burst - 1),
            counter,
        })
    }

    /// Whether one more request is admitted now.
    pub async fn admit(&self) -> bool {
        match &self.counter {
            Counter::Instance(arrival) => {
                let now = Instant::now();
                let mut arrival = arrival
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let at = (*arrival).max(now);
                if at - now > self.tolerance {
                    return false;
                }
                *arrival = at + self.interval;
                true
            }
            Counter::Global { redis, key } => {
                let interval = self.interval.as_micros() as u64;
                let tolerance = self.tolerance.as_micros() as u64;
                match redis.admit_rate(key, interval, tolerance).await {
                    Ok(admitted) => admitted,
                    Err(err) => {
                        tracing::warn!(%key, "the global quota could not be counted; admitting: {err}");
                        true
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(requests_per_second: u32, burst: Option<u32>) -> TenantQuota {
        let config = QuotaConfig {
            requests_per_second,
            burst,
            scope: QuotaScope::Instance,
        };
        TenantQuota::new(&config, "t", None, "tenants.t.quota", "runtime.toml").unwrap()
    }

    #[tokio::test]
    async fn a_burst_is_admitted_then_the_sustained_rate() {
        let five = quota(5, None);
        for _ in 0..5 {
            assert!(five.admit().await);
        }
        assert!(!five.admit().await, "past the burst");
        tokio::time::sleep(Duration::from_millis(210)).await;
        assert!(five.admit().await, "one interval later, one more");
        assert!(!five.admit().await);

        let burst_two = quota(1000, Some(2));
        assert!(burst_two.admit().await && burst_two.admit().await);
        assert!(!burst_two.admit().await);
    }

    #[test]
    fn a_global_quota_without_redis_or_a_zero_rate_is_refused_naming_the_key() {
        let global = QuotaConfig {
            requests_per_second: 10,
            burst: None,
            scope: QuotaScope::Global,
        };
        let err = TenantQuota::new(&global, "t", None, "tenants.t.quota", "runtime.toml")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("tenants.t.quota.scope") && err.contains("cache.backend"),
            "{err}"
        );
        let zero = QuotaConfig {
            requests_per_second: 0,
            ..global
        };
        let err = TenantQuota::new(&zero, "t", None, "quota", "runtime.toml")
            .err()
            .unwrap();
        assert!(err.to_string().contains("must be 1 to"), "{err}");
    }
}
