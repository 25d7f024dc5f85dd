//! Capabilities granted per module, against the real binary: a module gets
//! db, cache, module calls and auth only when its config grants them; a
//! call without the grant is an error value naming it (the module answers
//! for itself, it does not trap), and `modhost check` lists each module's
//! grants next to what its component imports.

mod support;

use serde_json::json;
use support::{Modhost, guest, run_modhost, temp_dir, write_config};

/// `my_new_module` granted `grants`.
fn my_new_module(grants: &str) -> String {
    format!(
        "[modules.my_new_module]\npath = {:?}\n{grants}",
        guest("my_new_module").display().to_string()
    )
}

#[test]
fn a_module_without_the_db_grant_gets_the_missing_grant_error_and_keeps_serving() {
    let modhost = Modhost::start(&my_new_module("grants = [\"cache\"]\n"));
    let missing = "module my_new_module is not granted db: the operator adds \"db\" to grants under [modules.my_new_module]";
    let stored = modhost.post_json("/my-module/data", &json!({"name": "x"}));
    stored.expect_status(500);
    assert_eq!(stored.json()["error"], missing);
    let listed = modhost.get("/my-module/data");
    listed.expect_status(500);
    assert_eq!(listed.json()["error"], missing);
    modhost.get("/my-module/info").expect_status(200);
    let log = modhost.log();
    assert!(
        !log.contains("trap"),
        "a missing grant is not a trap:\n{log}"
    );
}

#[test]
fn a_module_with_the_db_grant_uses_it() {
    let modhost = Modhost::start(&my_new_module("grants = [\"db\", \"cache\"]\n"));
    let stored = modhost.post_json("/my-module/data", &json!({"name": "x"}));
    stored.expect_status(200);
    modhost.get("/my-module/data").expect_status(200);
}

#[test]
fn without_the_modules_grant_the_wallet_cannot_ask_user_management() {
    let config = support::credit_system(&["u1"], 100).replace(
        "grants = [\"db\", \"cache\", \"modules\"]",
        "grants = [\"db\", \"cache\"]",
    );
    let modhost = Modhost::start(&config);
    modhost
        .as_user("u1")
        .get("/wallet/u1")
        .expect_error(500, "module wallet is not granted modules");
}

#[test]
fn an_unknown_grant_or_auth_issue_without_a_key_stops_the_start_naming_the_fix() {
    let dir = temp_dir();
    let unknown = write_config(dir.path(), &my_new_module("grants = [\"database\"]\n"));
    let (status, _, stderr) = run_modhost(&["check", "--config", unknown.to_str().unwrap()]);
    assert!(!status.success());
    assert!(stderr.contains("grants"), "{stderr}");
    assert!(stderr.contains("expected one of"), "{stderr}");

    let no_key = write_config(dir.path(), &my_new_module("grants = [\"auth.issue\"]\n"));
    let (status, _, stderr) = run_modhost(&["check", "--config", no_key.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr
            .contains("module my_new_module: grants name auth.issue, but the [auth] of its tenant (default) has no issue_key"),
        "{stderr}"
    );
}

#[test]
fn check_lists_each_modules_grants_next_to_its_imports() {
    let dir = temp_dir();
    let config = write_config(
        dir.path(),
        &format!(
            "{}{}",
            my_new_module("grants = [\"cache\"]\n"),
            support::credit_system(&["u1"], 100)
        ),
    );
    let (status, stdout, stderr) = run_modhost(&["check", "--config", config.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    let section = |name: &str| {
        let start = stdout.find(&format!("ok      {name}")).unwrap();
        let rest = &stdout[start..];
        let end = rest[1..].find("  ok").map_or(rest.len(), |end| end + 1);
        rest[..end].to_string()
    };
    let mine = section("my_new_module");
    assert!(mine.contains("grants: cache\n"), "{mine}");
    assert!(
        mine.contains("modhost:module/db@0.9.0 (not granted)"),
        "{mine}"
    );
    assert!(mine.contains("modhost:module/log@0.9.0,"), "{mine}");
    let users = section("user_management");
    assert!(
        users.contains("grants: db, cache, auth.issue, auth.passwords\n"),
        "{users}"
    );
    assert!(!users.contains("not granted"), "{users}");

    let (_, json, _) = run_modhost(&[
        "check",
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let module = |name: &str| {
        report["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|module| module["name"] == name)
            .unwrap()
            .clone()
    };
    let import = |module: &serde_json::Value, name: &str| {
        module["imports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|import| import["name"] == name)
            .unwrap()["granted"]
            .clone()
    };
    let wallet = module("wallet");
    assert_eq!(wallet["grants"], json!(["db", "cache", "modules"]));
    assert_eq!(import(&wallet, "modhost:module/modules@0.9.0"), true);
    let mine = module("my_new_module");
    assert_eq!(import(&mine, "modhost:module/db@0.9.0"), false);
}
