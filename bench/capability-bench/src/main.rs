//! The capability benchmarks: each capability's calls made by a guest
//! (inside one request, through the WIT boundary and the host) next to the
//! same calls on the backend from Rust, the way the runtime makes them, in
//! the same run. Prints calls per second of each and the ratio. And the
//! containment benchmark's load tool (`attack`, run by bench/attack against
//! a modhost it started).
//!
//!   capability-bench db <modhost> <db_bench_module.wasm> [inserts] [finds]
//!   capability-bench cache <modhost> <cache_bench_module.wasm> [calls]
//!   capability-bench attack --addr <host:port> --pid <modhost pid> [options]
//!   capability-bench seed <database file> <documents>
//!   capability-bench tokens <folder>

mod attack;
mod cache;
mod db;
mod seed;
mod server;
mod tokens;
mod transfers;

use std::path::Path;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|which| which == "attack") {
        if let Err(err) = attack::run(&args[2..]) {
            eprintln!("capability-bench attack: {err}");
            std::process::exit(1);
        }
        return;
    }
    if let (Some("tokens"), Some(dir)) = (args.get(1).map(String::as_str), args.get(2)) {
        if let Err(err) = tokens::run(Path::new(dir)) {
            eprintln!("capability-bench tokens: {err}");
            std::process::exit(1);
        }
        return;
    }
    let number = |index: usize, default: u64| -> u64 {
        args.get(index)
            .map_or(default, |n| n.parse().expect("counts are whole numbers"))
    };
    match args.get(1..4) {
        Some([which, modhost, guest]) if which == "db" => {
            db::run(
                Path::new(modhost),
                Path::new(guest),
                number(4, 2_000),
                number(5, 20_000),
            );
        }
        Some([which, modhost, guest]) if which == "cache" => {
            cache::run(Path::new(modhost), Path::new(guest), number(4, 20_000));
        }
        Some([which, path, _]) if which == "seed" => {
            if let Err(err) = seed::run(Path::new(path), number(3, 0)) {
                eprintln!("capability-bench seed: {err}");
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!(
                "usage: capability-bench db|cache <modhost binary> <bench module .wasm> [counts]\n       capability-bench attack --addr <host:port> --pid <pid> [options]\n       capability-bench seed <database file> <documents>\n       capability-bench tokens <folder>"
            );
            std::process::exit(2);
        }
    }
}

/// Calls per second.
fn per_second(calls: u64, elapsed: Duration) -> f64 {
    calls as f64 / elapsed.as_secs_f64()
}

/// One row of figures: a label and calls per second of each operation.
fn row(label: &str, rates: &[f64]) {
    print!("{label:<28}");
    for rate in rates {
        print!("{rate:>14.0}");
    }
    println!();
}

/// The ratios of `guest` to `direct`, as one row.
fn ratio_row(label: &str, guest: &[f64], direct: &[f64]) {
    print!("{label:<28}");
    for (g, d) in guest.iter().zip(direct) {
        print!("{:>14.2}", g / d);
    }
    println!();
}
