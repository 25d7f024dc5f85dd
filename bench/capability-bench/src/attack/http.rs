//! A small HTTP/1.1 client over tokio's `TcpStream`, enough for GETs and
//! their statuses. Written out, like the end-to-end tests' client, because
//! the benchmark needs byte-level control of its sockets and nothing a
//! client crate would add.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::outcomes::Outcome;

/// One connection, kept alive from request to request while the server
/// allows it.
pub struct Connection {
    stream: BufReader<TcpStream>,
    reusable: bool,
}

impl Connection {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: BufReader::new(stream),
            reusable: true,
        })
    }

    /// Sends `GET path` and reads the whole response; returns its status.
    pub async fn get(&mut self, path: &str) -> io::Result<u16> {
        let head = format!("GET {path} HTTP/1.1\r\nhost: modhost\r\n\r\n");
        self.stream.get_mut().write_all(head.as_bytes()).await?;
        let mut line = String::new();
        self.read_line(&mut line).await?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, line.clone()))?;
        let mut length = None;
        loop {
            line.clear();
            self.read_line(&mut line).await?;
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break; // the blank line that ends the head
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                self.reusable = false;
            }
        }
        let mut body = (&mut self.stream).take(length.unwrap_or(u64::MAX));
        tokio::io::copy(&mut body, &mut tokio::io::sink()).await?;
        // Without a length the body ran to the end of the connection.
        self.reusable &= length.is_some();
        Ok(status)
    }

    async fn read_line(&mut self, line: &mut String) -> io::Result<()> {
        if self.stream.read_line(line).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// `GET path` on a connection of its own.
pub async fn get_once(addr: SocketAddr, path: &str) -> io::Result<u16> {
    Connection::open(addr).await?.get(path).await
}

/// A client that sends its requests over one keep-alive connection, opening
/// a new one when the server closed the last or a request on it failed.
pub struct Client {
    addr: SocketAddr,
    connection: Option<Connection>,
}

impl Client {
    /// A client of `addr`; it connects on its first request.
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            connection: None,
        }
    }

    /// `GET path`, given at most `limit` including any connect.
    pub async fn get(&mut self, path: &str, limit: Duration) -> (Outcome, Duration) {
        let addr = self.addr;
        let slot = &mut self.connection;
        let result = Outcome::of(limit, async {
            if !slot.as_ref().is_some_and(|connection| connection.reusable) {
                *slot = Some(Connection::open(addr).await?);
            }
            slot.as_mut().expect("opened above").get(path).await
        })
        .await;
        if !matches!(result.0, Outcome::Status(_)) {
            // The connection is mid-request or broken: never reuse it.
            self.connection = None;
        }
        result
    }
}
