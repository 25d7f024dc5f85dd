//! End to end, hot deploy: a new config or component is loaded beside the
//! set being served and swapped in whole (SIGHUP, `POST /admin/reload`,
//! `--watch`); under a steady load no request fails and the answers switch
//! from old to new; a broken config or component, or a change only a
//! restart applies, leaves the old set serving and says why.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{Modhost, NOT_WASM, module_table, try_http_request};

/// `config_echo` answering `answer` for its key `answer`, and the guide's
/// module beside it, unchanged.
fn deployment(answer: &str) -> String {
    format!(
        "{}[modules.config_echo.config]\nanswer = {answer:?}\n{}",
        module_table("config_echo"),
        module_table("my_new_module")
    )
}

/// What `config_echo` answers now for its key `answer`.
fn answer(modhost: &Modhost) -> String {
    let response = modhost.get("/config-echo/answer");
    response.expect_status(200);
    response.json()["value"].as_str().unwrap_or("").to_string()
}

/// Waits up to `within` for the answer to become `wanted`.
fn wait_for_answer(modhost: &Modhost, wanted: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while answer(modhost) != wanted {
        assert!(
            Instant::now() < deadline,
            "still not {wanted:?}; log:\n{}",
            modhost.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a client saw, in order (see `seen_of`).
type Seen = Vec<String>;

/// Clients that ask `config_echo` for its answer in a loop until stopped;
/// each returns what it saw.
fn steady_load(
    modhost: &Modhost,
    clients: usize,
) -> (Arc<AtomicBool>, Vec<std::thread::JoinHandle<Seen>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let handles = (0..clients)
        .map(|_| {
            let (stop, addr) = (stop.clone(), modhost.addr);
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match try_http_request(addr, "GET", "/config-echo/answer", &[], b"") {
                        Ok(response) => seen.push(seen_of(&response)),
                        Err(err) => seen.push(format!("no answer: {err}")),
                    }
                }
                seen
            })
        })
        .collect();
    (stop, handles)
}

/// What a client saw answered: the component's version and the config's
/// answer, or the status and body of a failure.
fn seen_of(response: &support::HttpResponse) -> String {
    match response.status {
        200 => {
            let body = response.json();
            format!(
                "v{} {}",
                body["version"],
                body["value"].as_str().unwrap_or("")
            )
        }
        status => format!("{status} {}", String::from_utf8_lossy(&response.body)),
    }
}

