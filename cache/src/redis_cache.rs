//! The Redis backend: a connection manager that connects on first use and
//! reconnects by itself; every call is bounded by the configured timeout,
//! so a Redis that is down costs a caller at most that long.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError};

use crate::error::{CacheError, CacheResult};

/// A cache in Redis; several runtimes sharing one Redis share its entries.
#[derive(Clone)]
pub struct RedisCache {
    connection: ConnectionManager,
    timeout: Duration,
}

impl RedisCache {
    /// A cache at `url` (`redis://host:port/db`). Nothing is contacted yet:
    /// the runtime starts while Redis is down.
    pub fn connect(url: &str, timeout: Duration) -> Result<RedisCache, String> {
        let client = redis::Client::open(url)
            .map_err(|err| format!("cache.url is not a usable Redis URL: {err}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|err| {
                format!("cannot make a Redis connection manager for cache.url: {err}")
            })?;
        Ok(RedisCache {
            connection,
            timeout,
        })
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> CacheResult<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) if err.to_string().contains("not an integer") => {
                Err(CacheError::NotANumber(format!("Redis refused: {err}")))
            }
            Ok(Err(err)) => Err(CacheError::Unavailable(format!("Redis failed: {err}"))),
            Err(_) => Err(CacheError::Unavailable(format!(
                "Redis did not answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// The values of `keys`, in order.
    pub async fn get_many(&self, keys: &[String]) -> CacheResult<Vec<Option<Vec<u8>>>> {
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("MGET");
        command.arg(keys);
        self.bounded(command.query_async(&mut connection)).await
    }

    /// Stores each entry, atomically, with one TTL for all.
    pub async fn set_many(
        &self,
        entries: &[(String, Vec<u8>)],
        ttl: Option<Duration>,
    ) -> CacheResult<()> {
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        // One SET is atomic by itself; MULTI/EXEC only for several.
        if entries.len() > 1 {
            pipe.atomic();
        }
        for (key, value) in entries {
            let set = pipe.cmd("SET").arg(key).arg(value);
            if let Some(ttl) = ttl {
                set.arg("PX").arg(ttl.as_millis().max(1) as u64);
            }
            set.ignore();
        }
        self.bounded(pipe.query_async::<()>(&mut connection)).await
    }

    /// Removes `key`; says whether it was there.
    pub async fn delete(&self, key: &str) -> CacheResult<bool> {
        let mut connection = self.connection.clone();
        let removed: u64 = self.bounded(connection.del(key)).await?;
        Ok(removed > 0)
    }

    /// Adds `delta` to the integer at `key`.
    pub async fn incr(&self, key: &str, delta: i64) -> CacheResult<i64> {
        let mut connection = self.connection.clone();
        self.bounded(connection.incr(key, delta)).await
    }

    /// One request against the rate at `key`, shared by every runtime on
    /// this Redis: admitted when the key's theoretical arrival time is at
    /// most `tolerance_us` ahead of Redis's clock, which it then moves
    /// `interval_us` on (GCRA: a sustained rate of one per `interval_us`,
    /// bursts of `tolerance_us / interval_us + 1`). One script, so the
    /// check and the update are atomic across runtimes, and Redis's clock
    /// is the only one that counts.
    pub async fn admit_rate(
        &self,
        key: &str,
        interval_us: u64,
        tolerance_us: u64,
    ) -> CacheResult<bool> {
        static GCRA: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > tonumber(ARGV[2]) then return 0 end
local next_tat = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return 1
",
            )
        });
        let mut connection = self.connection.clone();
        let mut invocation = GCRA.key(key);
        invocation.arg(interval_us).arg(tolerance_us);
        let admitted: i64 = self
            .bounded(invocation.invoke_async(&mut connection))
            .await?;
        Ok(admitted == 1)
    }

    /// Whether Redis answers a PING within the timeout.
    pub async fn ping(&self) -> CacheResult<()> {
        let mut connection = self.connection.clone();
        self.bounded(redis::cmd("PING").query_async::<String>(&mut connection))
            .await
            .map(drop)
    }

    /// Sets the TTL of an existing key; says whether it exists.
    pub async fn expire(&self, key: &str, ttl: Duration) -> CacheResult<bool> {
        let mut connection = self.connection.clone();
        let millis = ttl.as_millis().max(1) as i64;
        self.bounded(connection.pexpire(key, millis)).await
    }
}
