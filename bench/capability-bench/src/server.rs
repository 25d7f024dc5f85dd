//! A `modhost serve` of the benchmark's own, on a free port, with a config
//! written for it; killed when dropped, also when the benchmark panics.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running runtime.
pub struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `modhost serve` serving the component `guest` as module
    /// `module`, with `config` added to its runtime.toml.
    pub fn start(modhost: &Path, guest: &Path, module: &str, config: &str) -> Server {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let guest = guest.canonicalize().expect("the guest component exists");
        let text = format!(
            "{config}[sandbox]\ntimeout_ms = 600000\n[modules.{module}]\npath = \"{}\"\ngrants = [\"db\", \"cache\"]\n",
            guest.display()
        );
        let config_path = dir.path().join("runtime.toml");
        std::fs::write(&config_path, text).expect("write the config");
        let mut child = Command::new(modhost)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
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
        Server {
            child,
            addr,
            _dir: dir,
        }
    }

    /// One request; returns the body, panicking on a status other than 200.
    pub fn request(&self, method: &str, path: &str) -> String {
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
