//! What `GET /metrics` (on the admin listener) reports, in the Prometheus
//! text format, through the `prometheus-client` crate: the host's own
//! series (requests, latency, in flight, limit hits, module calls, db and
//! cache calls, instances, compiles, reloads, build info) and what modules
//! record through the `metrics` interface ([`guest`]).
//!
//! One set per process, as the process's memory is: reached from the
//! server, the sandbox and the capabilities through [`host`] rather than
//! threaded through each of them. Every label value is bounded: tenants,
//! modules and routes come from the config and the manifests, methods
//! outside the standard ones are `other`, operations are fixed names.

pub mod guest;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use guest::GuestMetrics;

/// Bucket bounds, in seconds, of every latency histogram: from 100 us (a
/// cached answer) to 10 s (past any default time limit).
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// A histogram family with [`LATENCY_BUCKETS`].
type Latency<L> = Family<L, Histogram, fn() -> Histogram>;

/// A module of a tenant.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModuleLabels {
    /// The tenant.
    pub tenant: String,
    /// The module.
    pub module: String,
}

/// A route of a module; all empty for a request no route took.
#[derive(Debug, Clone, Default, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    tenant: String,
    module: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    tenant: String,
    module: String,
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    tenant: String,
    module: String,
    limit: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    tenant: String,
    module: String,
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModuleCallLabels {
    tenant: String,
    module: String,
    target: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Every series the host reports, and the registry that encodes them.
pub struct HostMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Latency<RouteLabels>,
    in_flight: Family<RouteLabels, Gauge>,
    limit_hits: Family<LimitLabels, Counter>,
    module_calls: Family<ModuleCallLabels, Counter>,
    db_calls: Family<OperationLabels, Counter>,
    db_errors: Family<OperationLabels, Counter>,
    db_seconds: Latency<OperationLabels>,
    cache_calls: Family<OperationLabels, Counter>,
    cache_errors: Family<OperationLabels, Counter>,
    cache_seconds: Latency<OperationLabels>,
    instances: Family<ModuleLabels, Counter>,
    components: Family<OutcomeLabels, Counter>,
    reloads: Family<OutcomeLabels, Counter>,
    guests: GuestMetrics,
}

static HOST: LazyLock<HostMetrics> = LazyLock::new(HostMetrics::new);

/// The process's metrics.
pub fn host() -> &'static HostMetrics {
    &HOST
}

