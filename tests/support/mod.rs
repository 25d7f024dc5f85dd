//! What the end-to-end tests share: the real `modhost` binary started on a
//! free loopback port with a config written for the test, the guest
//! components built from guest-modules/, and a small HTTP/1.1 client.
//!
//! The client is written out here (forty lines over `TcpStream`) because the
//! tests need byte-exact control of methods, headers and bodies and nothing
//! more; a general client crate would add a TLS stack to every build.

#![allow(dead_code)] // Each test binary uses its own part of the support.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a runtime may take to start (it compiles every guest).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The compiled component of guest module `name`, built by `just guests`.
pub fn guest(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/guests")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the guest modules first with `just guests`",
        path.display()
    );
    path
}

/// A folder for one test's files, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// Writes `text` as `runtime.toml` into `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("runtime.toml");
    std::fs::write(&path, text).expect("write the test config");
    path
}

/// The `[modules.<name>]` table loading guest `name` from the build output,
/// granted the capabilities the fixtures use (not `auth.issue`, which
/// needs an `issue_key`).
pub fn module_table(name: &str) -> String {
    module_table_granted(name, &["db", "cache", "modules", "auth.passwords"])
}

/// The `[modules.<name>]` table loading guest `name`, granted `grants`.
pub fn module_table_granted(name: &str, grants: &[&str]) -> String {
    format!(
        "[modules.{name}]\npath = {:?}\ngrants = {grants:?}\n",
        guest(name).display().to_string()
    )
}

/// The environment variable the tests' HS256 secret is in, as in the
/// example deployment; every runtime the tests start has it set.
pub const SECRET_ENV: &str = "MODHOST_AUTH_SECRET";
/// The tests' HS256 secret.
pub const TEST_SECRET: &str = "the-end-to-end-tests-own-secret-of-enough-bytes";
/// The issuer and audience of the example deployment and of [`auth_section`].
pub const ISSUER: &str = "modhost-example";

/// `[auth]` as the example deployment has it: one HS256 key, kid `main`,
/// read from [`SECRET_ENV`], that `auth.issue` signs with.
pub fn auth_section() -> String {
    format!(
        "[auth]\nissuer = {ISSUER:?}\naudience = {ISSUER:?}\nissue_key = \"main\"\n\
         [[auth.keys]]\nkid = \"main\"\nalgorithm = \"HS256\"\nsecret_env = {SECRET_ENV:?}\n"
    )
}

/// A token for `subject` with `roles`, valid for ten minutes, signed with
/// the tests' secret.
pub fn token(subject: &str, roles: &[&str]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": subject, "iss": ISSUER, "aud": ISSUER,
        "iat": now, "exp": now + 600, "roles": roles,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("main".into());
    let key = jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// The claims of a token, read without checking it.
pub fn claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("the payload is base64url");
    serde_json::from_slice(&json).expect("the payload is JSON")
}

/// `[auth]` and the credit system: `user_management` with `users` (ids;
/// each named "User <id>" with the email `<id>@example.com`), and `wallet`
/// giving each `initial_credits`.
pub fn credit_system<S: AsRef<str>>(users: &[S], initial_credits: i64) -> String {
    let users: Vec<String> = users
        .iter()
        .map(|id| {
            let id = id.as_ref();
            format!("{{ id = \"{id}\", name = \"User {id}\", email = \"{id}@example.com\" }}")
        })
        .collect();
    format!(
        "{}{}[modules.user_management.config]\nusers = [{}]\n{}[modules.wallet.config]\ninitial_credits = {initial_credits}\n",
        auth_section(),
        module_table_granted(
            "user_management",
            &["db", "cache", "auth.passwords", "auth.issue"]
        ),
        users.join(", "),
        module_table_granted("wallet", &["db", "cache", "modules"]),
    )
}

/// A `[modules.<name>]` table whose component does not exist, at
/// `/nonexistent/<name>.wasm`.
pub fn missing_module_table(name: &str) -> String {
    format!("[modules.{name}]\npath = \"/nonexistent/{name}.wasm\"\n")
}

/// The example deployment, `runtime.toml`, with its module paths pointing at
/// the build output.
pub fn example_deployment() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("runtime.toml")).expect("read runtime.toml");
    let guests = guest("my_new_module")
        .parent()
        .expect("the guests folder")
        .display()
        .to_string();
    let text = text.replace("\"target/guests/", &format!("\"{guests}/"));
    format!("{}{text}", shared_compile_cache())
}

/// A loopback port a guest must not reach, and its listener (non-blocking:
/// `accept` fails at once unless something connected).
pub fn guarded_port() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let port = listener.local_addr().expect("its address").port();
    (listener, port)
}

/// A `[compile_cache]` table all tests share, under target/: the example
/// deployment's Python and JavaScript modules take seconds each to compile,
/// so each test after the first loads them from there (entries are keyed by
/// the component's hash and the engine's settings and verified on load).
pub fn shared_compile_cache() -> String {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-compile-cache");
    format!(
        "[compile_cache]\npath = {:?}\n",
        cache.display().to_string()
    )
}

