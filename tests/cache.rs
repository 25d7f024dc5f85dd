//! The `cache` capability end to end: the wallet's cache-aside balances on
//! the embedded cache, and a Redis of the test's own stopped and restarted
//! under load: requests keep succeeding from the database, none waits past
//! the timeout, and cache hits return with no runtime restart.

mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Modhost, module_table};

fn credit_system(cache: &str) -> String {
    format!("{cache}{}", support::credit_system(&["u1", "u2"], 100))
}

/// A `redis-server` of this test's own on a free port, killed when dropped.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start_on(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port }
    }

    fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    /// Sends the server `signal` (`STOP` freezes it with its connections
    /// open, so calls hang rather than fail; `CONT` wakes it).
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// What `redis-cli` prints for `args`, trimmed.
    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// The milliseconds `key` has left to live.
    fn pttl(&self, key: &str) -> i64 {
        self.cli(&["PTTL", key])
            .parse()
            .unwrap_or_else(|err| panic!("PTTL {key}: {err}"))
    }

    fn stop(&mut self) {
        self.child.kill().expect("stop redis-server");
        self.child.wait().expect("reap redis-server");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits, up to 20 s, until u1's balance (`credits`) is served from the
/// cache again.
fn wait_for_a_hit(modhost: &Modhost, credits: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (found, cached) = balance(modhost, "u1");
        assert_eq!(found, credits);
        if cached {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no cache hit within 20 s of Redis coming back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_runtime_starts_and_serves_while_redis_is_down() {
    // A port nothing listens on: the connection is made lazily.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = format!(
        "[cache]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:{closed}\"\ntimeout_ms = 200\n"
    );
    let modhost = Modhost::start(&credit_system(&cache));
    assert_eq!(balance(&modhost, "u1"), (100, false));
    assert_eq!(modhost.get("/health").status, 200);
}

#[test]
fn runtimes_sharing_a_redis_share_one_cache() {
    let redis = RedisServer::start();
    let config = format!(
        "{}[cache]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n",
        module_table("cache_bench_module"),
        redis.port
    );
    let (first, second) = (Modhost::start(&config), Modhost::start(&config));
    first
        .request("POST", "/cache-bench/set/5", &[], b"")
        .expect_status(200);
    let found = String::from_utf8(second.get("/cache-bench/get/5").body).unwrap();
    assert_eq!(
        found, "found 5",
        "the second runtime sees the first's entries"
    );
}

#[test]
fn the_example_modules_cache_balances_for_60_s_and_profiles_for_300_s() {
    let redis = RedisServer::start();
    let cache = format!(
        "[cache]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n",
        redis.port
    );
    let modhost = Modhost::start(&credit_system(&cache));
    assert_eq!(balance(&modhost, "u1"), (100, false));
    let balance_ttl = redis.pttl("modhost:default:wallet:balance:u1");
    assert!((55_000..=60_000).contains(&balance_ttl), "{balance_ttl}");
    let profile_ttl = redis.pttl("modhost:default:user_management:user:u1");
    assert!((295_000..=300_000).contains(&profile_ttl), "{profile_ttl}");
}

#[test]
fn a_guests_ttl_is_a_redis_ttl() {
    let redis = RedisServer::start();
    let modhost = Modhost::start(&format!(
        "{}[cache]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n",
        module_table("cache_bench_module"),
        redis.port
    ));
    let set_with_ttl = |ttl_ms: u64| {
        modhost
            .request(
                "POST",
                &format!("/cache-bench/set/3?ttl_ms={ttl_ms}"),
                &[],
                b"",
            )
            .expect_status(200);
    };
    let found =
        |modhost: &Modhost| String::from_utf8(modhost.get("/cache-bench/get/3").body).unwrap();
    // A TTL long enough that no stall of a loaded machine reaches it.
    set_with_ttl(30_000);
    assert_eq!(found(&modhost), "found 3");
    // Redis itself holds the TTL, under <key_prefix>:<tenant>:<module>:<key>.
    let key = redis.cli(&["--scan", "--pattern", "*key-0"]);
    assert_eq!(key, "modhost:default:cache_bench_module:key-0");
    let pttl = redis.pttl(&key);
    assert!((20_000..=30_000).contains(&pttl), "{key}: PTTL {pttl}");
    // And one so short it is gone by the next call, however fast that is.
    set_with_ttl(1);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(found(&modhost), "found 0");
}

fn balance(modhost: &Modhost, user: &str) -> (i64, bool) {
    let answer = modhost.as_user(user).get(&format!("/wallet/{user}"));
    answer.expect_status(200);
    let body = answer.json();
    (
        body["balance"].as_i64().unwrap(),
        body["cached"].as_bool().unwrap(),
    )
}

#[test]
fn balances_are_cached_and_dropped_on_every_change() {
    let modhost = Modhost::start(&credit_system(""));
    assert_eq!(balance(&modhost, "u1"), (100, false));
    assert_eq!(balance(&modhost, "u1"), (100, true));
    let transfer = modhost.as_user("u1").post_json(
        "/wallet/transfer",
        &json!({"from": "u1", "to": "u2", "amount": 30}),
    );
    assert_eq!(transfer.status, 200);
    assert_eq!(
        balance(&modhost, "u1"),
        (70, false),
        "the transfer dropped the cached balance"
    );
    assert_eq!(balance(&modhost, "u2"), (130, false));
    assert_eq!(balance(&modhost, "u2"), (130, true));
}

#[test]
fn with_redis_down_requests_fall_back_to_the_database_and_hits_return_after() {
    let mut redis = RedisServer::start();
    let cache = format!(
        "[cache]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\ntimeout_ms = 200\n",
        redis.port
    );
    let modhost = Modhost::start(&credit_system(&cache));
    assert_eq!(balance(&modhost, "u1"), (100, false));
    assert_eq!(balance(&modhost, "u1"), (100, true), "served from Redis");

    // A frozen Redis answers nothing: only cache.timeout_ms bounds a call.
    redis.signal("STOP");
    for n in 0..3 {
        let started = Instant::now();
        assert_eq!(balance(&modhost, "u1"), (100, false), "request {n}");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "request {n} took {took:?}");
    }
    redis.signal("CONT");
    wait_for_a_hit(&modhost, 100);

    redis.stop();
    for n in 0..10 {
        let started = Instant::now();
        let (credits, cached) = balance(&modhost, "u1");
        assert!(!cached, "request {n} cannot be a hit with Redis down");
        assert_eq!(credits, 100 - 5 * n);
        // A user lookup and a balance: two cache reads at 200 ms at most,
        // with room for a loaded machine.
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "request {n} took {took:?}");
        let transfer = modhost.as_user("u1").post_json(
            "/wallet/transfer",
            &json!({"from": "u1", "to": "u2", "amount": 5}),
        );
        assert_eq!(
            transfer.status,
            200,
            "transfers go on: {}",
            String::from_utf8_lossy(&transfer.body)
        );
    }

    let _redis = RedisServer::start_on(redis.port);
    // The balance after the outage's transfers.
    wait_for_a_hit(&modhost, 50);
    let log = modhost.log();
    assert!(log.contains("cache read of"), "the fallback is logged");
    // With the cache unavailable, read_through does not try to write back
    // (which would cost each request a second timeout).
    assert!(!log.contains("could not cache"), "{log}");
}

