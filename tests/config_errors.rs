//! End to end: every kind of bad input to `modhost` gets a clear error that
//! names the file, the key or the module, and what to do.

mod support;

use support::{module_table, module_table_granted, run_modhost, temp_dir, write_config};

/// Runs `modhost <command> --config <text as a file>` and returns whether it
/// succeeded and what it printed (stdout and stderr together).
fn run_with_config(command: &str, text: &str) -> (bool, String) {
    let dir = temp_dir();
    let config = write_config(dir.path(), text);
    let config = config.to_str().unwrap();
    let mut args = vec![command, "--config", config];
    if command == "serve" {
        // Should a bad config be accepted after all, serve on a free port.
        args.extend(["--listen", "127.0.0.1:0"]);
    }
    let (status, stdout, stderr) = run_modhost(&args);
    (status.success(), format!("{stdout}{stderr}"))
}

fn assert_fails_mentioning(command: &str, text: &str, needles: &[&str]) {
    let (ok, output) = run_with_config(command, text);
    assert!(!ok, "expected a failure, got success:\n{output}");
    for needle in needles {
        assert!(output.contains(needle), "missing {needle:?} in:\n{output}");
    }
}

#[test]
fn a_missing_config_file_is_named() {
    let (status, _, stderr) = run_modhost(&["serve", "--config", "/nonexistent/runtime.toml"]);
    assert!(!status.success());
    assert!(stderr.contains("/nonexistent/runtime.toml"), "{stderr}");
    assert!(stderr.contains("--config"), "{stderr}");
}

#[test]
fn an_unknown_key_names_the_file_the_key_and_the_known_keys() {
    assert_fails_mentioning(
        "serve",
        "[server]\nlisen = \"127.0.0.1:8080\"\n",
        &["runtime.toml", "lisen", "listen"],
    );
}

#[test]
fn a_wrong_type_names_the_key() {
    assert_fails_mentioning(
        "serve",
        "[server]\nmax_body_bytes = \"big\"\n",
        &["runtime.toml", "max_body_bytes"],
    );
}

#[test]
fn malformed_toml_names_the_line() {
    assert_fails_mentioning("serve", "[server\n", &["runtime.toml", "line 1"]);
}

#[test]
fn a_missing_wasm_file_names_the_module_and_the_path() {
    assert_fails_mentioning(
        "check",
        &support::missing_module_table("ghost"),
        &["ghost", "/nonexistent/ghost.wasm", "just guests"],
    );
}

#[test]
fn a_file_that_is_not_a_component_is_named() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("text.wasm"), support::NOT_WASM).unwrap();
    // A core module: the header alone is a valid, empty one.
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let text = format!(
        "[modules.text]\npath = {:?}\n[modules.core]\npath = {:?}\n",
        dir.path().join("text.wasm"),
        dir.path().join("core.wasm")
    );
    assert_fails_mentioning(
        "check",
        &text,
        &[
            "text.wasm is not a WebAssembly component",
            "core.wasm is a core WebAssembly module",
        ],
    );
}

#[test]
fn a_component_that_does_not_implement_the_world_is_named() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("empty.wasm"), support::EMPTY_COMPONENT).unwrap();
    let text = format!(
        "[modules.empty]\npath = {:?}\n",
        dir.path().join("empty.wasm")
    );
    assert_fails_mentioning(
        "check",
        &text,
        &["empty", "does not implement the modhost:module world"],
    );
}

#[test]
fn a_component_configured_under_another_name_says_how_to_fix_it() {
    let text = format!(
        "[modules.info]\npath = {:?}\n",
        support::guest("my_new_module").display().to_string()
    );
    assert_fails_mentioning("check", &text, &["[modules.my_new_module]"]);
}

#[test]
fn two_modules_on_one_route_is_a_startup_error_naming_both() {
    let text = format!(
        "{}{}",
        module_table("my_new_module"),
        module_table("clash_module")
    );
    assert_fails_mentioning(
        "serve",
        &text,
        &[
            "route conflict",
            "my_new_module",
            "clash_module",
            "GET /my-module/info",
        ],
    );
}

#[test]
fn a_module_on_a_reserved_path_is_a_startup_error_naming_it() {
    assert_fails_mentioning(
        "serve",
        &module_table("reserved_module"),
        &[
            "reserved_module",
            "/modules/reserved_module/extra",
            "reserved for the runtime",
        ],
    );
    for path in ["/health", "/metrics", "/metrics/extra"] {
        let config = format!(
            "{}[modules.reserved_module.config]\npath = {path:?}\n",
            module_table("reserved_module")
        );
        assert_fails_mentioning(
            "serve",
            &config,
            &["reserved_module", path, "reserved for the runtime"],
        );
    }
}

