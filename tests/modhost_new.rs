//! End to end: `modhost new` makes a module in each language that the
//! guest build turns into a component as it is, and that answers its
//! route once the lines it printed are in a runtime.toml.

mod support;

use std::path::Path;
use std::process::Command;

use support::{Modhost, run_modhost, shared_compile_cache};

/// The guests' workspace settings, as guest-modules/Cargo.toml has them,
/// so the build reuses what `just guests` already compiled.
const WORKSPACE: &str = "[workspace]\nresolver = \"3\"\nmembers = []\n\n\
    [profile.release]\nopt-level = 3\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = true\n";

#[test]
fn modhost_new_makes_a_module_in_each_language_that_builds_and_answers_its_route() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Inside the checkout, where modhost new finds the SDKs.
    let work = tempfile::Builder::new()
        .prefix("modhost-new-")
        .tempdir_in(root.join("target"))
        .expect("a folder under target/");
    let modules = work.path().join("modules");
    std::fs::create_dir(&modules).unwrap();
    std::fs::write(modules.join("Cargo.toml"), WORKSPACE).unwrap();
    let out = work.path().join("out");

    let mut config = shared_compile_cache();
    // A `-` in a Rust module's name: cargo names its file with `_`.
    let made = [
        ("hello-rs", "rust"),
        ("hello_py", "python"),
        ("hello_js", "js"),
    ];
    for (name, language) in made {
        let dir = modules.to_str().unwrap();
        let (status, stdout, stderr) =
            run_modhost(&["new", name, "--lang", language, "--dir", dir]);
        assert!(status.success(), "{stderr}");
        let table = stdout
            .split_once("runtime.toml:\n\n")
            .map(|(_, table)| table)
            .unwrap_or_else(|| panic!("no runtime.toml lines: {stdout}"));
        assert!(table.starts_with(&format!("[modules.{name}]\n")), "{table}");
        config += &table.replace("\"target/guests/", &format!("\"{}/", out.display()));
    }
    for (name, language, says) in [
        ("hello-rs", "rust", "already exists"),
        ("Bad Name", "python", "module name \"Bad Name\""),
    ] {
        let dir = modules.to_str().unwrap();
        let (status, _, stderr) = run_modhost(&["new", name, "--lang", language, "--dir", dir]);
        assert!(!status.success(), "{name} was made");
        assert!(stderr.contains(says), "{stderr}");
    }

    let built = Command::new(root.join("scripts/build-guests"))
        .env("GUEST_MODULES", &modules)
        .env("GUESTS_OUT", &out)
        .output()
        .expect("run scripts/build-guests");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let modhost = Modhost::start(&config);
    for (name, _) in made {
        let route = format!("/{}/hello", name.replace('_', "-"));
        let answer = modhost.get(&route);
        answer.expect_status(200);
        let id = answer
            .header("x-request-id")
            .expect("a request id")
            .to_string();
        let body = answer.json();
        assert_eq!(body["module"], name, "{body}");
        assert_eq!(body["request_id"], id.as_str(), "{body}");
        let log = modhost.wait_for_log(&format!("module={name}"));
        assert!(
            log.lines()
                .any(|line| line.contains("saying hello")
                    && line.contains(&format!("module={name}"))),
            "{log}"
        );
    }
}
