//! End to end: modules start in dependency order; a missing or failed
//! dependency, or a failing `init`, fails that module and its dependents
//! while the rest serve; a dependency cycle stops the runtime.

mod support;

use support::{Modhost, module_table, run_modhost, temp_dir, write_config};

#[test]
fn dependencies_are_initialised_first() {
    // dependent_module sorts before trap_module, so only the dependency
    // graph puts trap_module's init first.
    let modhost = Modhost::start(&format!(
        "{}{}",
        module_table("dependent_module"),
        module_table("trap_module")
    ));
    assert_eq!(modhost.get("/dependent").status, 200);
    // When each init finished, as the runtime recorded it.
    let finished = |name: &str| {
        let listed = modhost.module_listing(name);
        let at = listed["initialized_at"].as_str().expect("an init time");
        chrono::DateTime::parse_from_rfc3339(at).unwrap_or_else(|err| panic!("{at}: {err}"))
    };
    assert!(
        finished("trap_module") < finished("dependent_module"),
        "dependent_module was initialised before its dependency"
    );
    let health = modhost.get("/modules/dependent_module/health").json();
    assert_eq!(
        health["dependencies"],
        serde_json::json!({ "trap_module": "ready" })
    );
}

#[test]
fn a_missing_dependency_fails_the_dependent_and_the_rest_serve() {
    let modhost = Modhost::start(&format!(
        "{}{}",
        module_table("dependent_module"),
        module_table("my_new_module")
    ));
    assert_eq!(modhost.get("/my-module/info").status, 200);

    let route = modhost.get("/dependent");
    assert_eq!(route.status, 503);
    let message = route.json()["error"].as_str().unwrap().to_string();
    assert!(
        message.contains("trap_module is not configured"),
        "{message}"
    );

    let health = modhost.get("/health");
    assert_eq!(health.status, 503);
    let failed = &health.json()["failed"];
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(failed[0]["module"], "dependent_module");
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("[modules.trap_module]")
    );

    let module_health = modhost.get("/modules/dependent_module/health");
    assert_eq!(module_health.status, 503);
    assert_eq!(
        module_health.json()["dependencies"],
        serde_json::json!({ "trap_module": "missing" })
    );
}

#[test]
fn a_failing_init_marks_the_module_failed_with_its_reason() {
    let modhost = Modhost::start(&format!(
        "{}{}",
        module_table("init_fail_module"),
        module_table("my_new_module")
    ));
    assert_eq!(modhost.get("/my-module/info").status, 200);
    let route = modhost.get("/init-fail");
    assert_eq!(route.status, 503);
    assert!(
        route.json()["error"]
            .as_str()
            .unwrap()
            .contains("init failed: the database is not reachable")
    );
    let failed = modhost.module_listing("init_fail_module");
    assert_eq!(failed["state"], "failed");
    assert_eq!(
        failed["reason"],
        "init failed: the database is not reachable"
    );
}

#[test]
fn a_failed_init_fails_every_module_that_depends_on_it_down_the_chain() {
    // chain_module -> dependent_module -> trap_module, whose init fails.
    let modhost = Modhost::start(&format!(
        "{}{}{}{}[modules.trap_module.config]\nfail_init = true\n",
        module_table("chain_module"),
        module_table("dependent_module"),
        module_table("trap_module"),
        module_table("my_new_module"),
    ));
    assert_eq!(modhost.get("/my-module/info").status, 200);
    let reason = |name: &str| {
        let listed = modhost.module_listing(name);
        assert_eq!(listed["state"], "failed", "{name}: {listed}");
        listed["reason"].as_str().unwrap().to_string()
    };
    assert_eq!(
        reason("trap_module"),
        "init failed: asked to fail by its config"
    );
    assert!(reason("dependent_module").contains("its dependency trap_module failed"));
    assert!(reason("chain_module").contains("its dependency dependent_module failed"));
    modhost.get("/chain").expect_error(503, "dependent_module");
}

