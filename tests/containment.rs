//! End to end: no request, client or module can stall, starve or exhaust
//! the host. Each test hits one limit with the misbehaving fixture (or a raw
//! socket), checks the answer modhost writes, and that the next request is
//! served normally.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use support::{HttpResponse, Modhost, module_table, run_modhost, temp_dir, write_config};

/// The misbehaving module, the module it calls, and a well-behaved one,
/// with `extra` appended (limits tables and the like).
fn serve(extra: &str) -> Modhost {
    Modhost::start(&format!(
        "{}{}{}{extra}",
        module_table("misbehaving_module"),
        module_table("spin_module"),
        module_table("my_new_module"),
    ))
}

/// `GET path` on a thread of its own, for a request that runs meanwhile.
fn get_in_background(modhost: &Modhost, path: &'static str) -> thread::JoinHandle<HttpResponse> {
    let addr = modhost.addr;
    thread::spawn(move || support::http_request(addr, "GET", path, &[], b""))
}

fn assert_serves_normally(modhost: &Modhost) {
    let response = modhost.get("/misbehave/ok");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"fine");
}

#[test]
fn a_looping_guest_gets_504_at_the_requests_deadline() {
    let modhost = serve("[modules.misbehaving_module.limits]\ntimeout_ms = 300\n");
    let started = Instant::now();
    let response = modhost.get("/misbehave/loop");
    let took = started.elapsed();
    response.expect_error(504, "did not finish before the request's deadline");
    assert!(
        took >= Duration::from_millis(300),
        "stopped early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "stopped late: {took:?}");
    assert_serves_normally(&modhost);
}

#[test]
fn a_guest_over_its_cpu_time_gets_504_naming_the_cpu_limit() {
    let modhost = serve("[modules.misbehaving_module.limits]\ncpu_ms = 100\ntimeout_ms = 20000\n");
    let started = Instant::now();
    let response = modhost.get("/misbehave/loop");
    response.expect_error(504, "CPU time limit of 100 ms");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_serves_normally(&modhost);
}

#[test]
fn a_module_call_spends_its_callers_cpu_time_not_a_fresh_budget() {
    // The callee's own limit is 5 s; its caller has 100 ms in all.
    let modhost = serve("[modules.misbehaving_module.limits]\ncpu_ms = 100\ntimeout_ms = 20000\n");
    let started = Instant::now();
    let response = modhost.get("/misbehave/call/forever");
    // A callee on a fresh budget would run its own 5 s.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The callee stops at what was left of its caller's 100 ms: the caller
    // passes that on (502), or is stopped itself at its next tick (504).
    assert!(
        [502, 504].contains(&response.status),
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let message = response.json()["error"].as_str().unwrap().to_string();
    let limit: u64 = message
        .split("CPU time limit of ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no CPU limit named: {message}"));
    assert!(
        limit <= 100,
        "the callee got a budget of its own: {message}"
    );
    assert_eq!(modhost.get("/spin/ok").status, 200);
}

#[test]
fn a_callee_stops_at_its_own_time_limit_within_a_longer_callers() {
    let modhost = serve("[modules.spin_module.limits]\ntimeout_ms = 300\n");
    let started = Instant::now();
    let response = modhost.get("/misbehave/call/forever");
    let took = started.elapsed();
    response.expect_error(
        502,
        "module spin_module did not finish before the request's deadline",
    );
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(
        took < Duration::from_secs(5),
        "the caller's 10 s applied: {took:?}"
    );
    assert_serves_normally(&modhost);
}

#[test]
fn looping_guests_do_not_stall_other_requests() {
    let modhost = serve("[modules.misbehaving_module.limits]\ntimeout_ms = 3000\ncpu_ms = 3000\n");
    let loops: Vec<_> = (0..4)
        .map(|_| get_in_background(&modhost, "/misbehave/loop"))
        .collect();
    // Let the four loops start on the host's two worker threads.
    thread::sleep(Duration::from_millis(300));
    for path in ["/health", "/my-module/info", "/misbehave/ok"] {
        let started = Instant::now();
        let response = modhost.get(path);
        let took = started.elapsed();
        assert_eq!(response.status, 200, "{path}");
        // Before guests yielded, four loops stalled /health for seconds.
        assert!(
            took < Duration::from_millis(1000),
            "{path} took {took:?} behind the loops"
        );
    }
    for handle in loops {
        assert_eq!(handle.join().unwrap().status, 504);
    }
}

#[test]
fn past_its_slots_and_queue_a_module_answers_503_with_retry_after() {
    let modhost = serve(
        "[modules.misbehaving_module.limits]\nmax_concurrency = 1\nmax_queue = 1\ntimeout_ms = 1500\n",
    );
    let running = get_in_background(&modhost, "/misbehave/loop");
    thread::sleep(Duration::from_millis(200));
    let queued = get_in_background(&modhost, "/misbehave/ok");
    thread::sleep(Duration::from_millis(200));
    let refused = modhost.get("/misbehave/ok");
    refused.expect_error(503, "busy");
    assert_eq!(refused.header("retry-after"), Some("1"));
    // Another module is not affected by this one's full slots.
    assert_eq!(modhost.get("/my-module/info").status, 200);
    assert_eq!(running.join().unwrap().status, 504);
    let queued = queued.join().unwrap();
    assert_eq!(
        queued.status, 200,
        "the queued request ran once the slot freed"
    );
    assert_serves_normally(&modhost);
}

#[test]
fn a_queued_request_whose_deadline_passes_gets_503() {
    let modhost = serve(
        "[modules.misbehaving_module.limits]\nmax_concurrency = 1\nmax_queue = 4\ntimeout_ms = 700\n",
    );
    // The request's time starts when it arrives: this one spends most of
    // it sending its body, then queues behind a loop that came later.
    let mut late = TcpStream::connect(modhost.addr).unwrap();
    late.write_all(b"POST /misbehave/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    let running = get_in_background(&modhost, "/misbehave/loop");
    thread::sleep(Duration::from_millis(300));
    late.write_all(b"hi").unwrap();
    late.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut raw = Vec::new();
    let _ = late.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("no slot freed before the request's deadline"),
        "{text}"
    );
    assert!(text.to_lowercase().contains("retry-after: 1"), "{text}");
    assert!(text.to_lowercase().contains("x-request-id: "), "{text}");
    assert!(text.contains("\"request_id\":\""), "{text}");
    assert_eq!(running.join().unwrap().status, 504);
    assert_serves_normally(&modhost);
}

#[test]
fn a_health_check_takes_a_slot_like_any_call() {
    let modhost = serve(
        "[modules.misbehaving_module.limits]\nmax_concurrency = 1\nmax_queue = 0\ntimeout_ms = 1500\n",
    );
    let running = get_in_background(&modhost, "/misbehave/loop");
    thread::sleep(Duration::from_millis(300));
    let health = modhost.get("/modules/misbehaving_module/health");
    health.expect_error(503, "every slot and queue place is taken");
    assert_eq!(health.header("retry-after"), Some("1"));
    assert_eq!(running.join().unwrap().status, 504);
    modhost
        .get("/modules/misbehaving_module/health")
        .expect_status(200);
}

#[test]
fn a_module_call_to_a_busy_callee_is_refused_at_once() {
    let modhost = serve("[modules.spin_module.limits]\nmax_concurrency = 1\ntimeout_ms = 1500\n");
    let holder = get_in_background(&modhost, "/spin/forever");
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let response = modhost.get("/misbehave/call/ok");
    response.expect_status(503);
    assert!(response.json()["error"].as_str().unwrap().contains("busy"));
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "it waited: {:?}",
        started.elapsed()
    );
    assert_eq!(holder.join().unwrap().status, 504);
    assert_eq!(modhost.get("/misbehave/call/ok").status, 200);
}

