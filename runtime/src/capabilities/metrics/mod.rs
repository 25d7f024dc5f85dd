//! `metrics`: a module's own counters, gauges and timings (the original
//! guide's `module_metrics`), exposed on `/metrics` under the module's
//! `tenant` and `module` labels. Every module may record; what it names is
//! checked and its series are bounded by `[metrics] max_series_per_module`
//! (see [`crate::metrics::guest`]), so no guest can grow the exposition
//! without bound.

use wasmtime::component::{HasData, Linker};

use crate::bindings::modhost::module::metrics::{self as wit, MetricError};
use crate::capabilities::{Capability, ModuleSetup};
use crate::config::RuntimeConfig;
use crate::host_state::HostState;
use crate::limits::ModuleLimits;
use crate::metrics::guest::{Kind, Refusal};
use crate::metrics::{ModuleLabels, host};

/// The `metrics` capability.
pub struct Metrics;

/// Whose series a module's calls make, and how many it may.
pub struct MetricsScope {
    labels: ModuleLabels,
    max_series: usize,
}

impl HasData for Metrics {
    type Data<'a> = &'a MetricsScope;
}

impl Capability for Metrics {
    /// `max_series_per_module`.
    type Host = usize;
    type Module = MetricsScope;
    type Call = ();

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, Metrics>(linker, |state| &state.module.capabilities.metrics)
    }

    async fn start(config: &RuntimeConfig) -> anyhow::Result<usize> {
        Ok(config.metrics.max_series_per_module)
    }

    fn for_module(max_series: &usize, module: &ModuleSetup<'_>) -> anyhow::Result<MetricsScope> {
        Ok(MetricsScope {
            labels: ModuleLabels {
                tenant: module.tenant.to_string(),
                module: module.name.to_string(),
            },
            max_series: *max_series,
        })
    }

    fn for_call(_module: &MetricsScope, _limits: &ModuleLimits) {}
}

impl MetricsScope {
    fn record(
        &self,
        kind: Kind,
        name: &str,
        labels: Vec<(String, String)>,
        value: f64,
    ) -> Result<(), MetricError> {
        host()
            .guests()
            .record(&self.labels, self.max_series, kind, name, labels, value)
            .map_err(|refusal| match refusal {
                Refusal::InvalidName(why) => MetricError::InvalidName(why),
                Refusal::InvalidLabels(why) => MetricError::InvalidLabels(why),
                Refusal::InvalidValue(why) => MetricError::InvalidValue(why),
                Refusal::TooManySeries(why) => MetricError::TooManySeries(why),
            })
    }
}

impl wit::Host for &MetricsScope {
    fn increment(
        &mut self,
        name: String,
        by: u64,
        labels: Vec<(String, String)>,
    ) -> Result<(), MetricError> {
        self.record(Kind::Counter, &name, labels, by as f64)
    }

    fn set_gauge(
        &mut self,
        name: String,
        value: f64,
        labels: Vec<(String, String)>,
    ) -> Result<(), MetricError> {
        self.record(Kind::Gauge, &name, labels, value)
    }

    fn record_duration(
        &mut self,
        name: String,
        seconds: f64,
        labels: Vec<(String, String)>,
    ) -> Result<(), MetricError> {
        self.record(Kind::Timing, &name, labels, seconds)
    }
}