#[test]
fn a_dependency_that_fails_to_load_fails_its_dependents() {
    let modhost = Modhost::start(&format!(
        "{}{}",
        module_table("dependent_module"),
        support::missing_module_table("trap_module")
    ));
    let health = modhost.get("/health").json();
    let failed: Vec<&str> = health["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["module"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["dependent_module", "trap_module"]);
    assert!(
        modhost.get("/dependent").json()["error"]
            .as_str()
            .unwrap()
            .contains("its dependency trap_module failed")
    );
}

#[test]
fn a_dependency_cycle_is_a_startup_error_that_prints_it() {
    let dir = temp_dir();
    let config = write_config(
        dir.path(),
        &format!("{}{}", module_table("cycle_a"), module_table("cycle_b")),
    );
    let (status, _, stderr) = run_modhost(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains("dependency cycle: cycle_a -> cycle_b -> cycle_a"),
        "{stderr}"
    );
    assert!(stderr.contains("runtime.toml"), "{stderr}");
}

#[test]
fn check_prints_the_init_order_with_dependencies_and_routes() {
    let dir = temp_dir();
    let config = write_config(
        dir.path(),
        &format!(
            "{}{}",
            module_table("dependent_module"),
            module_table("trap_module")
        ),
    );
    let check = |config: &std::path::Path| {
        let config = config.to_str().unwrap();
        let (status, stdout, stderr) =
            run_modhost(&["check", "--config", config, "--format", "json"]);
        let report: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}{stderr}"));
        (
            status.success(),
            report["modules"].as_array().unwrap().clone(),
        )
    };
    let (ok, modules) = check(&config);
    assert!(ok, "{modules:?}");
    let names: Vec<&str> = modules
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["trap_module", "dependent_module"], "init order");
    let dependent = &modules[1];
    assert_eq!(dependent["state"], "ready");
    assert_eq!(
        dependent["dependencies"],
        serde_json::json!(["trap_module"])
    );
    let routes = dependent["routes"].as_array().unwrap();
    assert!(
        routes.contains(&serde_json::json!("GET /dependent")),
        "{routes:?}"
    );

    let failing = write_config(dir.path(), &module_table("dependent_module"));
    let (ok, modules) = check(&failing);
    assert!(!ok);
    assert_eq!(modules[0]["name"], "dependent_module");
    assert_eq!(modules[0]["state"], "failed");
}

#[test]
fn two_modules_of_one_name_is_a_startup_error_naming_both_tables() {
    let dir = temp_dir();
    let copy = format!(
        "[modules.second_copy]\npath = {:?}\n",
        support::guest("my_new_module").display().to_string()
    );
    let config = write_config(
        dir.path(),
        &format!("{}{copy}", module_table("my_new_module")),
    );
    let (status, _, stderr) = run_modhost(&["check", "--config", config.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains("two modules are named my_new_module"),
        "{stderr}"
    );
    assert!(stderr.contains("[modules.second_copy]"), "{stderr}");
}

#[test]
fn modhost_log_chooses_what_the_log_shows() {
    let dir = temp_dir();
    let config = write_config(dir.path(), &module_table("trap_module"));
    // The log of `modhost check` with MODHOST_LOG set to `filter`, or unset.
    let log_of = |filter: Option<&str>| {
        let mut check = std::process::Command::new(env!("CARGO_BIN_EXE_modhost"));
        check.args(["check", "--config"]).arg(&config);
        match filter {
            Some(filter) => check.env("MODHOST_LOG", filter),
            None => check.env_remove("MODHOST_LOG"),
        };
        let output = check.output().expect("run modhost");
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let log_with = |filter: &str| log_of(Some(filter));
    assert!(log_with("info").contains("module loaded"));
    assert!(!log_with("warn").contains("module loaded"));
    assert!(!log_with("modhost=warn").contains("module loaded"));
    // Guests' own records can be quieted apart from the host's.
    let quiet_guests = log_with("info,modhost::guest=warn");
    assert!(quiet_guests.contains("module loaded"), "{quiet_guests}");
    assert!(
        !quiet_guests.contains("init of trap_module"),
        "{quiet_guests}"
    );
    assert!(log_with("info").contains("init of trap_module"));
    // Unset, the filter is info: wasmtime's DEBUG records (present at
    // `debug`) are not shown.
    assert!(log_with("debug").contains(" DEBUG "));
    let unset = log_of(None);
    assert!(unset.contains("module loaded"), "{unset}");
    assert!(!unset.contains(" DEBUG "), "{unset}");
}