#[test]
fn the_callee_of_a_module_call_gets_only_what_is_left_of_the_deadline() {
    let modhost = serve(
        "[modules.misbehaving_module.limits]\ntimeout_ms = 400\n[modules.spin_module.limits]\ntimeout_ms = 20000\nmax_concurrency = 1\n",
    );
    let started = Instant::now();
    let response = modhost.get("/misbehave/call/forever");
    let took = started.elapsed();
    response.expect_error(504, "deadline");
    assert!(
        took < Duration::from_secs(3),
        "the callee ran on its own budget: {took:?}"
    );
    // The callee stops with its caller: aborted when the caller's deadline
    // fires first, or stopped by the same deadline a moment before.
    let id = response.header("x-request-id").unwrap().to_string();
    let stopped = |line: &&str| {
        line.contains(&id)
            && line.contains("spin_module")
            && (line.contains("module call aborted") || line.contains("request's deadline"))
    };
    let log = modhost.wait_for_log("spin_module request_id");
    assert!(log.lines().any(|line| stopped(&line)), "{log}");
    // Its one slot is free again at once: it is not still running.
    let started = Instant::now();
    assert_eq!(modhost.get("/spin/ok").status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_guest_that_exhausts_its_memory_or_stack_traps_and_the_host_serves_on() {
    let modhost = serve("[modules.misbehaving_module.limits]\nmemory_bytes = 16777216\n");
    // The module's own 16 MiB is the limit hit, not the default 64 MiB.
    modhost.get("/misbehave/alloc?mb=8").expect_status(200);
    for path in [
        "/misbehave/alloc?mb=24",
        "/misbehave/alloc",
        "/misbehave/recurse",
    ] {
        let response = modhost.get(path);
        response.expect_error(500, "failed while handling the request");
        assert_serves_normally(&modhost);
    }
}

#[test]
fn traps_are_logged_once_briefly_and_never_shown_to_clients() {
    let modhost = serve("");
    let response = modhost.get("/misbehave/recurse");
    response.expect_error(500, "see the runtime log for request");
    let body = String::from_utf8_lossy(&response.body).to_lowercase();
    for leak in ["trap", "wasm", "stack", ".rs", "/"] {
        assert!(
            !body.replace("/misbehave", "").contains(leak),
            "{leak} leaked: {body}"
        );
    }
    let id = response.header("x-request-id").unwrap().to_string();
    let log = modhost.wait_for_log(&id);
    // One warning, besides the request's access line.
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(&id) && !line.contains("modhost::access"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("WARN"), "{}", lines[0]);
    assert!(lines[0].len() < 400, "not brief: {}", lines[0]);
}

#[test]
fn invalid_guest_responses_are_500_without_the_guests_text() {
    let modhost = serve("");
    for path in ["/misbehave/bad-status", "/misbehave/bad-header"] {
        let response = modhost.get(path);
        response.expect_error(500, "returned an invalid response");
        assert!(!String::from_utf8_lossy(&response.body).contains("set-cookie"));
        assert!(response.header("set-cookie").is_none());
        assert_serves_normally(&modhost);
    }
}

#[test]
fn a_log_flood_is_cut_at_the_quota_and_counted_with_one_warning() {
    let modhost = serve("[modules.misbehaving_module.limits]\nlog_lines = 50\n");
    let response = modhost.get("/misbehave/log-flood?n=5000");
    assert_eq!(response.status, 200);
    let id = response.header("x-request-id").unwrap().to_string();
    let log = modhost.wait_for_log("log records dropped");
    let records = log.lines().filter(|l| l.contains("flood record")).count();
    assert_eq!(records, 50, "records past the quota were written");
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("log records dropped"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains("dropped=4950"), "{}", warnings[0]);
    assert!(warnings[0].contains(&id), "{}", warnings[0]);
}

#[test]
fn the_log_bytes_quota_holds_too() {
    let modhost = serve("[modules.misbehaving_module.limits]\nlog_bytes = 200\n");
    assert_eq!(modhost.get("/misbehave/log-flood?n=100").status, 200);
    let log = modhost.wait_for_log("log records dropped");
    let records = log.lines().filter(|l| l.contains("flood record")).count();
    // "flood record 0" to "9" are 14 bytes, "10" on 15: 200 bytes hold
    // ten of the first and four of the second.
    assert_eq!(records, 14, "{log}");
}

#[test]
fn control_characters_a_guest_logs_are_escaped() {
    let modhost = serve("");
    assert_eq!(modhost.get("/misbehave/log-forge").status, 200);
    let log = modhost.wait_for_log("one line");
    assert!(log.contains(r"one line\nFAKE host line"), "{log}");
    assert!(log.contains(r"\u{1b}[31m"), "{log}");
    assert!(
        !log.contains('\u{1b}') && !log.contains('\u{7}'),
        "a raw control character: {log}"
    );
    assert!(!log.lines().any(|line| line.starts_with("FAKE")), "{log}");
}

#[test]
fn a_host_call_larger_than_the_limit_is_refused_in_db_cache_and_module_calls() {
    let modhost = serve("[modules.misbehaving_module.limits]\nmax_host_call_bytes = 1048576\n");
    // What each capability's error becomes through the SDK.
    for (via, status) in [("db", 500), ("cache", 413), ("call", 413)] {
        let response = modhost.get(&format!("/misbehave/big-host-call?mb=2&via={via}"));
        response.expect_error(status, "max_host_call_bytes (1048576)");
        modhost
            .get(&format!("/misbehave/big-host-call?mb=0&via={via}"))
            .expect_status(200);
    }
}

#[test]
fn a_cache_value_over_the_value_limit_gets_413_naming_the_limit() {
    // Half the default: a 1 MiB value passes the default and is refused
    // only if the configured limit is the one applied.
    let modhost = serve("[cache]\nmax_value_bytes = 524288\n");
    let response = modhost.get("/misbehave/big-host-call?mb=1&via=cache");
    response.expect_error(413, "cache.max_value_bytes");
    modhost
        .get("/misbehave/big-host-call?mb=0&via=cache")
        .expect_status(200);
}

#[test]
fn a_module_past_its_cache_call_rate_gets_429_until_the_next_second() {
    let modhost = Modhost::start(&format!(
        "{}[cache]\nmax_ops_per_second = 100\n",
        module_table("cache_bench_module")
    ));
    let response = modhost.request("POST", "/cache-bench/set/1000", &[], b"");
    response.expect_error(429, "cache.max_ops_per_second");
    thread::sleep(Duration::from_millis(1100));
    let response = modhost.request("POST", "/cache-bench/set/10", &[], b"");
    response.expect_status(200);
}

#[test]
fn a_scan_past_max_examined_documents_is_refused_naming_the_limit() {
    let modhost = serve("[db]\nmax_examined_documents = 1000\n");
    let seeded = modhost.request("POST", "/spin/seed?n=5000", &[], b"");
    seeded.expect_status(200);
    let response = modhost.get("/spin/scan");
    response.expect_error(500, "more than 1000 documents (max_examined_documents)");
    modhost.wait_for_log("query stopped");
    assert_eq!(modhost.get("/spin/ok").status, 200);
}

/// Whether the wallet answered u1's balance from its cache.
fn u1_balance_cached(modhost: &Modhost) -> bool {
    let balance = modhost.as_user("u1").get("/wallet/u1");
    balance.expect_status(200);
    balance.json()["cached"].as_bool().unwrap()
}

#[test]
fn a_module_reaches_no_other_modules_data_by_naming_it() {
    let modhost = Modhost::start(&format!(
        "{}{}{}",
        support::example_deployment(),
        module_table("misbehaving_module"),
        module_table("spin_module"),
    ));
    let stored = modhost.post_json("/my-module/data", &serde_json::json!({"name": "mine"}));
    stored.expect_status(200);
    assert!(!u1_balance_cached(&modhost));
    assert!(u1_balance_cached(&modhost));
    // The same collection names and cache key, from another module: its
    // own, empty; a name with a path in it is refused.
    let peek = modhost.get("/misbehave/peek");
    peek.expect_status(200);
    assert_eq!(
        peek.json(),
        serde_json::json!({
            "my_module_data": 0,
            "wallets": 0,
            "cached_balance": false,
            "climbing_refused": true,
        })
    );
}

#[test]
fn the_descriptor_limit_is_raised_and_the_connection_cap_fitted_under_it() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = temp_dir();
    let config = write_config(dir.path(), &module_table("my_new_module"));
    let log = std::fs::File::create(dir.path().join("modhost.log")).unwrap();
    // A soft limit of 256 under a hard one of 400; the default cap of 4,096
    // connections cannot fit.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 256 && ulimit -Hn 400 && exec \"$0\" serve --listen 127.0.0.1:0 --config \"$1\"")
        .arg(env!("CARGO_BIN_EXE_modhost"))
        .arg(&config)
        .env("MODHOST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start modhost");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("modhost listening"), "{line}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(open_files[3..5], ["400", "400"], "soft raised to hard");
    let log = std::fs::read_to_string(dir.path().join("modhost.log")).unwrap();
    assert!(
        log.contains(
            "server.max_connections is more than this process's file-descriptor limit allows"
        ),
        "{log}"
    );
}

#[test]
fn a_callee_is_aborted_when_its_callers_client_goes_away() {
    // One slot and no queue for the callee: while it runs, nothing else
    // gets in; its own limits are far beyond the test.
    let modhost = serve(
        "[sandbox]\ntimeout_ms = 20000\ncpu_ms = 20000\n[modules.spin_module.limits]\nmax_concurrency = 1\nmax_queue = 0\n",
    );
    let mut client = TcpStream::connect(modhost.addr).unwrap();
    client
        .write_all(b"GET /misbehave/call/forever HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    drop(client);
    let log = modhost.wait_for_log("module call aborted: its caller stopped");
    assert!(log.contains("callee=spin_module"), "{log}");
    // The aborted callee gave its slot back (a running one would hold it
    // for 20 s); the abort itself may take a moment to land.
    let started = Instant::now();
    while modhost.get("/spin/ok").status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the callee still holds its slot: it was not stopped"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let modhost = serve("[server]\nheader_timeout_ms = 300\n");
    let mut slow = TcpStream::connect(modhost.addr).unwrap();
    slow.write_all(b"GET /misbehave/ok HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    // hyper closes the connection (it may first write a 408).
    let _ = slow.read_to_end(&mut rest);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "kept open for {took:?}");
    assert!(took >= Duration::from_millis(250), "closed early: {took:?}");
    assert_serves_normally(&modhost);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let modhost = serve("[server]\nheader_timeout_ms = 300\n");
    let mut client = TcpStream::connect(modhost.addr).unwrap();
    client
        .write_all(b"GET /misbehave/ok HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut everything = Vec::new();
    let _ = client.read_to_end(&mut everything);
    assert!(String::from_utf8_lossy(&everything).starts_with("HTTP/1.1 200"));
    // Closed once idle for the timeout: not at once, not never.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "closed early: {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_serves_normally(&modhost);
}

#[test]
fn a_body_slower_than_the_body_timeout_gets_408() {
    let modhost = serve("[server]\nbody_timeout_ms = 300\n");
    let mut client = TcpStream::connect(modhost.addr).unwrap();
    client
        .write_all(
            b"POST /misbehave/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly ten b",
        )
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut raw = Vec::new();
    let _ = client.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let id = text
        .lines()
        .find_map(|line| line.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no x-request-id: {text}"));
    assert!(text.contains(&format!("\"request_id\":\"{id}\"")), "{text}");
    assert!(
        text.contains("did not arrive in time (server.body_timeout_ms is 300 ms"),
        "{text}"
    );
    assert_serves_normally(&modhost);
}

#[test]
fn at_the_connection_cap_the_server_waits_and_serves_once_one_closes() {
    let modhost = serve("[server]\nmax_connections = 2\n");
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(modhost.addr).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(200));
    let addr = modhost.addr;
    let waiting = thread::spawn(move || {
        let started = Instant::now();
        let response = support::http_request(addr, "GET", "/misbehave/ok", &[], b"");
        (response.status, started.elapsed())
    });
    thread::sleep(Duration::from_millis(500));
    assert!(
        !waiting.is_finished(),
        "a third connection was served past the cap of 2"
    );
    drop(idle);
    let (status, took) = waiting.join().unwrap();
    assert_eq!(status, 200);
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(
        !modhost.log().contains("accept failed"),
        "the cap is not an error loop"
    );
}

#[test]
fn the_per_client_cap_closes_connections_over_it() {
    let modhost = serve("[server]\nmax_connections_per_client = 1\n");
    let first = TcpStream::connect(modhost.addr).unwrap();
    thread::sleep(Duration::from_millis(100));
    let mut second = TcpStream::connect(modhost.addr).unwrap();
    second
        .write_all(b"GET /misbehave/ok HTTP/1.1\r\nhost: x\r\n\r\n")
        .ok();
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Closed at once: the read ends (EOF or reset) well before the 5 s
    // timeout, with nothing served.
    let started = Instant::now();
    let mut raw = Vec::new();
    let _ = second.read_to_end(&mut raw);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the second connection was held open, not closed"
    );
    assert!(
        raw.is_empty(),
        "a second connection was served: {}",
        String::from_utf8_lossy(&raw)
    );
    drop(first);
    thread::sleep(Duration::from_millis(100));
    assert_serves_normally(&modhost);
}

#[test]
fn the_modules_listing_never_shows_an_absolute_path_of_the_host() {
    let dir = temp_dir();
    std::fs::copy(
        support::guest("my_new_module"),
        dir.path().join("my_new_module.wasm"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("modules")).unwrap();
    std::fs::copy(
        support::guest("misbehaving_module"),
        dir.path().join("modules/inside.wasm"),
    )
    .unwrap();
    // Relative, absolute inside the config's folder, absolute elsewhere.
    let config = write_config(
        dir.path(),
        &format!(
            "{}{}{}",
            "[modules.my_new_module]\npath = \"my_new_module.wasm\"\n",
            module_table("spin_module"),
            format_args!(
                "[modules.misbehaving_module]\npath = \"{}\"\n",
                dir.path().join("modules/inside.wasm").display()
            ),
        ),
    );
    let modhost = Modhost::start_with(&config, dir.path());
    // Each loaded from its path, resolved against the config's folder.
    for name in ["my_new_module", "spin_module", "misbehaving_module"] {
        assert_eq!(modhost.module_listing(name)["state"], "ready", "{name}");
    }
    let shown = |name: &str| modhost.module_listing(name)["source"].clone();
    assert_eq!(shown("my_new_module"), "my_new_module.wasm");
    assert_eq!(shown("spin_module"), "spin_module.wasm");
    assert_eq!(shown("misbehaving_module"), "modules/inside.wasm");
}

#[test]
fn check_prints_each_modules_limits_and_the_worst_case_memory() {
    let dir = temp_dir();
    let config = write_config(
        dir.path(),
        &format!(
            "[sandbox]\nmemory_bytes = 33554432\n{}[modules.my_new_module.limits]\nmax_concurrency = 3\n",
            module_table("my_new_module")
        ),
    );
    let config = config.to_str().unwrap();
    let (status, stdout, stderr) = run_modhost(&["check", "--config", config, "--format", "json"]);
    assert!(status.success(), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let limits = &report["modules"][0]["limits"];
    assert_eq!(limits["max_concurrency"], 3);
    assert_eq!(limits["memory_bytes"], 33_554_432);
    assert_eq!(limits["timeout_ms"], 10_000, "the default");
    // 3 at once and 1 for start-up, and 3 more kept for reloads.
    assert_eq!(report["instances"], 7);
    let bound = report["worst_case_memory_bytes"].as_u64().unwrap();
    assert!(bound > 3 * 33_554_432, "{bound}");
    let (_, text, _) = run_modhost(&["check", "--config", config]);
    assert!(text.contains("3 at once + 32 queued"), "{text}");
    assert!(text.contains("worst-case memory:"), "{text}");
}

#[test]
fn a_limit_of_zero_names_the_file_and_the_key() {
    let dir = temp_dir();
    let config = write_config(
        dir.path(),
        &format!(
            "{}[modules.my_new_module.limits]\nmax_concurrency = 0\n",
            module_table("my_new_module")
        ),
    );
    let (status, _, stderr) = run_modhost(&["check", "--config", config.to_str().unwrap()]);
    assert!(!status.success());
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("modules.my_new_module.limits.max_concurrency must be at least 1"),
        "{stderr}"
    );
}

/// Documents `spin_module`'s scan reads: enough that a full scan takes far
/// longer than the short deadlines below.
const SEEDED_ROWS: u64 = 100_000;

/// The `examined` count of the first "query stopped" line in `log`.
fn examined_when_stopped(log: &str) -> u64 {
    let line = log
        .lines()
        .find(|line| line.contains("query stopped") && line.contains("default/spin_module/rows"))
        .unwrap_or_else(|| panic!("no stopped query in the log:\n{log}"));
    line.split("after examining ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no examined count: {line}"))
}

#[test]
fn after_a_callers_504_the_callees_database_scan_stops_too() {
    let modhost = serve("[modules.misbehaving_module.limits]\ntimeout_ms = 25\n");
    let seeded = modhost.request("POST", &format!("/spin/seed?n={SEEDED_ROWS}"), &[], b"");
    seeded.expect_status(200);
    let response = modhost.get("/misbehave/call/scan");
    response.expect_error(504, "deadline");
    let log = modhost.wait_for_log("query stopped");
    let examined = examined_when_stopped(&log);
    assert!(
        examined < SEEDED_ROWS,
        "the scan read everything: {examined}"
    );
    assert_eq!(modhost.get("/spin/ok").status, 200);
}

#[test]
fn a_sorted_find_holds_only_its_page_and_a_larger_one_is_refused() {
    let modhost = Modhost::start(&format!(
        "{}[db]\nmax_query_bytes = 4194304\n",
        module_table("my_new_module")
    ));
    let padding = "x".repeat(900 * 1024);
    for n in 0..8 {
        let record = serde_json::json!({ "name": format!("record {n}"), "padding": padding });
        assert_eq!(modhost.post_json("/my-module/data", &record).status, 200);
    }
    // Eight records of 900 KB are 7 MB: a page of one holds one of them.
    let page = modhost.get("/my-module/data?limit=1");
    page.expect_status(200);
    let all = modhost.get("/my-module/data?limit=100");
    assert_eq!(all.status, 500);
    let message = all.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("max_query_bytes"), "{message}");
    assert_eq!(modhost.get("/my-module/data?limit=1").status, 200);
}

#[test]
fn a_module_over_its_database_quota_gets_507_and_keeps_what_it_had() {
    let modhost = Modhost::start(&format!(
        "{}[modules.my_new_module.limits]\ndb_bytes = 2048\n",
        module_table("my_new_module")
    ));
    let record = serde_json::json!({ "name": "x".repeat(300) });
    let mut stored = 0;
    let refused = loop {
        let response = modhost.post_json("/my-module/data", &record);
        if response.status != 200 {
            break response;
        }
        stored += 1;
        assert!(stored < 20, "2 KB held {stored} records of 300 bytes");
    };
    assert!(stored >= 3, "{stored}");
    refused.expect_status(507);
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("db_bytes")
    );
    let listed = modhost.get("/my-module/data?limit=100").json();
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(stored),
        "{listed}"
    );
}

