//! The report: both phases side by side, what the attackers saw, and the
//! host's memory next to its bound.

use std::time::Duration;

use super::attackers::AttackReport;
use super::options::Options;
use super::outcomes::Outcomes;

/// One phase's figures.
pub struct Phase {
    /// The well-behaved module's requests.
    pub well_behaved: Outcomes,
    /// The `/health` probes.
    pub health: Outcomes,
    /// The largest resident set sampled during the phase, in bytes.
    pub peak_rss: u64,
    /// Connects the kernel dropped on a full listen queue meanwhile
    /// (machine-wide), if it counts them.
    pub listen_overflows: Option<u64>,
    /// How long the phase took.
    pub took: Duration,
}

/// Everything the benchmark measured.
pub struct Results {
    /// Without attack.
    pub baseline: Phase,
    /// Under attack.
    pub under_attack: Phase,
    /// What the attackers saw.
    pub attack: AttackReport,
    /// The host's `VmHWM` at the end in bytes; `None` if it died.
    pub high_water_mark: Option<u64>,
    /// The memory bound `modhost check` printed, in bytes, if it prints one.
    pub bound: Option<u64>,
}

impl Results {
    /// The largest `VmRSS` sampled in either phase.
    pub fn largest_sample(&self) -> u64 {
        self.baseline.peak_rss.max(self.under_attack.peak_rss)
    }

    /// The host's peak resident set: its `VmHWM`, or a larger sample (the
    /// kernel's per-CPU counters let `VmHWM` lag `VmRSS` a little).
    pub fn peak_rss(&self) -> Option<u64> {
        self.high_water_mark
            .map(|mark| mark.max(self.largest_sample()))
    }

    /// The p99 of the well-behaved requests under attack over that without.
    pub fn p99_ratio(&self) -> Option<f64> {
        let without = self.baseline.well_behaved.quantile(0.99)?;
        let under = self.under_attack.well_behaved.quantile(0.99)?;
        Some(under.as_secs_f64() / without.as_secs_f64())
    }
}

/// Prints the figures.
pub fn print(options: &Options, results: &Results) {
    print_phases(options, results);
    println!();
    print_attack(options, &results.attack);
    println!();
    print_memory(results);
    println!();
}

/// Both phases side by side.
fn print_phases(options: &Options, results: &Results) {
    let (before, after) = (&results.baseline, &results.under_attack);
    let rate = match options.rate {
        0.0 => "back to back".to_string(),
        rate => format!("at {rate}/s"),
    };
    println!(
        "well-behaved: GET {}, {} requests from {} keep-alive clients {rate};",
        options.path, options.requests, options.clients
    );
    println!(
        "/health probed every {} ms on a fresh connection; latencies in ms \
         (a failed request's until it failed)\n",
        options.health_every_ms
    );
    println!("{:<30}{:>14}{:>16}", "", "without", "under attack");
    let both = |label: &str, figure: &dyn Fn(&Phase) -> String| {
        println!("{label:<30}{:>14}{:>16}", figure(before), figure(after));
    };
    both("well-behaved p50", &|p| ms(p.well_behaved.quantile(0.5)));
    both("well-behaved p99", &|p| ms(p.well_behaved.quantile(0.99)));
    both("well-behaved max", &|p| ms(p.well_behaved.max()));
    both("well-behaved failures", &|p| {
        p.well_behaved.failures().to_string()
    });
    let ratio = results
        .p99_ratio()
        .map_or("-".into(), |r| format!("{r:.2}x"));
    println!("{:<30}{:>14}{ratio:>16}", "p99 ratio under / without", "");
    both("/health probes", &|p| p.health.total().to_string());
    both("/health max", &|p| ms(p.health.max()));
    both("/health failures", &|p| p.health.failures().to_string());
    both("sampled VmRSS peak (MiB)", &|p| mib(Some(p.peak_rss)));
    both("listen queue overflows", &|p| {
        p.listen_overflows.map_or("-".into(), |n| n.to_string())
    });
    both("phase took (s)", &|p| {
        format!("{:.1}", p.took.as_secs_f64())
    });
    println!();
    println!(
        "well-behaved without:       {}",
        before.well_behaved.summary()
    );
    println!(
        "well-behaved under attack:  {}",
        after.well_behaved.summary()
    );
    println!("/health under attack:       {}", after.health.summary());
}

/// The host's peak memory next to its bound.
fn print_memory(results: &Results) {
    println!(
        "host peak RSS               {} MiB (VmHWM {} MiB, largest VmRSS sample {} MiB)",
        mib(results.peak_rss()),
        mib(results.high_water_mark),
        mib(Some(results.largest_sample()))
    );
    match results.bound {
        Some(bound) => println!("bound (modhost check)       {} MiB", mib(Some(bound))),
        None => println!("bound: n/a"),
    }
}

/// What each attacker saw.
fn print_attack(options: &Options, attack: &AttackReport) {
    println!(
        "{} loops GET {}: {} ended ({}), longest {} ms",
        options.loops,
        options.loop_path,
        attack.loops.total(),
        attack.loops.summary(),
        ms(attack.loops.max())
    );
    let took = attack
        .flood_took
        .map_or("did not end within the phase".into(), |took| {
            format!("took {:.1} s", took.as_secs_f64())
        });
    println!(
        "flood GET {}: {} requests over {} connections, {took}: {}",
        options.flood_path,
        options.flood,
        options.flood_connections,
        attack.flood.summary()
    );
    let half_open = &attack.half_open;
    let mut closed = half_open.closed_at.clone();
    closed.sort_unstable();
    let at =
        |time: Option<&Duration>| time.map_or("-".into(), |t| format!("{:.1} s", t.as_secs_f64()));
    println!(
        "half-open sockets: {} of {} opened ({} attempts failed and were retried); \
         {} closed by the server (first at {}, median {}, last {})",
        half_open.opened,
        options.half_open,
        half_open.failed_attempts,
        closed.len(),
        at(closed.first()),
        at(closed.get(closed.len() / 2)),
        at(closed.last())
    );
}

/// A duration in milliseconds, `-` for none.
pub fn ms(duration: Option<Duration>) -> String {
    duration.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

/// Bytes in MiB, `-` for none.
pub fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| {
        format!("{:.1}", b as f64 / (1 << 20) as f64)
    })
}
