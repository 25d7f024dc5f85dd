//! End to end: WASI 0.2 is linked for guests that import it, with nothing
//! granted. The `wasi_probe` fixture asks every WASI interface what it may
//! reach and answers with what it got.

mod support;

use std::net::TcpListener;

use support::{Modhost, module_table};

#[test]
fn wasi_grants_no_environment_arguments_files_network_or_stdout() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let port = listener.local_addr().expect("its address").port();
    let mut modhost = Modhost::start(&module_table("wasi_probe"));

    let report = modhost
        .get(&format!("/wasi-probe/report?port={port}"))
        .expect_status(200)
        .json();

    // The host's own environment (MODHOST_LOG at least) and arguments
    // (`serve --listen ...`) are not the guest's.
    assert_eq!(report["environment"], serde_json::json!([]), "{report}");
    assert_eq!(report["arguments"], serde_json::json!([]), "{report}");
    assert_eq!(report["initial_cwd"], serde_json::Value::Null, "{report}");
    assert_eq!(report["preopens"], serde_json::json!([]), "{report}");
    let connect = report["tcp_connect"].as_str().expect("a connect outcome");
    assert!(connect.contains("access-denied"), "{report}");
    assert!(
        listener.accept().is_err(),
        "the guest reached a loopback listener"
    );
    let lookup = report["name_lookup"].as_str().expect("a lookup outcome");
    assert!(!lookup.starts_with("resolved"), "{report}");
    // Writing to stdout succeeds and goes nowhere.
    assert_eq!(report["stdout_write"], true, "{report}");
    modhost.kill();
    assert!(
        !modhost.stdout().contains("wasi-probe-stdout-marker"),
        "guest stdout reached the host's stdout"
    );
    assert!(
        !modhost.log().contains("wasi-probe-stdout-marker"),
        "guest stdout reached the host's stderr"
    );
    // Clocks and randomness are allowed.
    assert!(report["wall_clock_seconds"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(report["random_bytes"], 16);
}