#[test]
fn a_module_filling_the_cache_evicts_only_its_own_entries() {
    // The example's five modules granted `cache` and the fixture, 16 KB
    // each, fill the 96 KB cache exactly.
    let example =
        support::example_deployment().replace("[sandbox]\n", "[sandbox]\ncache_bytes = 16384\n");
    let modhost = Modhost::start(&format!(
        "{example}{}[cache]\nmax_bytes = 98304\n",
        module_table("cache_bench_module"),
    ));
    assert!(!u1_balance_cached(&modhost));
    assert!(u1_balance_cached(&modhost));
    // 2,000 entries of about 105 bytes, 361 with the cache's overhead: 700
    // KB, ten times the whole cache.
    let filled = modhost.request("POST", "/cache-bench/set/2000", &[], b"");
    filled.expect_status(200);
    let kept = String::from_utf8(modhost.get("/cache-bench/get/2000").body).unwrap();
    let kept: usize = kept.trim_start_matches("found ").parse().unwrap();
    let entry = modhost_cache::ENTRY_OVERHEAD_BYTES + 105;
    assert!((30..=16384 / entry).contains(&kept), "kept {kept} entries");
    assert!(
        u1_balance_cached(&modhost),
        "another module's load evicted the wallet's balance"
    );
}

#[test]
fn a_client_that_stops_reading_its_response_is_disconnected() {
    let modhost = serve(
        "[server]\nwrite_timeout_ms = 300\n[modules.misbehaving_module.limits]\nmemory_bytes = 134217728\n",
    );
    let mut client = TcpStream::connect(modhost.addr).unwrap();
    client
        .write_all(b"GET /misbehave/huge-response?mb=24 HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    // Far more than the socket buffers hold: the server's writes stall.
    thread::sleep(Duration::from_millis(2000));
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut received = 0;
    let mut buffer = vec![0; 1 << 16];
    let started = Instant::now();
    while let Ok(n @ 1..) = client.read(&mut buffer) {
        received += n;
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the connection stayed open"
    );
    assert!(
        received < 24 << 20,
        "the whole response arrived: {received} bytes"
    );
    assert_serves_normally(&modhost);
}