/// `tables` followed by two modules' tables.
fn two_modules_after(tables: &str) -> String {
    format!(
        "{tables}{}{}",
        module_table("my_new_module"),
        module_table("trap_module")
    )
}

#[test]
fn a_pool_past_the_default_slots_address_space_starts_with_smaller_reservations() {
    // 18,001 instance slots (9,001 for the modules, as many again kept for
    // reloads): at wasmtime's default 4 GiB per memory slot that is 290
    // TiB, more than the machine's address space; each slot reserving its
    // 64 MiB instead, the pool is reserved and the modules load (`check`
    // builds the engine and loads them as `serve` does).
    let config = two_modules_after("[sandbox]\nmax_concurrency = 4500\n");
    let (ok, output) = run_with_config("check", &config);
    assert!(ok, "{output}");
    assert!(output.contains("18001 instances"), "{output}");
}

#[test]
fn pool_sizes_out_of_range_are_refused_naming_the_key() {
    assert_fails_mentioning(
        "check",
        &two_modules_after("[pool]\nmemories_per_component = 0\n"),
        &[
            "runtime.toml",
            "pool.memories_per_component is 0; it must be 1 to 1000",
        ],
    );
    assert_fails_mentioning(
        "check",
        &two_modules_after("[pool]\nkeep_resident_bytes = 1073741824\n"),
        &["pool.keep_resident_bytes is 1073741824", "at most 67108864"],
    );
    assert_fails_mentioning(
        "check",
        &two_modules_after("[pool]\nslots = 3\n"),
        &["runtime.toml", "slots"],
    );
}

#[test]
fn a_component_larger_than_a_pool_slot_fails_to_load_naming_the_pool() {
    // A Rust guest holds 3 core instances: a slot of 1 cannot take it,
    // and a slot of 4, 1 memory and 2 tables can.
    let small = "[pool]\ncore_instances_per_component = 1\n";
    assert_fails_mentioning(
        "check",
        &two_modules_after(small),
        &[
            "my_new_module",
            "3 core module instances",
            "raise the counts under [pool]",
        ],
    );
    let fitting = "[pool]\ncore_instances_per_component = 4\nmemories_per_component = 1\ntables_per_component = 2\n";
    let (ok, output) = run_with_config("check", &two_modules_after(fitting));
    assert!(ok, "{output}");
}

#[test]
fn limits_the_machine_cannot_reserve_are_a_startup_error_saying_what_to_lower() {
    // 20,000 instances of 4 GiB each: far more address space than exists.
    let config =
        two_modules_after("[sandbox]\nmemory_bytes = 4294967296\nmax_concurrency = 10000\n");
    assert_fails_mentioning(
        "check",
        &config,
        &[
            "runtime.toml",
            "instance pool",
            "lower max_concurrency or memory_bytes",
        ],
    );
}

#[test]
fn a_module_name_over_64_characters_is_refused_naming_the_rule() {
    let long = format!("m{}", "x".repeat(64));
    assert_fails_mentioning(
        "check",
        &format!("[modules.{long}]\npath = \"x.wasm\"\n"),
        &[&long, "use 1 to 64 of a-z, 0-9, '_' and '-'"],
    );
}

#[test]
fn cache_quotas_adding_up_past_the_cache_are_refused() {
    let config = two_modules_after("[sandbox]\ncache_bytes = 40000\n[cache]\nmax_bytes = 65536\n");
    assert_fails_mentioning(
        "check",
        &config,
        &[
            "runtime.toml",
            "cache_bytes add up to 80000 bytes, more than cache.max_bytes (65536)",
        ],
    );
    // Modules not granted the cache are promised none of it.
    let uncached = format!(
        "[sandbox]\ncache_bytes = 40000\n[cache]\nmax_bytes = 65536\n{}{}",
        module_table_granted("my_new_module", &["db"]),
        module_table_granted("trap_module", &[])
    );
    let (ok, output) = run_with_config("check", &uncached);
    assert!(ok, "{output}");
}

#[test]
fn check_passes_on_a_good_config_and_lists_the_routes() {
    let (ok, output) = run_with_config("check", &module_table("my_new_module"));
    assert!(ok, "{output}");
    // The module's line and its routes, whatever the columns' widths.
    let words = |line: &str| {
        line.split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let lines: Vec<Vec<String>> = output.lines().map(words).collect();
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with(&["ok".into(), "my_new_module".into()])),
        "{output}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line[..] == ["route", "GET", "/my-module/info"]),
        "{output}"
    );
}
