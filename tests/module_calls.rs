//! End to end: modules calling the modules they depend on, and the host
//! refusing every other call with an error the guest handles.

mod support;

use support::{Modhost, module_table};

fn dependent_and_trap(extra: &str) -> Modhost {
    Modhost::start(&format!(
        "{}{}{}{extra}",
        module_table("dependent_module"),
        module_table("trap_module"),
        module_table("my_new_module"),
    ))
}

#[test]
fn a_declared_dependency_answers_through_its_own_route() {
    let modhost = dependent_and_trap("");
    let response = modhost.get("/dependent/relay?q=x%20y");
    assert_eq!(response.status, 200);
    let request_id = response.header("x-request-id").unwrap().to_string();
    let echoed = response.json();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["route"], "/trap/echo/:id/...");
    assert_eq!(echoed["id"], "relayed");
    // The callee serves the same request: its own request id is the
    // caller's, and it sees the caller's query, header and body.
    assert_eq!(echoed["request_id"], request_id);
    assert_eq!(echoed["tail"], request_id, "the caller's id, in the path");
    assert_eq!(echoed["q"], "x y");
    assert_eq!(echoed["header"], "from dependent");
    assert_eq!(echoed["body"], "hi");
}

#[test]
fn a_callee_with_no_such_route_or_that_fails_is_an_error_the_caller_passes_on() {
    let modhost = dependent_and_trap("");
    let missing = modhost.get("/dependent/call/trap/nothing");
    missing.expect_error(502, "module trap_module has no route for GET /trap/nothing");
    let failed = modhost.get("/dependent/call/trap/panic");
    let request_id = failed
        .header("x-request-id")
        .unwrap_or_default()
        .to_string();
    failed.expect_error(
        502,
        &format!(
            "module trap_module failed while handling the request; see the runtime log for request {request_id}"
        ),
    );
    // The details are in the log, not in the answer.
    let message = failed.json()["error"].as_str().unwrap().to_string();
    assert!(!message.contains("panics on purpose"), "{message}");
    modhost.wait_for_log("trap_module panics on purpose");
    assert_eq!(modhost.get("/dependent/call/trap/ok").status, 200);
}

#[test]
fn a_callee_runs_with_its_own_config() {
    let modhost = dependent_and_trap(
        "[modules.trap_module.config]\ngreeting = \"from trap\"\n[modules.dependent_module.config]\ngreeting = \"from dependent\"\n",
    );
    let answer = modhost.get("/dependent/call/trap/config");
    answer.expect_status(200);
    assert_eq!(answer.json()["greeting"], "from trap");
}

#[test]
fn a_call_to_an_undeclared_module_is_refused_as_a_value() {
    let modhost = dependent_and_trap("");
    let response = modhost.get("/dependent/undeclared");
    assert_eq!(response.status, 403, "the guest handled the refusal itself");
    let refused = response.json()["refused"].as_str().unwrap().to_string();
    assert!(
        refused.contains("did not declare my_new_module"),
        "{refused}"
    );
}

#[test]
fn a_chain_deeper_than_the_limit_ends_with_a_clear_error() {
    // chain_module -> dependent_module -> trap_module: two calls deep.
    let chain = module_table("chain_module");
    let modhost = dependent_and_trap(&format!("{chain}[sandbox]\nmax_call_depth = 1\n"));
    let response = modhost.get("/chain");
    assert_eq!(response.status, 502, "the second call was refused");
    let message = response.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("deeper than the limit of 1"), "{message}");
    // One call deep is within the limit, and the host is unharmed.
    assert_eq!(modhost.get("/dependent/relay").status, 200);
    // Two calls deep at a limit of two: exactly at the limit is allowed.
    let at_limit = dependent_and_trap(&format!("{chain}[sandbox]\nmax_call_depth = 2\n"));
    at_limit.get("/chain").expect_status(200);

    let unlimited = dependent_and_trap(&chain);
    let through = unlimited.get("/chain");
    assert_eq!(
        through.status, 200,
        "two calls are fine under the default limit"
    );
    assert_eq!(through.json()["route"], "/trap/echo/:id/...");
}

#[test]
fn the_example_wallet_asks_user_management_about_its_users() {
    let modhost = Modhost::start(&support::example_deployment());
    let wallet = modhost.as_user("u1").get("/wallet/u1");
    assert_eq!(wallet.status, 200);
    let body = wallet.json();
    assert_eq!(body["user"]["name"], "Ada Lovelace");
    assert_eq!(body["balance"], 100);

    // An SDK error: its status, and the request id in body and header.
    modhost
        .as_admin()
        .get("/wallet/nobody")
        .expect_error(404, "no user with id nobody");

    let health = modhost.get("/modules/wallet/health").json();
    assert_eq!(
        health["dependencies"],
        serde_json::json!({ "user_management": "ready" })
    );
    assert_eq!(
        modhost.get("/modules/user_management/health").json()["users"],
        3,
        "u1, u2 and admin"
    );
}