#[test]
fn a_reload_under_load_fails_no_request_and_switches_every_client_from_old_to_new() {
    // The module's component is a file the operator replaces in place.
    let dir = support::temp_dir();
    let deployed = dir.path().join("config_echo.wasm");
    std::fs::copy(support::guest("config_echo"), &deployed).unwrap();
    let version = |answer: &str| {
        deployment(answer).replace(
            &support::guest("config_echo").display().to_string(),
            &deployed.display().to_string(),
        )
    };
    let modhost = Modhost::start(&version("old"));
    assert_eq!(seen_of(&modhost.get("/config-echo/answer")), "v1 old");
    let (stop, clients) = steady_load(&modhost, 4);
    std::thread::sleep(Duration::from_millis(300));
    // The new version: a new component (copied in, then renamed over the
    // old, as a deploy tool would) and a new config.
    let incoming = dir.path().join("config_echo.wasm.new");
    std::fs::copy(support::guest("config_echo_v2"), &incoming).unwrap();
    std::fs::rename(&incoming, &deployed).unwrap();
    std::fs::write(modhost.config_path(), version("new")).unwrap();
    modhost.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen_of(&modhost.get("/config-echo/answer")) != "v2 new" {
        assert!(
            Instant::now() < deadline,
            "not switched:\n{}",
            modhost.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (mut olds, mut news) = (0, 0);
    for client in clients {
        let seen = client.join().unwrap();
        let failed: Vec<_> = seen
            .iter()
            .filter(|answer| !answer.starts_with('v'))
            .collect();
        assert!(failed.is_empty(), "failed during the reload: {failed:?}");
        // Only the old answer, then only the new one: never a mix, never
        // back.
        let first_new = seen.iter().position(|answer| answer == "v2 new");
        let first_new = first_new.expect("every client saw the new answer");
        assert!(seen[..first_new].iter().all(|answer| answer == "v1 old"));
        assert!(seen[first_new..].iter().all(|answer| answer == "v2 new"));
        olds += first_new;
        news += seen.len() - first_new;
    }
    assert!(olds > 0 && news > 0, "{olds} old, {news} new");
    // The new component was compiled; the unchanged one was not.
    let log = modhost.wait_for_log("reloaded:");
    assert_eq!(
        log.matches("component unchanged; not compiled again")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("component compiled module=modules.config_echo")
            .count(),
        2,
        "at start and at the reload: {log}"
    );
}

#[test]
fn a_broken_config_or_component_or_a_restart_only_change_leaves_the_old_set_serving() {
    let modhost = Modhost::start(&deployment("first"));
    let config = modhost.config_path().to_path_buf();
    let reload = || modhost.admin_post("/admin/reload");

    std::fs::write(&config, deployment("second")).unwrap();
    let done = reload();
    done.expect_status(200);
    assert_eq!(done.json()["status"], "reloaded");
    assert_eq!(answer(&modhost), "second");

    let not_wasm = config.with_file_name("broken.wasm");
    std::fs::write(&not_wasm, NOT_WASM).unwrap();
    let broken_component = deployment("third").replace(
        &support::guest("config_echo").display().to_string(),
        &not_wasm.display().to_string(),
    );
    let cases = [
        ("[modules.config_echo\n".to_string(), vec!["runtime.toml"]),
        (broken_component, vec!["module config_echo", "broken.wasm"]),
        (
            format!("{}[server]\nmax_body_bytes = 1\n", deployment("third")),
            vec!["[server] changed", "restart"],
        ),
        (
            format!(
                "{}[modules.config_echo.limits]\nmemory_bytes = 4294967296\n",
                deployment("third")
            ),
            vec!["memory_bytes", "restart"],
        ),
        // More instances at once than the pool holds while the old set
        // drains (8 + 8 slots, as many again kept for reloads).
        (
            format!(
                "{}[modules.config_echo.limits]\nmax_concurrency = 100\n",
                deployment("third")
            ),
            vec!["instance pool holds", "reload_instances"],
        ),
    ];
    for (text, needles) in &cases {
        std::fs::write(&config, text).unwrap();
        let refused = reload();
        refused.expect_status(422);
        let error = refused.json()["error"].as_str().unwrap().to_string();
        assert!(
            error.contains("the previous modules keep serving"),
            "{error}"
        );
        for needle in needles {
            assert!(error.contains(needle), "{needle} in {error}");
        }
        assert_eq!(answer(&modhost), "second", "after {text}");
    }
    assert!(
        modhost
            .log()
            .contains("reload failed; the previous modules keep serving")
    );
    modhost.get("/readyz").expect_status(200);

    let metrics = String::from_utf8(modhost.admin_get("/metrics").body).unwrap();
    for line in [
        "modhost_reloads_total{outcome=\"succeeded\"} 1",
        &format!(
            "modhost_reloads_total{{outcome=\"failed\"}} {}",
            cases.len()
        ),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    // Only the admin listener reloads.
    modhost
        .request("POST", "/admin/reload", &[], b"")
        .expect_status(404);
}

#[test]
fn with_watch_a_changed_config_is_reloaded_by_itself() {
    let modhost = Modhost::start_with_args(&deployment("before"), "info", &["--watch"]);
    assert_eq!(answer(&modhost), "before");
    std::fs::write(modhost.config_path(), deployment("after")).unwrap();
    wait_for_answer(&modhost, "after", Duration::from_secs(15));
    assert!(modhost.log().contains("a watched file changed: reloading"));
}
