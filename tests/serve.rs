//! End to end: the real `modhost` binary serving real guest components over
//! loopback HTTP.

mod support;

use std::time::{Duration, Instant};

use support::{Modhost, module_table};

fn serve_example_and_fixtures(extra: &str) -> Modhost {
    Modhost::start(&format!(
        "{}{}{}\n[modules.trap_module.config]\ngreeting = \"hello\"\nlimit = 3\n{extra}",
        module_table("my_new_module"),
        module_table("trap_module"),
        module_table("spin_module"),
    ))
}

#[test]
fn my_module_info_answers_like_the_guide_says() {
    let started = chrono::Utc::now();
    let modhost = serve_example_and_fixtures("");
    let response = modhost.get("/my-module/info");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.header("x-request-id").is_some());
    let body = response.json();
    assert_eq!(body["module"], "my_new_module");
    assert_eq!(body["status"], "active");
    assert_eq!(body["dependencies"], serde_json::json!([]));
    let initialized_at = body["initialized_at"].as_str().expect("an init time");
    // RFC 3339 in UTC, e.g. 2026-11-26T14:01:02.123456789+00:00, and the
    // time this runtime started the module.
    assert!(initialized_at.ends_with("+00:00"), "{initialized_at}");
    let at = chrono::DateTime::parse_from_rfc3339(initialized_at)
        .unwrap_or_else(|err| panic!("{initialized_at}: {err}"));
    assert!(
        started <= at && at <= chrono::Utc::now(),
        "{initialized_at} is not during this test"
    );
}

#[test]
fn an_unknown_path_is_a_json_404_with_the_request_id() {
    let modhost = serve_example_and_fixtures("");
    let response = modhost.get("/no/such/thing");
    response.expect_error(404, "/no/such/thing");
}

#[test]
fn another_method_on_a_known_path_is_a_405_with_allow() {
    let modhost = serve_example_and_fixtures("");
    let response = modhost.request("DELETE", "/my-module/info", &[], b"");
    response.expect_error(405, "");
    assert_eq!(response.header("allow"), Some("GET"));
    // A path with several methods lists them all.
    let response = modhost.request("DELETE", "/my-module/data", &[], b"");
    response.expect_error(405, "");
    assert_eq!(response.header("allow"), Some("GET, POST"));
}

#[test]
fn a_trapping_guest_is_a_500_and_the_next_request_is_served() {
    let modhost = serve_example_and_fixtures("");
    let response = modhost.get("/trap/panic");
    response.expect_error(500, "trap_module");
    let body = response.json();
    let request_id = body["request_id"].as_str().unwrap().to_string();
    assert!(
        body["error"].as_str().unwrap().contains("trap_module"),
        "{body}"
    );

    let log = modhost.wait_for_log(&request_id);
    // The host's own line, not the guest's record of its panic message.
    let line = log
        .lines()
        .find(|line| line.contains(&request_id) && !line.contains("modhost::guest"))
        .unwrap_or_else(|| panic!("no log line for {request_id}:\n{log}"));
    // A trap a client can trigger is logged once, briefly, at WARN.
    assert!(
        line.contains("WARN") && line.contains("trap_module"),
        "{line}"
    );

    for _ in 0..3 {
        let next = modhost.get("/trap/ok");
        assert_eq!(next.status, 200);
        assert_eq!(next.body, b"still serving");
    }
}

#[test]
fn every_call_starts_from_the_modules_initial_memory() {
    let modhost = serve_example_and_fixtures("");
    // Each call writes over a static and a grown page; every later call, in
    // a recycled instance slot, must see neither write.
    let calls: Vec<_> = (0..6)
        .map(|_| modhost.get("/trap/leftovers").json())
        .collect();
    for call in &calls {
        assert_eq!(call["mark_before"], 7, "a static kept a write: {call}");
        assert_eq!(call["grown_before"], 0, "a grown page kept a write: {call}");
        assert_eq!(call["grown_page"], calls[0]["grown_page"], "{call}");
    }
}

