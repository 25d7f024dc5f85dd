//! The containment issue's aims, each PASS or MISS against this run's
//! figures (n/a when a figure is missing). A miss is a result, not an error.

use std::time::Duration;

use super::report::{Results, mib, ms};

/// The largest p99 under attack, as a multiple of the p99 without.
const P99_RATIO_AIM: f64 = 3.0;

/// The slowest `/health` answer allowed at any time.
const HEALTH_AIM: Duration = Duration::from_millis(100);

/// Prints each aim with its verdict and the figure behind it.
pub fn print(results: &Results) {
    println!("aims");
    let well = &results.under_attack.well_behaved;
    aim(
        Some(well.failures() == 0),
        "every well-behaved request succeeds under attack",
        format!("{} of {} failed", well.failures(), well.total()),
    );
    let ratio = results.p99_ratio();
    aim(
        ratio.map(|r| r <= P99_RATIO_AIM),
        "well-behaved p99 under attack within 3x of without",
        ratio.map_or("no p99".into(), |r| format!("{r:.2}x")),
    );
    let phases = [&results.baseline.health, &results.under_attack.health];
    let slowest = phases.iter().filter_map(|health| health.max()).max();
    let failed: u64 = phases.iter().map(|health| health.failures()).sum();
    aim(
        Some(failed == 0 && slowest.is_some_and(|slowest| slowest <= HEALTH_AIM)),
        "/health answers within 100 ms throughout",
        format!("slowest {} ms, {failed} failed", ms(slowest)),
    );
    aim(
        results
            .bound
            .map(|bound| results.peak_rss().is_some_and(|peak| peak < bound)),
        "peak RSS stays under the bound `modhost check` prints",
        match results.bound {
            Some(bound) => format!(
                "{} MiB of {} MiB",
                mib(results.peak_rss()),
                mib(Some(bound))
            ),
            None => format!("{} MiB; bound: n/a", mib(results.peak_rss())),
        },
    );
}

/// One aim: PASS, MISS, or n/a when it could not be judged.
fn aim(met: Option<bool>, what: &str, figure: String) {
    let verdict = match met {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "n/a",
    };
    println!("  {verdict:<5} {what} ({figure})");
}
