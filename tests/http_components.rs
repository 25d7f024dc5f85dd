//! End to end: standard `wasi:http/proxy` components (what `wasmtime serve`
//! and Spin run), built from source in this repo, deploy unchanged under a
//! `mount` and run inside the same sandbox as modules: the request id
//! reaches them, their streamed bodies arrive, and the call's deadline ends
//! a body that would stream forever.

mod support;

use std::time::{Duration, Instant};

use support::{Modhost, guest, module_table};

/// `[modules.<name>]` for wasi:http component `name` mounted at `mount`,
/// with `extra` lines (limits) after it.
fn mounted(name: &str, mount: &str, extra: &str) -> String {
    format!(
        "[modules.{name}]\npath = {:?}\nmount = {mount:?}\n{extra}",
        guest(name).display().to_string()
    )
}

#[test]
fn a_standard_component_serves_every_method_and_path_under_its_mount() {
    let modhost = Modhost::start(&format!(
        "{}{}",
        mounted("http_hello", "/hello", ""),
        module_table("my_new_module")
    ));
    for (method, path) in [
        ("GET", "/hello"),
        ("GET", "/hello/any/depth?x=1"),
        ("POST", "/hello/form"),
        ("DELETE", "/hello"),
    ] {
        let response = modhost.request(method, path, &[], b"");
        response.expect_status(200);
        assert_eq!(response.body, b"hello", "{method} {path}");
        assert!(response.header("x-request-id").is_some());
    }
    // Beside it, modules and the runtime's own paths serve as before.
    modhost.get("/my-module/info").expect_status(200);
    modhost.get("/hellothere").expect_status(404);
    let modules = modhost.get("/modules").expect_status(200).json();
    let listed = modules.to_string();
    assert!(listed.contains("wasi:http/proxy"), "{modules}");
    let health = modhost
        .get("/modules/http_hello/health")
        .expect_status(200)
        .json();
    assert_eq!(health["status"], "healthy", "{health}");
}

#[test]
fn the_component_sees_the_method_path_body_and_request_id_and_logs_its_stdout() {
    let modhost = Modhost::start(&mounted("http_probe", "/probe", ""));
    let response = modhost.request("PUT", "/probe/x/echo?a=1&b=2", &[], &[7u8; 3000]);
    response.expect_status(200);
    let id = response.header("x-request-id").expect("a request id");
    let text = String::from_utf8_lossy(&response.body);
    for line in [
        "method Method::Put",
        "path /probe/x/echo?a=1&b=2",
        &format!("request-id {id}"),
        "body-bytes 3000",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in {text}");
    }
    // Its stdout reaches the host's log as the module's, under the request.
    let log = modhost.wait_for_log("http-probe echo /probe/x/echo");
    let logged = log
        .lines()
        .find(|l| l.contains("http-probe echo /probe/x/echo"))
        .expect("the line");
    assert!(logged.contains("module=http_probe"), "{logged}");
    assert!(logged.contains(id), "{logged}");
}

#[test]
fn a_body_streamed_after_the_response_is_set_arrives_whole() {
    let modhost = Modhost::start(&mounted("http_probe", "/probe", ""));
    let response = modhost.get("/probe/stream?chunks=5000");
    response.expect_status(200);
    assert!(response.complete, "the body ended early");
    let text = String::from_utf8_lossy(&response.body);
    assert_eq!(text.lines().count(), 5000);
    assert_eq!(text.lines().last(), Some("chunk 4999"));
}

#[test]
fn the_deadline_ends_a_body_that_streams_forever_and_the_slot_comes_back() {
    let modhost = Modhost::start(&mounted(
        "http_probe",
        "/probe",
        "[modules.http_probe.limits]\ntimeout_ms = 1000\nmax_concurrency = 1\nmax_queue = 0\n",
    ));
    let started = Instant::now();
    let response = modhost.get("/probe/stream-forever");
    let took = started.elapsed();
    response.expect_status(200);
    assert!(!response.complete, "an endless body arrived whole");
    assert!(response.body.starts_with(b"chunk 0\n"));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    modhost.wait_for_log("the response body was cut short");
    // The one slot was held while the body streamed and is free again.
    let echo = modhost.get("/probe/echo");
    echo.expect_status(200);
}

#[test]
fn a_component_that_fails_before_answering_gets_the_modules_error_answers() {
    let modhost = Modhost::start(&mounted(
        "http_probe",
        "/probe",
        "[modules.http_probe.limits]\ntimeout_ms = 500\n",
    ));
    modhost
        .get("/probe/trap")
        .expect_error(500, "module http_probe failed while handling the request");
    modhost
        .get("/probe/no-response")
        .expect_error(500, "module http_probe failed");
    modhost.wait_for_log("returned without setting a response");
    modhost
        .get("/probe/spin")
        .expect_error(504, "did not finish before the request's deadline");
    modhost.get("/probe/echo").expect_status(200);
}

#[test]
fn a_mount_on_a_module_or_none_on_a_component_fails_that_module_with_the_fix() {
    let modhost = Modhost::start(&format!(
        "{}mount = \"/mine\"\n{}{}",
        module_table("my_new_module"),
        module_table("http_hello"),
        mounted("http_probe", "/probe", ""),
    ));
    let log = modhost.wait_for_log("module failed to load");
    for (module, says) in [
        (
            "my_new_module",
            "it has a mount but is not a wasi:http/proxy component",
        ),
        (
            "http_hello",
            "serve it at a path with mount = \"/http_hello\"",
        ),
    ] {
        let line = log
            .lines()
            .find(|line| {
                line.contains("module failed to load") && line.contains(&format!("module={module}"))
            })
            .unwrap_or_else(|| panic!("no failure of {module}:\n{log}"));
        assert!(line.contains(says), "{line}");
    }
    // The rest keep serving.
    modhost.get("/probe/echo").expect_status(200);
}
