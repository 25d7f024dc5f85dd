//! The attack benchmark's command line: `--flag value` pairs, every one but
//! `--addr` and `--pid` with a default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// The flags and what they default to, printed on a usage error.
pub const USAGE: &str = "usage: capability-bench attack --addr HOST:PORT --pid PID
    [--check-json FILE]        output of `modhost check --format json` (the memory bound)
    [--path /my-module/info]   the well-behaved module's route
    [--requests 2000]          well-behaved requests per phase
    [--clients 8]              well-behaved keep-alive connections
    [--rate 400]               well-behaved requests per second in all (0: as fast as possible)
    [--loop-path /spin/forever] [--loops 4]
    [--flood-path /users/u1] [--flood 2000] [--flood-connections 2000]
    [--half-open 1500]
    [--health-every-ms 50]";

/// What to attack and how hard.
pub struct Options {
    /// Where modhost listens.
    pub addr: SocketAddr,
    /// modhost's process id, for its memory figures.
    pub pid: u32,
    /// Where `modhost check --format json` wrote its report, if it ran.
    pub check_json: Option<PathBuf>,
    /// The well-behaved module's route.
    pub path: String,
    /// Requests to it in each phase.
    pub requests: u64,
    /// Keep-alive connections they are sent over.
    pub clients: u64,
    /// Requests per second over all clients; 0 sends them back to back.
    pub rate: f64,
    /// The looping module's route.
    pub loop_path: String,
    /// Looping requests kept in flight.
    pub loops: u64,
    /// The flooded module's route.
    pub flood_path: String,
    /// Requests in the flood.
    pub flood: u64,
    /// Connections the flood is sent over, all opened at once.
    pub flood_connections: u64,
    /// Sockets that send part of a request and never the rest.
    pub half_open: u64,
    /// Milliseconds between two `/health` probes.
    pub health_every_ms: u64,
}

impl Options {
    /// Parses the arguments that follow `attack`.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut addr = None;
        let mut pid = None;
        let mut options = Options {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pid: 0,
            check_json: None,
            path: "/my-module/info".into(),
            requests: 2_000,
            clients: 8,
            rate: 400.0,
            loop_path: "/spin/forever".into(),
            loops: 4,
            flood_path: "/users/u1".into(),
            flood: 2_000,
            flood_connections: 2_000,
            half_open: 1_500,
            health_every_ms: 50,
        };
        for pair in args.chunks(2) {
            let [flag, value] = pair else {
                return Err(format!("{} needs a value", pair[0]));
            };
            match flag.as_str() {
                "--addr" => addr = Some(parsed(flag, value)?),
                "--pid" => pid = Some(parsed(flag, value)?),
                "--check-json" => options.check_json = Some(PathBuf::from(value)),
                "--path" => options.path = value.clone(),
                "--requests" => options.requests = parsed(flag, value)?,
                "--clients" => options.clients = parsed(flag, value)?,
                "--rate" => options.rate = parsed(flag, value)?,
                "--loop-path" => options.loop_path = value.clone(),
                "--loops" => options.loops = parsed(flag, value)?,
                "--flood-path" => options.flood_path = value.clone(),
                "--flood" => options.flood = parsed(flag, value)?,
                "--flood-connections" => options.flood_connections = parsed(flag, value)?,
                "--half-open" => options.half_open = parsed(flag, value)?,
                "--health-every-ms" => options.health_every_ms = parsed(flag, value)?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        options.addr = addr.ok_or("--addr is required")?;
        options.pid = pid.ok_or("--pid is required")?;
        if options.clients == 0 || options.flood_connections == 0 || options.health_every_ms == 0 {
            return Err(
                "--clients, --flood-connections and --health-every-ms must be at least 1".into(),
            );
        }
        Ok(options)
    }
}

/// `value` as the type `flag` takes.
fn parsed<T: FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} {value}: not a valid value"))
}
