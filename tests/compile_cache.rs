//! The on-disk compile cache, against the real binary: a second start
//! loads what the first compiled; an entry whose bytes do not match the hash
//! beside them, or that wasmtime refuses, is compiled again and rewritten,
//! never loaded; a disabled cache writes nothing; a file many tenants
//! deploy is compiled once.

mod support;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use support::{Modhost, guest, module_table, temp_dir, write_config};

/// The `.cwasm` entries under `folder`.
fn entries(folder: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(folder) {
        Ok(read) => read
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The SHA-256 of `bytes` in lower-case hex, as the cache writes it.
fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Tenant `tenant` at the prefix `/<tenant>`, deploying `my_new_module`
/// from the component at `path`.
fn tenant_at_its_prefix(tenant: &str, path: &Path) -> String {
    format!(
        "[tenants.{tenant}]\nprefix = \"/{tenant}\"\n[tenants.{tenant}.modules.my_new_module]\npath = {:?}\n",
        path.display().to_string()
    )
}

/// Starts the config in `dir`, checks it serves, and returns its log.
fn start_and_serve(config: &Path, dir: &Path) -> String {
    let modhost = Modhost::start_with(config, dir);
    modhost.get("/my-module/info").expect_status(200);
    modhost.log()
}

#[test]
fn a_second_start_loads_what_the_first_compiled_and_a_bad_entry_is_compiled_again() {
    let dir = temp_dir();
    let config = write_config(dir.path(), &module_table("my_new_module"));
    let cache = dir.path().join("data/compile-cache");

    let first = start_and_serve(&config, dir.path());
    assert!(
        first.contains("component compiled module=modules.my_new_module"),
        "{first}"
    );
    let [entry] = entries(&cache).try_into().unwrap();
    let second = start_and_serve(&config, dir.path());
    assert!(
        second.contains("component loaded from the compile cache module=modules.my_new_module"),
        "{second}"
    );
    assert!(!second.contains("component compiled"), "{second}");

    // One byte changed: the hash beside it no longer matches.
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let corrupted = start_and_serve(&config, dir.path());
    assert!(
        corrupted.contains("do not match the hash beside them"),
        "{corrupted}"
    );
    assert!(
        corrupted.contains("component compiled module=modules.my_new_module"),
        "{corrupted}"
    );
    let rewritten = start_and_serve(&config, dir.path());
    assert!(
        rewritten.contains("loaded from the compile cache"),
        "{rewritten}"
    );

    // Bytes that match their hash but are no compiled component: wasmtime
    // refuses them, and the component is compiled again.
    let garbage = b"not a compiled component at all".to_vec();
    std::fs::write(&entry, &garbage).unwrap();
    std::fs::write(entry.with_extension("sha256"), hex(&garbage)).unwrap();
    let refused = start_and_serve(&config, dir.path());
    assert!(refused.contains("wasmtime refused the entry"), "{refused}");
    assert!(
        refused.contains("component compiled module=modules.my_new_module"),
        "{refused}"
    );
}

#[test]
fn a_disabled_cache_keeps_nothing() {
    let dir = temp_dir();
    let config = write_config(
        dir.path(),
        &format!(
            "[compile_cache]\nenabled = false\n{}",
            module_table("my_new_module")
        ),
    );
    let log = start_and_serve(&config, dir.path());
    assert!(log.contains("component compiled"), "{log}");
    assert!(entries(&dir.path().join("data/compile-cache")).is_empty());
    let again = start_and_serve(&config, dir.path());
    assert!(!again.contains("compile cache"), "{again}");
}

#[test]
fn a_component_many_tenants_deploy_is_compiled_once() {
    let dir = temp_dir();
    let tenants: String = (0..3)
        .map(|n| tenant_at_its_prefix(&format!("t{n}"), &guest("my_new_module")))
        .collect();
    let config = write_config(dir.path(), &tenants);
    let modhost = Modhost::start_with(&config, dir.path());
    for n in 0..3 {
        modhost
            .get(&format!("/t{n}/my-module/info"))
            .expect_status(200);
    }
    let log = modhost.log();
    assert_eq!(log.matches("component compiled").count(), 1, "{log}");
    assert!(log.contains("deployments=3"), "{log}");
    assert!(!log.contains("loaded from the compile cache"), "{log}");
    assert_eq!(entries(&dir.path().join("data/compile-cache")).len(), 1);
}

#[test]
fn the_same_bytes_at_two_paths_compile_at_once_into_one_good_entry() {
    let dir = temp_dir();
    let copy = dir.path().join("copy.wasm");
    std::fs::copy(guest("my_new_module"), &copy).unwrap();
    let config = write_config(
        dir.path(),
        &(tenant_at_its_prefix("a", &guest("my_new_module")) + &tenant_at_its_prefix("b", &copy)),
    );
    let first = Modhost::start_with(&config, dir.path());
    first.get("/a/my-module/info").expect_status(200);
    first.get("/b/my-module/info").expect_status(200);
    drop(first);
    let [entry] = entries(&dir.path().join("data/compile-cache"))
        .try_into()
        .unwrap();
    let hash = std::fs::read_to_string(entry.with_extension("sha256")).unwrap();
    assert_eq!(hex(&std::fs::read(&entry).unwrap()), hash);
    let second = Modhost::start_with(&config, dir.path());
    second.get("/b/my-module/info").expect_status(200);
    let log = second.log();
    assert_eq!(
        log.matches("loaded from the compile cache").count(),
        2,
        "{log}"
    );
    assert!(!log.contains("component compiled"), "{log}");
}