/// Tenant `acme` at `/acme` deploying the cache fixture, with a quota of
/// one request a second and bursts of ten, counted in `scope`; its cache
/// in the Redis on `port`.
fn acme_with_quota(port: u16, scope: &str) -> String {
    format!(
        "[cache]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\n\
         [tenants.acme]\nprefix = \"/acme\"\n\
         [tenants.acme.quota]\nrequests_per_second = 1\nburst = 10\nscope = {scope:?}\n\
         [tenants.acme.modules.cache_bench_module]\npath = {:?}\ngrants = [\"cache\"]\n",
        support::guest("cache_bench_module").display().to_string()
    )
}

/// Sends `each` requests to each of `hosts` in turn; how many were
/// admitted, every other one checked to be a 429 naming the quota.
fn admitted_across(hosts: &[&Modhost], each: usize) -> usize {
    let mut admitted = 0;
    for _ in 0..each {
        for host in hosts {
            let response = host.get("/acme/cache-bench/get/1");
            match response.status {
                200 => admitted += 1,
                _ => {
                    response.expect_error(429, "tenant acme is over its request quota");
                    assert_eq!(response.header("retry-after"), Some("1"));
                }
            }
        }
    }
    admitted
}

#[test]
fn two_instances_share_the_cache_and_a_global_tenant_quota() {
    let redis = RedisServer::start();
    let config = acme_with_quota(redis.port, "global");
    let (first, second) = (Modhost::start(&config), Modhost::start(&config));
    // The first's entry is the second's.
    first
        .request("POST", "/acme/cache-bench/set/1", &[], b"")
        .expect_status(200);
    let started = Instant::now();
    let found = second.get("/acme/cache-bench/get/1");
    assert_eq!(String::from_utf8(found.body).unwrap(), "found 1");
    // Ten at once across both (two are spent above), then one a second.
    let admitted = 2 + admitted_across(&[&first, &second], 6);
    let refilled = started.elapsed().as_secs() as usize + 1;
    assert!(
        (10..=10 + refilled).contains(&admitted),
        "{admitted} admitted across both instances"
    );
    // Counted per instance, the same quota admits ten at each.
    let redis = RedisServer::start();
    let config = acme_with_quota(redis.port, "instance");
    let (first, second) = (Modhost::start(&config), Modhost::start(&config));
    let started = Instant::now();
    let admitted = admitted_across(&[&first, &second], 6);
    let refilled = 2 * (started.elapsed().as_secs() as usize + 1);
    assert!((12..=12 + refilled).contains(&admitted), "{admitted}");
}