#[test]
fn a_guest_that_never_returns_is_stopped_at_its_time_limit() {
    let modhost = serve_example_and_fixtures("[sandbox]\ntimeout_ms = 300\n");
    let started = Instant::now();
    let response = modhost.get("/spin/forever");
    let took = started.elapsed();
    assert_eq!(response.status, 504);
    let message = response.json()["error"].as_str().unwrap().to_string();
    assert!(
        message.contains("before the request's deadline"),
        "{message}"
    );
    assert!(
        took >= Duration::from_millis(300),
        "stopped early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "stopped late: {took:?}");
    assert_eq!(modhost.get("/spin/ok").status, 200);
}

#[test]
fn the_guest_sees_params_tail_query_headers_and_body_but_not_the_authorization_header() {
    let modhost = serve_example_and_fixtures("");
    let response = modhost.request(
        "POST",
        "/trap/echo/42/a/b%20c?q=x%20y&q=second",
        // The client's token is the host's to check, not the module's to
        // keep (or forward to an outbound host).
        &[
            ("X-Test", "yes"),
            ("Authorization", "Bearer a-client-token"),
        ],
        b"payload",
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        serde_json::json!({
            "method": "POST",
            "path": "/trap/echo/42/a/b%20c",
            "prefix": "",
            "route": "/trap/echo/:id/...",
            "id": "42",
            "tail": "a/b c",
            "q": "x y",
            "header": "yes",
            "authorization": null,
            "body": "payload",
            "request_id": response.header("x-request-id").expect("a request id"),
        })
    );
}

#[test]
fn a_module_reads_its_own_config_and_logs_with_its_name_and_request() {
    let modhost = serve_example_and_fixtures("");
    let response = modhost.get("/trap/config");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        serde_json::json!({ "all": { "greeting": "hello", "limit": 3 }, "greeting": "hello" })
    );
    let request_id = response.header("x-request-id").unwrap().to_string();
    let log = modhost.wait_for_log("config read for request");
    let line = log
        .lines()
        .find(|line| line.contains("config read for request"))
        .unwrap_or_else(|| panic!("the guest's log line is missing:\n{log}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("module=\"trap_module\"") || line.contains("module=trap_module"),
        "{line}"
    );
    assert!(line.contains(&request_id), "{line}");
}

#[test]
fn request_lines_and_headers_too_large_are_refused_by_hyper_and_the_next_request_is_served() {
    let modhost = serve_example_and_fixtures("");
    let huge = "x".repeat(512 * 1024);
    let refused = modhost.request("GET", "/my-module/info", &[("x-huge", &huge)], b"");
    assert_eq!(refused.status, 431);
    assert_eq!(modhost.get("/my-module/info").status, 200);
    let long_path = format!("/my-module/{}", "x".repeat(100 * 1024));
    assert_eq!(modhost.get(&long_path).status, 414);
    assert_eq!(modhost.get("/my-module/info").status, 200);
}

#[test]
fn a_body_that_does_not_parse_is_a_400_naming_the_problem() {
    let modhost = Modhost::start(&support::example_deployment());
    let broken = modhost.as_user("u1").request(
        "POST",
        "/wallet/transfer",
        &[("content-type", "application/json")],
        b"{\"from\": ",
    );
    broken.expect_error(400, "invalid JSON body: EOF while parsing");
}

#[test]
fn at_debug_level_every_request_and_a_traps_whole_error_are_logged() {
    let modhost = Modhost::start_logging(
        &format!(
            "{}{}",
            module_table("my_new_module"),
            module_table("trap_module")
        ),
        "debug",
    );
    let info = modhost.get("/my-module/info");
    let id = info.header("x-request-id").unwrap().to_string();
    let log = modhost.wait_for_log("modhost::access");
    let line = log
        .lines()
        .find(|line| line.contains("modhost::access") && line.contains(&id))
        .unwrap_or_else(|| panic!("no line for {id}:\n{log}"));
    assert!(
        line.contains("/my-module/info") && line.contains("200"),
        "{line}"
    );
    let trapped = modhost.get("/trap/panic");
    let id = trapped.header("x-request-id").unwrap().to_string();
    // The whole error comes on the line after the short WARN.
    let log = modhost.wait_for_log("wasm backtrace");
    let detail = log
        .lines()
        .find(|line| {
            line.contains("DEBUG") && line.contains("guest call failed") && line.contains(&id)
        })
        .unwrap_or_else(|| panic!("no detail for {id}:\n{log}"));
    assert!(detail.contains("wasm backtrace"), "{detail}");
}

#[test]
fn a_body_over_the_limit_is_a_413() {
    let modhost = serve_example_and_fixtures("[server]\nmax_body_bytes = 1024\n");
    let small = modhost.request("POST", "/trap/echo/1/x", &[], &[b'a'; 1024]);
    assert_eq!(small.status, 200);
    let large = modhost.request("POST", "/trap/echo/1/x", &[], &[b'a'; 1025]);
    large.expect_error(413, "1024 bytes");
    assert_eq!(
        modhost
            .request("POST", "/trap/echo/1/x", &[], &[b'a'; 1024])
            .status,
        200
    );
}