impl HostMetrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("modhost");
        let metrics = Self {
            registry: Registry::default(),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            in_flight: Family::default(),
            limit_hits: Family::default(),
            module_calls: Family::default(),
            db_calls: Family::default(),
            db_errors: Family::default(),
            db_seconds: Family::new_with_constructor(latency_histogram),
            cache_calls: Family::default(),
            cache_errors: Family::default(),
            cache_seconds: Family::new_with_constructor(latency_histogram),
            instances: Family::default(),
            components: Family::default(),
            reloads: Family::default(),
            guests: GuestMetrics::default(),
        };
        registry.register(
            "requests",
            "HTTP requests answered, by tenant, module, route, method and status",
            metrics.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request's head to its response's head, by tenant, module and route",
            metrics.request_seconds.clone(),
        );
        registry.register(
            "requests_in_flight",
            "Requests being served now, by tenant, module and route",
            metrics.in_flight.clone(),
        );
        registry.register(
            "limit_hits",
            "Requests a limit stopped or refused: timeout, cpu, memory, trap, busy, rate",
            metrics.limit_hits.clone(),
        );
        // No host family starts with `module_`: those names are the
        // modules' own (see `guest`).
        registry.register(
            "dependency_calls",
            "Calls from one module to another, by caller (module), target and outcome",
            metrics.module_calls.clone(),
        );
        registry.register(
            "db_calls",
            "Database calls by module and operation",
            metrics.db_calls.clone(),
        );
        registry.register(
            "db_errors",
            "Database calls that returned an error",
            metrics.db_errors.clone(),
        );
        registry.register(
            "db_call_duration_seconds",
            "Time a database call took",
            metrics.db_seconds.clone(),
        );
        registry.register(
            "cache_calls",
            "Cache calls by module and operation",
            metrics.cache_calls.clone(),
        );
        registry.register(
            "cache_errors",
            "Cache calls that returned an error",
            metrics.cache_errors.clone(),
        );
        registry.register(
            "cache_call_duration_seconds",
            "Time a cache call took",
            metrics.cache_seconds.clone(),
        );
        registry.register(
            "instances_created",
            "Guest instances made (one per request unless the module reuses them)",
            metrics.instances.clone(),
        );
        registry.register(
            "components",
            "Components readied at a load: compiled, cached (from the compile cache) or reused (unchanged at a reload)",
            metrics.components.clone(),
        );
        registry.register(
            "reloads",
            "Reloads of the config, by outcome: succeeded, or failed (the previous set kept serving)",
            metrics.reloads.clone(),
        );
        registry.register(
            "build",
            "The modhost build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register_collector(Box::new(metrics.guests.collector()));
        Self {
            registry,
            ..metrics
        }
    }

    /// Counts one answered request no module's route took.
    pub fn unrouted_request(&self, method: &str, status: u16, took: Duration) {
        let route = RouteLabels::default();
        self.request_seconds
            .get_or_create(&route)
            .observe(took.as_secs_f64());
        self.answers(&route, method_label(method), status).inc();
    }

    /// The counter of `route`'s answers to `method` with `status`.
    fn answers(&self, route: &RouteLabels, method: &'static str, status: u16) -> Counter {
        self.requests.get_or_create_owned(&RequestLabels {
            tenant: route.tenant.clone(),
            module: route.module.clone(),
            route: route.route.clone(),
            method,
            status,
        })
    }

    /// Counts a request stopped or refused by `limit`.
    pub fn limit_hit(&self, module: &ModuleLabels, limit: &'static str) {
        self.limit_hits
            .get_or_create(&LimitLabels {
                tenant: module.tenant.clone(),
                module: module.module.clone(),
                limit,
            })
            .inc();
    }

    /// Counts a call from `caller` to `target` that ended in `outcome`.
    pub fn module_call(&self, caller: &ModuleLabels, target: &str, outcome: &'static str) {
        self.module_calls
            .get_or_create(&ModuleCallLabels {
                tenant: caller.tenant.clone(),
                module: caller.module.clone(),
                target: target.to_string(),
                outcome,
            })
            .inc();
    }

    /// Counts one call of `module` to `backend`.
    fn backend_call(&self, backend: Backend, labels: OperationLabels, ok: bool, took: Duration) {
        let (calls, errors, seconds) = match backend {
            Backend::Db => (&self.db_calls, &self.db_errors, &self.db_seconds),
            Backend::Cache => (&self.cache_calls, &self.cache_errors, &self.cache_seconds),
        };
        calls.get_or_create(&labels).inc();
        if !ok {
            errors.get_or_create(&labels).inc();
        }
        seconds.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// Counts a component readied at a load: `compiled` or `cached`.
    pub fn component(&self, outcome: &'static str) {
        self.components
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts a reload that `succeeded` or `failed`.
    pub fn reload(&self, outcome: &'static str) {
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// What modules record.
    pub fn guests(&self) -> &GuestMetrics {
        &self.guests
    }

    /// Every series, in the Prometheus text format (0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// One module's series, made when it loads (its routes' on their first
/// request), so a request counts with atomics and one map lookup rather
/// than building labels.
pub struct ModuleMeters {
    labels: ModuleLabels,
    instances: Counter,
    /// By route pattern.
    routes: RwLock<HashMap<String, Arc<RouteMeters>>>,
}

/// One route's series.
struct RouteMeters {
    labels: RouteLabels,
    seconds: Histogram,
    in_flight: Gauge,
    answers: RwLock<HashMap<(&'static str, u16), Counter>>,
}

impl HostMetrics {
    /// The series of module `module` of `tenant`.
    pub fn module(&self, tenant: &str, module: &str) -> ModuleMeters {
        let labels = ModuleLabels {
            tenant: tenant.to_string(),
            module: module.to_string(),
        };
        ModuleMeters {
            instances: self.instances.get_or_create_owned(&labels),
            labels,
            routes: RwLock::default(),
        }
    }
}

impl ModuleMeters {
    /// Its tenant and name.
    pub fn labels(&self) -> &ModuleLabels {
        &self.labels
    }

    /// Counts a request of `route` in flight until the guard drops.
    pub fn in_flight(&self, route: &str) -> InFlight {
        let gauge = self.route(route).in_flight.clone();
        gauge.inc();
        InFlight(gauge)
    }

    /// Counts a new guest instance.
    pub fn instance_created(&self) {
        self.instances.inc();
    }

    /// Counts one answered request of `route` and how long it took.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let route = self.route(route);
        route.seconds.observe(took.as_secs_f64());
        let method = method_label(method);
        if let Some(answers) = read(&route.answers).get(&(method, status)) {
            answers.inc();
            return;
        }
        let counter = host().answers(&route.labels, method, status);
        counter.inc();
        route
            .answers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((method, status), counter);
    }

    /// The series of `route`, made on its first request.
    fn route(&self, route: &str) -> Arc<RouteMeters> {
        if let Some(meters) = read(&self.routes).get(route) {
            return meters.clone();
        }
        let labels = RouteLabels {
            tenant: self.labels.tenant.clone(),
            module: self.labels.module.clone(),
            route: route.to_string(),
        };
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        routes
            .entry(route.to_string())
            .or_insert_with(|| {
                Arc::new(RouteMeters {
                    seconds: host().request_seconds.get_or_create_owned(&labels),
                    in_flight: host().in_flight.get_or_create_owned(&labels),
                    answers: RwLock::default(),
                    labels,
                })
            })
            .clone()
    }
}

/// `lock` read, whether or not a holder panicked.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// A request in flight; uncounted on drop.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A backend a capability calls on a module's behalf.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// The document database.
    Db,
    /// The cache.
    Cache,
}

/// Runs `call`, one `operation` of module `module` of `tenant` on
/// `backend`, and counts it: calls, errors and time taken.
pub async fn metered<T, E>(
    backend: Backend,
    (tenant, module): (&str, &str),
    operation: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    let labels = OperationLabels {
        tenant: tenant.to_string(),
        module: module.to_string(),
        operation,
    };
    host().backend_call(backend, labels, result.is_ok(), started.elapsed());
    result
}

/// `method` if it is a standard one, else `other`: a client may send any
/// token as a method, and must not make a series of each.
fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    STANDARD
        .iter()
        .find(|standard| **standard == method)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_host_family_takes_a_name_a_module_may_record_under() {
        let metrics = HostMetrics::new();
        let module = ModuleLabels {
            tenant: "t".into(),
            module: "m".into(),
        };
        metrics.unrouted_request("GET", 404, Duration::from_millis(1));
        metrics.module_call(&module, "other", "ok");
        metrics.limit_hit(&module, "cpu");
        metrics.component("compiled");
        metrics.reload("failed");
        let text = metrics.encode();
        let families: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .collect();
        assert!(families.len() >= 7, "{text}");
        for family in families {
            assert!(!family.starts_with("modhost_module_"), "{family}");
        }
    }

    #[test]
    fn a_method_outside_the_standard_ones_is_one_label() {
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(method_label("get"), "other");
    }
}