/// A running `modhost serve`, killed when dropped.
pub struct Modhost {
    child: Child,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// Where the operator's endpoints are served (`--admin-listen`).
    pub admin: SocketAddr,
    log_path: PathBuf,
    config_path: PathBuf,
    stdout_path: PathBuf,
    /// Copies the runtime's stdout into `stdout_path` until it closes.
    stdout_copier: Option<std::thread::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Modhost {
    /// Starts `modhost serve` with `config_text` as its runtime.toml.
    pub fn start(config_text: &str) -> Self {
        let dir = temp_dir();
        let config = write_config(dir.path(), config_text);
        let mut modhost = Self::start_with(&config, dir.path());
        modhost._dir = Some(dir);
        modhost
    }

    /// Starts `modhost serve` with `config_text` and `MODHOST_LOG` set to
    /// `filter`.
    pub fn start_logging(config_text: &str, filter: &str) -> Self {
        let dir = temp_dir();
        let config = write_config(dir.path(), config_text);
        let mut modhost = Self::spawn(&config, dir.path(), filter, &[]);
        modhost._dir = Some(dir);
        modhost
    }

    /// Starts `modhost serve` with `config_text`, `MODHOST_LOG` set to
    /// `filter`, and `args` added to its command line.
    pub fn start_with_args(config_text: &str, filter: &str, args: &[&str]) -> Self {
        let dir = temp_dir();
        let config = write_config(dir.path(), config_text);
        let mut modhost = Self::spawn(&config, dir.path(), filter, args);
        modhost._dir = Some(dir);
        modhost
    }

    /// Starts `modhost serve --config <config>` on a free port, with its log
    /// written into `log_dir`.
    pub fn start_with(config: &Path, log_dir: &Path) -> Self {
        Self::spawn(config, log_dir, "info", &[])
    }

    fn spawn(config: &Path, log_dir: &Path, filter: &str, args: &[&str]) -> Self {
        let log_path = log_dir.join("modhost.log");
        let log = std::fs::File::create(&log_path).expect("create the log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_modhost"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .arg("--config")
            .arg(config)
            .args(args)
            .env("MODHOST_LOG", filter)
            .env(SECRET_ENV, TEST_SECRET)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start modhost");
        let stdout = child.stdout.take().expect("piped stdout");
        let stdout_path = log_dir.join("modhost.stdout");
        let mut stdout_copy = std::fs::File::create(&stdout_path).expect("create the stdout file");
        let (tx, rx) = mpsc::channel();
        let stdout_copier = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(stdout_copy, "{line}");
                for (door, prefix) in [
                    ("admin", "modhost admin on http://"),
                    ("public", "modhost listening on http://"),
                ] {
                    if let Some(addr) = line.strip_prefix(prefix) {
                        let _ =
                            tx.send((door, addr.parse::<SocketAddr>().expect("a socket address")));
                    }
                }
            }
        });
        // The admin address is printed first, as soon as it is bound; the
        // public one once the modules are loaded.
        let addrs = rx
            .recv_timeout(STARTUP_TIMEOUT)
            .and_then(|admin| Ok((admin, rx.recv_timeout(STARTUP_TIMEOUT)?)));
        let (admin, addr) = match addrs {
            Ok((("admin", admin), ("public", addr))) => (admin, addr),
            Ok(other) => panic!("modhost printed its addresses out of order: {other:?}"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "modhost did not start listening; its log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
        };
        Self {
            child,
            addr,
            admin,
            log_path,
            config_path: config.to_path_buf(),
            stdout_path,
            stdout_copier: Some(stdout_copier),
            _dir: None,
        }
    }

    /// The items under `field` of every page of `route`; see
    /// [`Session::all_pages`].
    pub fn all_pages(&self, route: &str, field: &str) -> Vec<serde_json::Value> {
        self.session(&[]).all_pages(route, field)
    }

    /// Requests with a bearer token for `user` (roles `user`).
    pub fn as_user(&self, user: &str) -> Session<'_> {
        let bearer = format!("Bearer {}", token(user, &["user"]));
        self.session(&[("authorization", bearer)])
    }

    /// Requests with a bearer token for `admin` (roles `admin`).
    pub fn as_admin(&self) -> Session<'_> {
        let bearer = format!("Bearer {}", token("admin", &["admin"]));
        self.session(&[("authorization", bearer)])
    }

    fn session(&self, headers: &[(&str, String)]) -> Session<'_> {
        Session {
            modhost: self,
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect(),
        }
    }

    /// Sends one request and returns the response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        http_request(self.addr, method, path, headers, body)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> HttpResponse {
        self.session(&[]).get(path)
    }

    /// `POST path` with `body` as JSON.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> HttpResponse {
        self.session(&[]).post_json(path, body)
    }

    /// Kills the runtime with SIGKILL, as a crash would, and reaps it; its
    /// stdout is then all in [`Modhost::stdout`].
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL modhost");
        self.child.wait().expect("reap modhost");
        if let Some(copier) = self.stdout_copier.take() {
            copier.join().expect("the stdout copier");
        }
    }

    /// Sends `signal` (`TERM`, `INT`, ...) to the runtime.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// The runtime's exit status once it has exited, waiting up to
    /// `within`; `None` if it is still running then.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll modhost") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The config file it serves.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// `POST path` on the admin listener.
    pub fn admin_post(&self, path: &str) -> HttpResponse {
        http_request(self.admin, "POST", path, &[], b"")
    }

    /// `GET path` on the admin listener.
    pub fn admin_get(&self, path: &str) -> HttpResponse {
        http_request(self.admin, "GET", path, &[], b"")
    }

    /// The entry of module `name` in `GET /modules`.
    pub fn module_listing(&self, name: &str) -> serde_json::Value {
        let listing = self.get("/modules").json();
        listing["modules"]
            .as_array()
            .expect("a list of modules")
            .iter()
            .find(|module| module["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in {listing}"))
            .clone()
    }

    /// What the runtime has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// What the runtime has written to its stdout so far (all of it once
    /// [`Modhost::kill`] returned).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Waits until the log contains `needle`, for lines written just after
    /// a response went out, and returns the log; panics after 5 s without.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} never reached the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Requests to one runtime that all carry the same headers (a token).
