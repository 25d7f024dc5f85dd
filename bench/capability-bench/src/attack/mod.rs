//! The containment benchmark: a well-behaved module measured alone, then
//! under attack in the same run against the same server (requests that loop
//! forever, a flood on another module, half-open sockets), with `/health`
//! probed throughout and the host's memory watched. See bench/attack.

mod aims;
mod attackers;
mod flood;
mod half_open;
mod health;
mod http;
mod listen_queue;
mod loops;
mod memory;
mod options;
mod outcomes;
mod report;
mod well_behaved;

use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};

use self::attackers::Attackers;
use self::http::get_once;
use self::memory::{RssSampler, check_bound, status_bytes};
use self::options::{Options, USAGE};
use self::outcomes::Outcome;
use self::report::{Phase, Results};
use self::well_behaved::Workload;

/// The longest a phase's workload may run; its requests not started by then
/// count as unsent, so a stalled server still ends the benchmark.
const PHASE_LIMIT: Duration = Duration::from_secs(30);

/// Requests sent before the baseline so that it pays no first-touch costs.
const WARM_UP_REQUESTS: u64 = 200;

/// How long each request of the check before the benchmark may take.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the benchmark with the arguments that follow `attack` and prints
/// its report. Fails only when it cannot run; a missed aim is a figure.
pub fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args).map_err(|err| format!("{err}\n{USAGE}"))?;
    // The measured clients get a thread of their own, so the attackers'
    // client-side work does not queue in front of them.
    let measuring = Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start a tokio runtime: {err}"))?;
    // The attackers' threads run at the lowest priority: on cores shared
    // with the server, the load generator's own CPU time would otherwise
    // count against the server, which a remote attacker costs nothing.
    let attacking = Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(lowest_priority)
        .build()
        .map_err(|err| format!("cannot start a tokio runtime: {err}"))?;
    measuring.block_on(preflight(&options))?;
    let workload = Workload {
        addr: options.addr,
        path: options.path.as_str().into(),
        requests: options.requests,
        clients: options.clients,
        rate: options.rate,
    };
    let rss = RssSampler::start(options.pid);
    let warm_up = Workload {
        requests: WARM_UP_REQUESTS,
        rate: 0.0,
        ..workload.clone()
    };
    measuring.block_on(warm_up.run(Instant::now() + PHASE_LIMIT));
    rss.take_peak();
    let (baseline, ()) = phase(&measuring, &options, &workload, &rss, |_| ());
    let (under_attack, attackers) = phase(&measuring, &options, &workload, &rss, |started| {
        Attackers::start(attacking, &options, started)
    });
    let high_water_mark = status_bytes(options.pid, "VmHWM:");
    let attack = attackers.stop();
    rss.stop();
    let results = Results {
        baseline,
        under_attack,
        attack,
        high_water_mark,
        bound: check_bound(options.check_json.as_deref()),
    };
    report::print(&options, &results);
    aims::print(&results);
    Ok(())
}

/// Checks that the well-behaved and the flooded routes answer 200, so a
/// wrong address or config fails here rather than as a bad figure.
async fn preflight(options: &Options) -> Result<(), String> {
    for path in [&options.path, &options.flood_path] {
        let (outcome, _) = Outcome::of(PREFLIGHT_TIMEOUT, get_once(options.addr, path)).await;
        if !outcome.is_ok() {
            return Err(format!(
                "GET {path} on {} ended {outcome}, not 200: is modhost serving the attack config?",
                options.addr
            ));
        }
    }
    Ok(())
}

/// One phase: whatever `begin` starts (given the phase's start), then the
/// workload with `/health` probed alongside, the host's resident set and
/// the kernel's listen-queue overflows counted meanwhile.
fn phase<T>(
    runtime: &Runtime,
    options: &Options,
    workload: &Workload,
    rss: &RssSampler,
    begin: impl FnOnce(Instant) -> T,
) -> (Phase, T) {
    let overflows = listen_queue::overflows();
    let started = Instant::now();
    let begun = begin(started);
    let every = Duration::from_millis(options.health_every_ms);
    let (well_behaved, health) = runtime.block_on(health::probe_while(
        options.addr,
        every,
        workload.clone().run(started + PHASE_LIMIT),
    ));
    let phase = Phase {
        well_behaved,
        health,
        peak_rss: rss.take_peak(),
        listen_overflows: overflows
            .zip(listen_queue::overflows())
            .map(|(before, after)| after - before),
        took: started.elapsed(),
    };
    (phase, begun)
}

/// Makes the calling thread the last to run when cores are busy (nice 19;
/// on Linux the nice value is per thread).
fn lowest_priority() {
    // SAFETY: setpriority reads only its arguments; who = 0 is this thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}
