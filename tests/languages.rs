//! End to end: modules written in Python (componentize-py) and JavaScript
//! (componentize-js) with the SDKs under guest-sdk/, built from source by
//! `just guests`, serve their routes through the same host functions as
//! Rust modules, and the sandbox refuses them what it refuses any guest.
//!
//! Their components are 12-18 MB and take seconds to compile, so these
//! tests keep compiled components in the tests' shared cache under target/.

mod support;

use serde_json::json;
use support::{Modhost, guest, shared_compile_cache};

/// The memory a Python or JavaScript module gets: CPython and
/// StarlingMonkey need more than the 64 MiB default.
const INTERPRETER_MEMORY: usize = 256 << 20;

/// A config deploying `modules` (granted db and cache, notes of at most 20
/// characters), compiled components kept in the tests' shared cache.
fn config(modules: &[&str]) -> String {
    config_with_limits(modules, "")
}

/// [`config`] with `limits` (lines of `key = value`) for every module.
fn config_with_limits(modules: &[&str], limits: &str) -> String {
    let mut text = shared_compile_cache();
    for name in modules {
        text += &format!(
            "[modules.{name}]\npath = {:?}\ngrants = [\"db\", \"cache\"]\n\
             [modules.{name}.config]\nlongest_note = 20\n\
             [modules.{name}.limits]\nmemory_bytes = {INTERPRETER_MEMORY}\n{limits}",
            guest(name).display().to_string()
        );
    }
    text
}

/// Stores, reads and lists a note, counts views in the cache and checks
/// the log line of `module` mounted under `/<prefix>`.
fn notes_round_trip(modhost: &Modhost, module: &str, prefix: &str, language: &str) {
    let hello = modhost
        .get(&format!("/{prefix}/hello"))
        .expect_status(200)
        .json();
    assert_eq!(hello, json!({"module": module, "language": language}));

    let created = modhost
        .post_json(
            &format!("/{prefix}/notes"),
            &json!({"text": "hello from the test"}),
        )
        .expect_status(201)
        .json();
    let id = created["_id"].as_str().expect("an id").to_string();
    let note = modhost
        .get(&format!("/{prefix}/notes/{id}"))
        .expect_status(200)
        .json();
    assert_eq!(note, json!({"_id": id, "text": "hello from the test"}));
    let listed = modhost
        .get(&format!("/{prefix}/notes?limit=5"))
        .expect_status(200)
        .json();
    assert_eq!(listed, json!([note]));
    modhost
        .get(&format!("/{prefix}/notes/no-such-note"))
        .expect_error(404, "no note no-such-note");
    modhost
        .post_json(&format!("/{prefix}/notes"), &json!({"text": 7}))
        .expect_error(400, "a note is");
    // The module's config (set by `config`, below) bounds a note.
    modhost
        .post_json(
            &format!("/{prefix}/notes"),
            &json!({"text": "x".repeat(21)}),
        )
        .expect_error(400, "of 1 to 20 characters");

    for expected in [1, 2] {
        let views = modhost
            .post_json(&format!("/{prefix}/views/{id}"), &json!({}))
            .expect_status(200)
            .json();
        assert_eq!(views["views"], expected, "{views}");
    }

    let log = modhost.wait_for_log("note stored");
    let line = log
        .lines()
        .find(|line| line.contains("note stored") && line.contains(&format!("module={module}")))
        .unwrap_or_else(|| panic!("no log line of {module}:\n{log}"));
    assert!(line.contains(&format!("id={id}")), "{line}");
    let health = modhost
        .get(&format!("/modules/{module}/health"))
        .expect_status(200)
        .json();
    assert_eq!(health["status"], "healthy", "{health}");
}

#[test]
fn a_python_module_serves_db_cache_and_log_through_the_sdk() {
    let modhost = Modhost::start(&config(&["notes_py"]));
    notes_round_trip(&modhost, "notes_py", "notes-py", "python");
}

#[test]
fn a_javascript_module_serves_db_cache_and_log_through_the_sdk() {
    let modhost = Modhost::start(&config(&["notes_js"]));
    notes_round_trip(&modhost, "notes_js", "notes-js", "javascript");
}

