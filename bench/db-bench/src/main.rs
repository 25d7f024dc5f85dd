//! The db benchmark. In one run, on the embedded backend in a fresh folder:
//!
//! - direct: `n` inserts, then `n` finds by an indexed field, called on the
//!   store from Rust the way the runtime calls it;
//! - guest: the same calls made by a guest (db_bench_module) inside one
//!   request each, through the WIT boundary and the host.
//!
//! Prints operations per second of each and the ratio guest / direct.
//!
//!   db-bench <modhost binary> <db_bench_module.wasm> [inserts] [finds]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use modhost_docstore::{DocumentStore, EmbeddedStore, FindOptions, Limits, Scope};
use serde_json::json;

const LIMITS: Limits = Limits {
    max_document_bytes: 1024 * 1024,
    max_find_documents: 1000,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, modhost, guest, rest @ ..] = args.as_slice() else {
        eprintln!("usage: db-bench <modhost binary> <db_bench_module.wasm> [inserts] [finds]");
        std::process::exit(2);
    };
    let inserts: u64 = rest
        .first()
        .map_or(2_000, |n| n.parse().expect("inserts: a number"));
    let finds: u64 = rest
        .get(1)
        .map_or(20_000, |n| n.parse().expect("finds: a number"));

    let (direct_insert, direct_find) = direct(inserts, finds);
    let (guest_insert, guest_find) =
        through_guest(Path::new(modhost), Path::new(guest), inserts, finds);

    println!("embedded backend, {inserts} inserts and {finds} indexed finds, one call each");
    println!("{:<24}{:>14}{:>14}", "", "insert/s", "find/s");
    println!(
        "{:<24}{:>14.0}{:>14.0}",
        "direct from Rust", direct_insert, direct_find
    );
    println!(
        "{:<24}{:>14.0}{:>14.0}",
        "through a guest", guest_insert, guest_find
    );
    println!(
        "{:<24}{:>14.2}{:>14.2}",
        "ratio guest / direct",
        guest_insert / direct_insert,
        guest_find / direct_find
    );
}

fn per_second(ops: u64, elapsed: Duration) -> f64 {
    ops as f64 / elapsed.as_secs_f64()
}

/// The calls on the store, as the runtime makes them for a guest.
fn direct(inserts: u64, finds: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let store = DocumentStore::Embedded(
            EmbeddedStore::open(&dir.path().join("bench.redb"), LIMITS).expect("open the store"),
        );
        let items = Scope::new("default", "db_bench_module")
            .unwrap()
            .collection("items")
            .unwrap();
        store.create_index(&items, "key", true).await.unwrap();
        let started = Instant::now();
        for i in 0..inserts {
            store
                .insert(&items, vec![json!({"key": format!("key-{i}"), "n": i})])
                .await
                .unwrap();
        }
        let insert_rate = per_second(inserts, started.elapsed());
        let started = Instant::now();
        for i in 0..finds {
            let filter = json!({"key": format!("key-{}", i % inserts)});
            let found = store
                .find_one(&items, &filter, &FindOptions::default())
                .await
                .unwrap();
            assert!(found.is_some());
        }
        (insert_rate, per_second(finds, started.elapsed()))
    })
}

/// The same calls made by db_bench_module inside one request each.
fn through_guest(modhost: &Path, guest: &Path, inserts: u64, finds: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = dir.path().join("runtime.toml");
    let guest = guest.canonicalize().expect("the guest component exists");
    let text = format!(
        "[sandbox]\ntimeout_ms = 600000\n[modules.db_bench_module]\npath = \"{}\"\n",
        guest.display()
    );
    std::fs::write(&config, text).expect("write the config");
    let mut server = Server::start(modhost, &config);
    let started = Instant::now();
    let inserted = server.request("POST", &format!("/db-bench/insert/{inserts}"));
    let insert_rate = per_second(inserts, started.elapsed());
    assert!(
        inserted.contains(&format!("\"inserted\":{inserts}")),
        "{inserted}"
    );
    // The guest's finds cycle through the keys the same way the direct ones do.
    let started = Instant::now();
    let mut left = finds;
    while left > 0 {
        let batch = left.min(inserts);
        let found = server.request("GET", &format!("/db-bench/find/{batch}"));
        assert!(found.contains(&format!("\"found\":{batch}")), "{found}");
        left -= batch;
    }
    (insert_rate, per_second(finds, started.elapsed()))
}

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(modhost: &Path, config: &Path) -> Server {
        let mut child = Command::new(modhost)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .env("MODHOST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start modhost");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut seen = String::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with('\n') {
            if stdout.read(&mut byte).expect("read modhost's stdout") == 0 {
                panic!("modhost exited before listening");
            }
            seen.push(byte[0] as char);
        }
        let addr = seen
            .trim()
            .strip_prefix("modhost listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {seen}"))
            .to_string();
        Server { child, addr }
    }

    /// One request; returns the body, panicking on a status other than 200.
    fn request(&mut self, method: &str, path: &str) -> String {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to modhost");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{method} {path}: {answer}"
        );
        answer
    }
}

/// The server goes with the benchmark, also when it panics.
impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
