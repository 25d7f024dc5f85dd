//! End to end, what an operator relies on: a graceful stop on SIGTERM or
//! SIGINT, the probes, request ids and the access log, JSON logs.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Modhost, guarded_port, module_table};

/// The misbehaving fixture (and the module it depends on).
fn misbehaving() -> String {
    format!(
        "{}{}",
        module_table("misbehaving_module"),
        module_table("spin_module")
    )
}

/// The misbehaving fixture, whose `POST /misbehave/echo` answers a request
/// only once its whole body has arrived: a request as slow as its client.
fn echo_host(extra: &str) -> Modhost {
    Modhost::start(&format!("{}{extra}", misbehaving()))
}

/// A request whose body is half sent: the connection and how much is left.
fn half_sent_echo(modhost: &Modhost, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(modhost.addr).unwrap();
    let head = format!(
        "POST /misbehave/echo HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..body.len() / 2]).unwrap();
    stream
}

/// Sends the rest of `body` and reads the response until the server closes.
fn finish_echo(mut stream: TcpStream, body: &[u8]) -> String {
    stream.write_all(&body[body.len() / 2..]).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn sigterm_lets_requests_in_flight_finish_refuses_new_connections_and_exits_zero() {
    let mut modhost = echo_host("");
    let body = b"a body that arrives in two halves, slowly".to_vec();
    // Slow clients, and a slow guest: busy for a second and a half.
    let slow = [
        half_sent_echo(&modhost, &body),
        half_sent_echo(&modhost, &body),
    ];
    let addr = modhost.addr;
    let busy =
        std::thread::spawn(move || support::http_request(addr, "GET", "/spin/for/1500", &[], b""));
    // An idle keep-alive connection: closed by the stop, not waited for.
    let idle = TcpStream::connect(modhost.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    modhost.signal("TERM");
    modhost.wait_for_log("SIGTERM: stopping");
    // Closed to new clients at once...
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(modhost.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...while the requests in flight still get their answers.
    assert!(
        modhost.wait_exit(Duration::from_millis(500)).is_none(),
        "exited with requests in flight"
    );
    for stream in slow {
        let response = finish_echo(stream, &body);
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with(std::str::from_utf8(&body).unwrap()));
        assert!(response.contains("connection: close"), "{response}");
    }
    let busy = busy.join().unwrap();
    busy.expect_status(200);
    assert_eq!(busy.json()["spun_ms"], 1500);
    let status = modhost
        .wait_exit(Duration::from_secs(10))
        .expect("modhost exits once its requests are done");
    assert_eq!(status.code(), Some(0), "{}", modhost.log());
    assert!(modhost.log().contains("every request finished"));
    drop(idle);
}

#[test]
fn a_second_signal_exits_at_once_and_the_grace_period_bounds_the_wait() {
    let body = b"never finished".to_vec();
    let mut patient = echo_host("[server]\nshutdown_grace_ms = 60000\n");
    let _stuck = half_sent_echo(&patient, &body);
    std::thread::sleep(Duration::from_millis(200));
    patient.signal("INT");
    patient.wait_for_log("SIGINT: stopping");
    assert!(patient.wait_exit(Duration::from_millis(500)).is_none());
    patient.signal("TERM");
    let status = patient
        .wait_exit(Duration::from_secs(5))
        .expect("a second signal exits at once");
    assert_eq!(status.code(), Some(130));
    assert!(patient.log().contains("SIGTERM during the graceful stop"));

    let mut hurried = echo_host("[server]\nshutdown_grace_ms = 300\n");
    let _stuck = half_sent_echo(&hurried, &body);
    std::thread::sleep(Duration::from_millis(200));
    hurried.signal("TERM");
    let status = hurried
        .wait_exit(Duration::from_secs(5))
        .expect("the grace period ends the wait");
    assert_eq!(status.code(), Some(0));
    assert!(
        hurried
            .log()
            .contains("server.shutdown_grace_ms passed with 1 connections open"),
        "{}",
        hurried.log()
    );
}

#[test]
fn the_probes_answer_on_both_listeners_and_readiness_fails_only_for_the_database() {
    let modhost = echo_host("");
    for addr in [modhost.addr, modhost.admin] {
        let live = support::http_request(addr, "GET", "/livez", &[], b"");
        live.expect_status(200);
        let ready = support::http_request(addr, "GET", "/readyz", &[], b"");
        ready.expect_status(200);
        assert_eq!(ready.json()["phase"], "serving");
    }
    modhost
        .request("POST", "/readyz", &[], b"")
        .expect_status(405);

    // A Redis nobody listens on: the host serves (the cache fails as
    // unavailable, the modules fall back) and stays ready, saying it is
    // degraded; a MongoDB nobody listens on makes it not ready, saying why.
    let (_closed, port) = guarded_port();
    drop(_closed);
    let redis_down = echo_host(&format!(
        "[cache]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\ntimeout_ms = 200\n"
    ));
    let ready = redis_down.get("/readyz");
    ready.expect_status(200);
    let degraded = ready.json()["degraded"][0].as_str().unwrap().to_string();
    assert!(degraded.starts_with("cache: "), "{degraded}");
    let mongo_down = echo_host(&format!(
        "[db]\nbackend = \"mongodb\"\nuri = \"mongodb://127.0.0.1:{port}/\"\ntimeout_ms = 200\n"
    ));
    mongo_down.get("/livez").expect_status(200);
    let ready = mongo_down.get("/readyz");
    ready.expect_status(503);
    let reason = ready.json()["reason"].as_str().unwrap().to_string();
    assert!(reason.starts_with("a backend is down: db: "), "{reason}");
    mongo_down.get("/misbehave/ok").expect_status(200);
}

/// `GET /misbehave/ok` sent with `x-request-id: id`; answered 200.
fn ok_with_id(modhost: &Modhost, id: &str) -> support::HttpResponse {
    let answer = modhost.request("GET", "/misbehave/ok", &[("x-request-id", id)], b"");
    answer.expect_status(200);
    answer
}

#[test]
fn a_well_formed_request_id_is_kept_and_every_request_gets_one_access_line() {
    let modhost = echo_host("");
    let kept = ok_with_id(&modhost, "trace-4bf92f35.77b3:1");
    assert_eq!(kept.header("x-request-id"), Some("trace-4bf92f35.77b3:1"));
    let forged = ok_with_id(&modhost, "x\" status=500");
    let made = forged.header("x-request-id").unwrap().to_string();
    assert_ne!(made, "x\" status=500");
    let missing = modhost.get("/nowhere");
    missing.expect_status(404);
    let unnamed = missing.header("x-request-id").unwrap().to_string();

    let log = modhost.wait_for_log(&unnamed);
    let access: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("modhost::access"))
        .collect();
    let line_of = |id: &str| {
        access
            .iter()
            .find(|line| line.contains(&format!("request_id={id}")))
            .unwrap_or_else(|| panic!("no access line for {id}:\n{log}"))
            .to_string()
    };
    let kept_line = line_of("trace-4bf92f35.77b3:1");
    for needle in [
        "tenant=default",
        "module=misbehaving_module",
        "status=200",
        "path=/misbehave/ok",
        "micros=",
    ] {
        assert!(kept_line.contains(needle), "{needle} in {kept_line}");
    }
    assert!(line_of(&made).contains("status=200"));
    assert!(line_of(&unnamed).contains("status=404"));

    // A client that leaves while its guest runs still gets its line: 499.
    let mut left = TcpStream::connect(modhost.addr).unwrap();
    left.write_all(b"GET /misbehave/loop HTTP/1.1\r\nhost: test\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(left);
    let log = modhost.wait_for_log("status=499");
    assert!(
        log.lines()
            .any(|line| line.contains("status=499") && line.contains("path=/misbehave/loop")),
        "{log}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_the_request_span() {
    let modhost = Modhost::start_with_args(&misbehaving(), "info", &["--log-format", "json"]);
    ok_with_id(&modhost, "json-line-1");
    let log = modhost.wait_for_log("json-line-1");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();
    let access = lines
        .iter()
        .find(|line| line["target"] == "modhost::access")
        .expect("an access line");
    assert_eq!(access["span"]["request_id"], "json-line-1");
    assert_eq!(access["span"]["tenant"], "default");
    assert_eq!(access["span"]["module"], "misbehaving_module");
    assert_eq!(access["status"], 200);
    assert_eq!(access["level"], "INFO");
    assert!(lines.iter().any(|line| {
        line["message"]
            .as_str()
            .is_some_and(|m| m.contains("compiled 2 of 2 components"))
    }));
}

/// One sample of a Prometheus text exposition: name, labels, value.
struct Sample {
    name: String,
    labels: std::collections::BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format (0.0.4): `# HELP`/`# TYPE` lines,
/// each name typed once, and `name{key="value",...} number` samples;
/// panics on anything else.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut typed = std::collections::BTreeSet::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            if let Some(family) = comment.strip_prefix("TYPE ") {
                let name = family.split(' ').next().unwrap().to_string();
                assert!(typed.insert(name), "typed twice: {line}");
            } else {
                assert!(comment.starts_with("HELP "), "{line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("labels end with }")),
            None => (series, ""),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        let mut parsed = std::collections::BTreeMap::new();
        let mut rest = labels;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").expect("key=\"value\"");
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().expect("a closing quote") {
                    (_, '\\') => match chars.next().expect("an escape").1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (at, '"') => break at,
                    (_, c) => value.push(c),
                }
            };
            parsed.insert(key.to_string(), value);
            rest = after[end + 1..].trim_start_matches(',');
        }
        samples.push(Sample {
            name: name.to_string(),
            labels: parsed,
            value,
        });
    }
    samples
}