#[test]
fn a_module_that_fails_to_load_leaves_the_others_serving() {
    // Missing, not a component, a component without the world.
    let dir = support::temp_dir();
    let (text, empty) = (dir.path().join("text.wasm"), dir.path().join("empty.wasm"));
    std::fs::write(&text, support::NOT_WASM).unwrap();
    std::fs::write(&empty, support::EMPTY_COMPONENT).unwrap();
    let modhost = Modhost::start(&format!(
        "{}{}[modules.text]\npath = {:?}\n[modules.empty]\npath = {:?}\n",
        module_table("my_new_module"),
        support::missing_module_table("ghost"),
        text,
        empty,
    ));
    assert_eq!(modhost.get("/my-module/info").status, 200);
    for (name, reason) in [
        ("text", "text.wasm is not a WebAssembly component"),
        ("empty", "does not implement the modhost:module world"),
    ] {
        let listed = modhost.module_listing(name);
        assert_eq!(listed["state"], "failed", "{name}");
        let shown = listed["reason"].as_str().unwrap();
        assert!(shown.contains(reason), "{name}: {shown}");
    }
    let log = modhost.log();
    let line = log
        .lines()
        .find(|line| line.contains("ghost") && line.contains("ERROR"))
        .unwrap_or_else(|| panic!("no error names the module:\n{log}"));
    assert!(line.contains("/nonexistent/ghost.wasm"), "{line}");
    assert!(line.contains("modules.ghost"), "{line}");
}

#[test]
fn the_example_deployment_passes_the_guides_integration_checks() {
    // What the original module guide's integration tests checked, against
    // runtime.toml as `just run` serves it.
    let modhost = Modhost::start(&support::example_deployment());
    let info = modhost.get("/my-module/info");
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["module"], "my_new_module");
    let health = modhost.get("/modules/my_new_module/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "healthy");
    assert_eq!(
        modhost.get("/health").status,
        200,
        "every example module is up"
    );
}

#[test]
fn the_guides_integration_checks_pass_against_the_runtime_endpoints() {
    let modhost = serve_example_and_fixtures("");
    let health = modhost.get("/modules/my_new_module/health");
    assert_eq!(health.status, 200);
    let body = health.json();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["module"], "my_new_module");
    assert!(body["uptime_seconds"].as_f64().unwrap() >= 0.0);
    let last_check = body["last_check"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(last_check)
        .unwrap_or_else(|err| panic!("{last_check}: {err}"));
    assert!(health.header("x-request-id").is_some());

    let overall = modhost.get("/health");
    assert_eq!(overall.status, 200);
    assert_eq!(
        overall.json(),
        serde_json::json!({"status": "healthy", "tenant": "default", "modules": 3})
    );
    assert!(overall.header("x-request-id").is_some());
    assert!(modhost.get("/modules").header("x-request-id").is_some());

    modhost
        .get("/modules/nobody/health")
        .expect_error(404, "nobody");
    assert_eq!(
        modhost.request("POST", "/health", &[], b"").header("allow"),
        Some("GET")
    );
}

#[test]
fn modules_lists_every_module_with_state_routes_and_source() {
    let modhost = Modhost::start(&format!(
        "{}{}",
        module_table("my_new_module"),
        support::missing_module_table("ghost")
    ));
    let ghost = modhost.module_listing("ghost");
    assert_eq!(ghost["state"], "failed");
    // Configured at /nonexistent/ghost.wasm: clients see the file name.
    let reason = ghost["reason"].as_str().unwrap();
    assert!(reason.contains("ghost.wasm"), "{reason}");
    assert!(!reason.contains("/nonexistent"), "{reason}");
    assert_eq!(ghost["source"], "ghost.wasm");
    assert!(ghost.get("initialized_at").is_none(), "{ghost}");
    let mine = modhost.module_listing("my_new_module");
    assert_eq!(mine["state"], "ready");
    assert_eq!(mine["version"], "0.1.0");
    assert_eq!(
        mine["routes"],
        serde_json::json!([
            { "method": "GET", "path": "/my-module/info" },
            { "method": "GET", "path": "/my-module/data" },
            { "method": "POST", "path": "/my-module/data" },
            { "method": "GET", "path": "/my-module/data/:id" },
        ])
    );
    assert_eq!(mine["source"], "my_new_module.wasm");
    assert_eq!(mine["description"], "The module guide's example module");
    assert_eq!(mine["dependencies"], serde_json::json!([]));
    let at = mine["initialized_at"].as_str().expect("an init time");
    assert!(at.ends_with('Z'), "UTC: {at}");

    let overall = modhost.get("/health");
    assert_eq!(overall.status, 503);
    assert!(overall.header("x-request-id").is_some());
    assert_eq!(overall.json()["failed"][0]["module"], "ghost");
    let ghost_health = modhost.get("/modules/ghost/health");
    assert_eq!(ghost_health.status, 503);
    assert!(ghost_health.header("x-request-id").is_some());
    assert_eq!(ghost_health.json()["status"], "failed");
}