#[test]
fn a_python_module_can_open_no_file_socket_or_environment() {
    let (listener, port) = support::guarded_port();
    let modhost = probe_reusing("", "");

    let report = modhost
        .get(&format!("/sandbox-probe-py/report?port={port}"))
        .expect_status(200)
        .json();

    // Each attempt raised in the guest (the host answered the request).
    let open_file = report["open_file"].as_str().expect("an outcome");
    assert!(open_file.starts_with("FileNotFoundError"), "{report}");
    let list_dir = report["list_dir"].as_str().expect("an outcome");
    assert!(list_dir.starts_with("FileNotFoundError"), "{report}");
    assert_eq!(report["environment"], "ok: {}", "{report}");
    assert_eq!(report["environment_path"], "KeyError: 'PATH'", "{report}");
    let socket = report["socket"].as_str().expect("an outcome");
    assert!(socket.starts_with("PermissionError"), "{report}");
    assert!(
        listener.accept().is_err(),
        "the guest reached a loopback listener"
    );
    // print() reaches the host's log as the module's.
    let log = modhost.wait_for_log("sandbox-probe-py-stdout-marker");
    let line = log
        .lines()
        .find(|line| line.contains("sandbox-probe-py-stdout-marker"))
        .expect("the marker line");
    assert!(line.contains("module=sandbox_probe_py"), "{line}");
}

/// The probe, reusing instances under `reuse` (an `instance_reuse` table's
/// body, or nothing for the default) with `limits`, and `[auth]` for its
/// token route.
fn probe_reusing(reuse: &str, limits: &str) -> Modhost {
    let modules = config_with_limits(&["sandbox_probe_py"], limits);
    let mut text = format!("{modules}{}", support::auth_section());
    if !reuse.is_empty() {
        text += &format!("[modules.sandbox_probe_py.instance_reuse]\n{reuse}");
    }
    Modhost::start(&text)
}

/// What the probe's instance says it has served.
fn served(response: support::HttpResponse) -> u64 {
    response.expect_status(200);
    response.json()["served"].as_u64().expect("a count")
}

#[test]
fn by_default_every_request_gets_a_fresh_instance() {
    let modhost = probe_reusing("", "");
    for _ in 0..3 {
        assert_eq!(served(modhost.get("/sandbox-probe-py/count")), 1);
    }
}

#[test]
fn a_reused_instance_serves_up_to_max_requests_then_a_fresh_one_starts() {
    let modhost = probe_reusing("max_requests = 3\n", "");
    let counts: Vec<u64> = (0..7)
        .map(|_| served(modhost.get("/sandbox-probe-py/count")))
        .collect();
    assert_eq!(counts, [1, 2, 3, 1, 2, 3, 1]);
}

#[test]
fn an_instance_that_served_one_principal_never_serves_another() {
    let modhost = probe_reusing("max_requests = 100\n", "");
    let mine = |user: &str| served(modhost.as_user(user).get("/sandbox-probe-py/count-mine"));
    assert_eq!(mine("u1"), 1);
    assert_eq!(mine("u1"), 2);
    assert_eq!(mine("u2"), 1, "u2 got u1's instance");
    assert_eq!(mine("u1"), 3);
    assert_eq!(mine("u2"), 2);
    assert_eq!(
        served(modhost.get("/sandbox-probe-py/count")),
        1,
        "a request without a token got a token holder's instance"
    );
}

#[test]
fn an_instance_is_retired_after_a_trap_a_timeout_and_its_age() {
    let modhost = probe_reusing(
        "max_requests = 100\nmax_age_ms = 1500\n",
        "timeout_ms = 1000\n",
    );
    let count = || served(modhost.get("/sandbox-probe-py/count"));
    for (path, status, says) in [
        (
            "/sandbox-probe-py/abort",
            500,
            "failed while handling the request",
        ),
        (
            "/sandbox-probe-py/spin",
            504,
            "did not finish before the request's deadline",
        ),
    ] {
        assert_eq!(count(), 1);
        assert_eq!(count(), 2, "the instance was not reused");
        modhost.get(path).expect_error(status, says);
        assert_eq!(count(), 1, "the instance that failed {path} served again");
        assert_eq!(count(), 2);
        // Past max_age_ms for the next round.
        std::thread::sleep(std::time::Duration::from_millis(1600));
    }
    assert_eq!(count(), 1, "an instance past max_age_ms served again");
}

#[test]
fn a_second_start_loads_an_unchanged_python_module_from_the_compile_cache() {
    // A cache of this test's own, so the first start must compile.
    let dir = support::temp_dir();
    let text = config(&["notes_py"]).replace(
        &shared_compile_cache(),
        &format!(
            "[compile_cache]\npath = {:?}\n",
            dir.path().join("cache").display().to_string()
        ),
    );
    let config = support::write_config(dir.path(), &text);
    let start = || {
        let modhost = Modhost::start_with(&config, dir.path());
        modhost.get("/notes-py/hello").expect_status(200);
        modhost.log()
    };
    let first = start();
    assert!(
        first.contains("component compiled module=modules.notes_py"),
        "{first}"
    );
    let second = start();
    assert!(
        second.contains("component loaded from the compile cache"),
        "{second}"
    );
    assert!(!second.contains("component compiled"), "{second}");
}