/// A sample's name, some of its labels, and its value.
type Expected<'a> = (&'a str, Vec<(&'a str, &'a str)>, f64);

/// The value of the sample `name` whose labels include `labels`.
fn sample(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(value))
        })
        .map(|sample| sample.value)
}

#[test]
fn metrics_count_known_requests_calls_limits_and_a_modules_own_series() {
    let modhost = Modhost::start(&format!(
        "{}{}",
        support::example_deployment(),
        misbehaving()
    ));
    for i in 0..3 {
        let record = serde_json::json!({ "name": format!("record {i}") });
        modhost
            .post_json("/my-module/data", &record)
            .expect_status(200);
    }
    modhost.get("/my-module/info").expect_status(200);
    modhost.get("/nowhere").expect_status(404);
    modhost.get("/misbehave/recurse").expect_status(500);
    for language in ["py", "js"] {
        modhost
            .post_json(
                &format!("/notes-{language}/notes"),
                &serde_json::json!({ "text": "hello" }),
            )
            .expect_status(201);
    }
    // /metrics is the admin listener's only.
    modhost.get("/metrics").expect_status(404);

    let scraped = modhost.admin_get("/metrics");
    scraped.expect_status(200);
    assert!(
        scraped
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let samples = parse_exposition(std::str::from_utf8(&scraped.body).unwrap());
    let mine = [("tenant", "default"), ("module", "my_new_module")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut labels = mine.to_vec();
        labels.extend_from_slice(extra);
        labels
    };
    let posts = with(&[
        ("route", "/my-module/data"),
        ("method", "POST"),
        ("status", "200"),
    ]);
    let expectations: Vec<Expected> = vec![
        ("modhost_requests_total", posts, 3.0),
        (
            "modhost_request_duration_seconds_count",
            with(&[("route", "/my-module/data")]),
            3.0,
        ),
        (
            "modhost_requests_total",
            with(&[
                ("route", "/my-module/info"),
                ("method", "GET"),
                ("status", "200"),
            ]),
            1.0,
        ),
        // /nowhere and the public /metrics: no route took them.
        (
            "modhost_requests_total",
            vec![("tenant", ""), ("route", ""), ("status", "404")],
            2.0,
        ),
        (
            "modhost_requests_in_flight",
            with(&[("route", "/my-module/data")]),
            0.0,
        ),
        (
            "modhost_db_calls_total",
            with(&[("operation", "insert_many")]),
            3.0,
        ),
        (
            "modhost_db_call_duration_seconds_count",
            with(&[("operation", "insert_many")]),
            3.0,
        ),
        (
            "modhost_limit_hits_total",
            vec![("module", "misbehaving_module"), ("limit", "trap")],
            1.0,
        ),
        // The module's own, through the metrics interface (Rust, Python, JS).
        ("modhost_module_records_saved_total", with(&[]), 3.0),
        ("modhost_module_data_writes_seconds_count", with(&[]), 3.0),
        (
            "modhost_module_notes_stored_total",
            vec![("module", "notes_py"), ("language", "python")],
            1.0,
        ),
        (
            "modhost_module_notes_stored_total",
            vec![("module", "notes_js"), ("language", "javascript")],
            1.0,
        ),
        (
            "modhost_build_info",
            vec![("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        ),
    ];
    for (name, labels, value) in expectations {
        assert_eq!(
            sample(&samples, name, &labels),
            Some(value),
            "{name} {labels:?} in:\n{}",
            String::from_utf8_lossy(&scraped.body)
        );
    }
    let instances = sample(&samples, "modhost_instances_created_total", &mine).unwrap();
    assert!(instances >= 4.0, "{instances}");
    let components = sample(
        &samples,
        "modhost_components_total",
        &[("outcome", "cached")],
    )
    .unwrap_or(0.0)
        + sample(
            &samples,
            "modhost_components_total",
            &[("outcome", "compiled")],
        )
        .unwrap_or(0.0);
    assert!(components >= 7.0, "{components}");
}