pub struct Session<'a> {
    modhost: &'a Modhost,
    headers: Vec<(String, String)>,
}

impl Session<'_> {
    /// Sends one request with the session's headers and `headers`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut all: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        all.extend_from_slice(headers);
        self.modhost.request(method, path, &all, body)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> HttpResponse {
        self.request("GET", path, &[], b"")
    }

    /// `POST path` with `body` as JSON.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> HttpResponse {
        let headers = [("content-type", "application/json")];
        self.request("POST", path, &headers, body.to_string().as_bytes())
    }

    /// The items under `field` of every page of `route` (`skip` and a
    /// `limit` of 500 added to its query), until a page is short. A short
    /// page ends it even while writers are still adding items, so paging
    /// cannot chase them forever.
    pub fn all_pages(&self, route: &str, field: &str) -> Vec<serde_json::Value> {
        const PAGE: usize = 500;
        let joiner = if route.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        loop {
            let page = self.get(&format!("{route}{joiner}skip={}&limit={PAGE}", items.len()));
            page.expect_status(200);
            let found = page.json()[field].as_array().unwrap().clone();
            let short = found.len() < PAGE;
            items.extend(found);
            if short {
                return items;
            }
        }
    }
}

impl Drop for Modhost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file named `.wasm` that is not WebAssembly at all.
pub const NOT_WASM: &str = "not wasm at all";

/// The header alone: a valid component that exports nothing, so it does
/// not implement the world.
pub const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

/// Runs `modhost` with `args` to completion; for commands that exit. A
/// command that should have exited but serves instead is killed after a
/// minute (coreutils' `timeout`), so a regression fails rather than hangs.
pub fn run_modhost(args: &[&str]) -> (ExitStatus, String, String) {
    let output = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_modhost"))
        .args(args)
        .env(SECRET_ENV, TEST_SECRET)
        .output()
        .expect("run modhost");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked when it came in chunks).
    pub body: Vec<u8>,
    /// Whether the body arrived whole: false when a chunked body ended
    /// without its last chunk (the server cut it short).
    pub complete: bool,
}

impl HttpResponse {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Panics, showing the body, unless the status is `status`; returns the
    /// response for further checks.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "answered {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// Panics unless this is an error answer modhost (or a guest through
    /// the SDK) wrote: status `status`, a JSON `error` message containing
    /// `needle`, and as `request_id` the `x-request-id` header's value (both
    /// present).
    #[track_caller]
    pub fn expect_error(&self, status: u16, needle: &str) -> &Self {
        self.expect_status(status);
        let body = self.json();
        let message = body["error"].as_str().expect("an error message");
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        let id = self.header("x-request-id").expect("an x-request-id header");
        assert!(!id.is_empty(), "an empty x-request-id");
        assert_eq!(body["request_id"], id, "{body}");
        self
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the whole
/// response.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    try_http_request(addr, method, path, headers, body)
        .unwrap_or_else(|err| panic!("{method} {path}: {err}"))
}

/// [`http_request`] for a server that may die meanwhile: no response is an
/// error rather than a panic.
pub fn try_http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    // The server's address, unless the test names another host.
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // The server may answer (413) before taking the whole body; a write
    // error then is expected, and the response is still there to read.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<HttpResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::other("the connection closed before a whole response head")
        })?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let raw_body = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked"));
    let (body, complete) = if chunked {
        dechunk(raw_body)
    } else {
        (raw_body.to_vec(), true)
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
        complete,
    })
}

/// A chunked body's data, and whether its last (empty) chunk arrived.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok());
        let Some(size) = size else {
            return (body, false);
        };
        if size == 0 {
            return (body, true);
        }
        let data = &raw[end + 2..];
        if data.len() < size + 2 {
            body.extend_from_slice(&data[..data.len().min(size)]);
            return (body, false);
        }
        body.extend_from_slice(&data[..size]);
        raw = &data[size + 2..];
    }
}
