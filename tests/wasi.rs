//! End to end: WASI 0.2 and `wasi:http` are linked for guests that import
//! them, with nothing granted but the outbound hosts a module's config
//! names. The `wasi_probe` fixture asks every WASI interface what it may
//! reach and answers with what it got.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use support::{Modhost, module_table};

/// A loopback HTTP server that answers one request with 200 and returns
/// the request it read.
fn one_shot_http_server() -> (u16, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("the granted request");
        let mut request = [0u8; 4096];
        let read = stream.read(&mut request).expect("read the request");
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .expect("answer");
        String::from_utf8_lossy(&request[..read]).into_owned()
    });
    (port, server)
}

#[test]
fn wasi_grants_no_environment_arguments_files_or_network_but_the_outbound_hosts_granted() {
    let (listener, port) = support::guarded_port();
    let (http_port, granted_server) = one_shot_http_server();
    let config = format!(
        "{}outbound_hosts = [\"http://127.0.0.1:{http_port}\"]\n",
        module_table("wasi_probe")
    );
    let mut modhost = Modhost::start(&config);

    let response = modhost.get(&format!(
        "/wasi-probe/report?port={port}&http_port={http_port}"
    ));
    let request_id = response
        .header("x-request-id")
        .expect("a request id")
        .to_string();
    let report = response.expect_status(200).json();

    // The host's own environment (MODHOST_LOG at least) and arguments
    // (`serve --listen ...`) are not the guest's.
    assert_eq!(report["environment"], serde_json::json!([]), "{report}");
    assert_eq!(report["arguments"], serde_json::json!([]), "{report}");
    assert_eq!(report["initial_cwd"], serde_json::Value::Null, "{report}");
    assert_eq!(report["preopens"], serde_json::json!([]), "{report}");
    let connect = report["tcp_connect"].as_str().expect("a connect outcome");
    assert!(connect.contains("access-denied"), "{report}");
    // The same port through wasi:http: not granted, so refused before any
    // connection.
    assert_eq!(
        report["http_ungranted"], "response: ErrorCode::HttpRequestDenied",
        "{report}"
    );
    assert!(
        listener.accept().is_err(),
        "the guest reached a loopback listener"
    );
    // The granted origin is reached.
    assert_eq!(report["http_granted"], "status 200", "{report}");
    let seen = granted_server.join().expect("the granted server");
    assert!(seen.starts_with("GET / HTTP/1.1"), "{seen}");
    let lookup = report["name_lookup"].as_str().expect("a lookup outcome");
    assert!(!lookup.starts_with("resolved"), "{report}");
    // stdout and stderr go to the host's log as the module's, under the
    // request's id; never to the host's own stdout.
    assert_eq!(report["stdout_write"], true, "{report}");
    assert_eq!(report["stderr_write"], true, "{report}");
    let log = modhost.wait_for_log("wasi-probe-stderr-marker");
    for marker in ["wasi-probe-stdout-marker", "wasi-probe-stderr-marker"] {
        let line = log
            .lines()
            .find(|line| line.contains(marker))
            .unwrap_or_else(|| panic!("{marker} not in the log:\n{log}"));
        assert!(line.contains("module=wasi_probe"), "{line}");
        assert!(line.contains(&request_id), "{line}");
    }
    assert!(log.contains("outbound request denied"), "{log}");
    modhost.kill();
    assert!(
        !modhost.stdout().contains("wasi-probe-stdout-marker"),
        "guest stdout reached the host's stdout"
    );
    // Clocks and randomness are allowed.
    assert!(report["wall_clock_seconds"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(report["random_bytes"], 16);
}

#[test]
fn a_reused_instance_that_sent_an_outbound_request_is_retired() {
    let (http_port, granted_server) = one_shot_http_server();
    let config = format!(
        "{}outbound_hosts = [\"http://127.0.0.1:{http_port}\"]\n\
         [modules.wasi_probe.instance_reuse]\nmax_requests = 100\n",
        module_table("wasi_probe")
    );
    let modhost = Modhost::start(&config);
    let served = || modhost.get("/wasi-probe/count").json()["served"].clone();
    assert_eq!(served(), 1);
    assert_eq!(served(), 2, "the instance was not reused");
    // The report sends requests through wasi:http (one granted, one not).
    let (_listener, port) = support::guarded_port();
    modhost
        .get(&format!(
            "/wasi-probe/report?port={port}&http_port={http_port}"
        ))
        .expect_status(200);
    granted_server.join().expect("the granted server");
    assert_eq!(
        served(),
        1,
        "an instance whose call used wasi:http served again"
    );
}
