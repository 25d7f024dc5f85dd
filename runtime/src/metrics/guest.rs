//! What modules record through the `metrics` interface: counters, gauges
//! and timings, each exposed as `modhost_module_<name>` (`_total` for a
//! counter, `_seconds` for a timing's histogram) with the module's
//! `tenant` and `module` labels before its own.
//!
//! A guest is untrusted, so what it names is checked before anything is
//! stored: a name is 1 to 64 of `[a-z0-9_]` starting with a letter and not
//! ending in a suffix the exposition gives a meaning to (so a counter, a
//! gauge and a timing can never make the same series name); at most
//! [`MAX_LABELS`] labels of such keys (not `tenant`, `module`, `le`), with
//! values of at most [`MAX_LABEL_VALUE_BYTES`]; and each module may make
//! at most its bound of distinct series, after which new ones are refused
//! (the ones it has keep counting).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::{ModuleLabels, latency_histogram, read};

/// The most labels a guest may put on one series.
pub const MAX_LABELS: usize = 8;
/// The longest label value a guest may pass, in bytes.
pub const MAX_LABEL_VALUE_BYTES: usize = 128;
/// The longest metric name or label key, in bytes.
const MAX_NAME_BYTES: usize = 64;
/// Name endings the exposition gives a meaning to.
const RESERVED_SUFFIXES: [&str; 7] = [
    "_total", "_seconds", "_count", "_sum", "_bucket", "_created", "_info",
];
/// Label keys the host sets, or the exposition uses.
const RESERVED_KEYS: [&str; 4] = ["tenant", "module", "le", "quantile"];

/// The kind of a guest's metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Only goes up; exposed with `_total`.
    Counter,
    /// Set to a value.
    Gauge,
    /// Durations in seconds, into a histogram exposed with `_seconds`.
    Timing,
}

/// Why a guest's metric call was refused, for the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The metric's name breaks the rules.
    InvalidName(String),
    /// A label, or the number of them, breaks the rules.
    InvalidLabels(String),
    /// The value cannot be recorded (not finite, or a negative duration).
    InvalidValue(String),
    /// The module has made as many series as it may.
    TooManySeries(String),
}

/// A series' labels: the module's, then the guest's, sorted by key.
type Labels = Vec<(String, String)>;

enum GuestFamily {
    Counter(Family<Labels, Counter>),
    Gauge(Family<Labels, Gauge<f64, AtomicU64>>),
    Timing(Family<Labels, Histogram, fn() -> Histogram>),
}

#[derive(Default)]
struct Store {
    families: RwLock<BTreeMap<(Kind, String), GuestFamily>>,
    /// Distinct series per module; new series are made under this lock.
    series: Mutex<HashMap<ModuleLabels, usize>>,
}

/// Every metric every module has recorded.
#[derive(Default)]
pub struct GuestMetrics {
    store: Arc<Store>,
}

impl GuestMetrics {
    /// Records `value` on `module`'s metric `name` of `kind` with `labels`,
    /// making the series if `module` has made fewer than `max_series`.
    pub fn record(
        &self,
        module: &ModuleLabels,
        max_series: usize,
        kind: Kind,
        name: &str,
        labels: Vec<(String, String)>,
        value: f64,
    ) -> Result<(), Refusal> {
        check_name(name)?;
        let labels = series_labels(module, labels)?;
        check_value(kind, value)?;
        let key = (kind, name.to_string());
        if let Some(family) = read(&self.store.families).get(&key)
            && family.contains(&labels)
        {
            family.record(&labels, value);
            return Ok(());
        }
        let mut series = self
            .store
            .series
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut families = self
            .store
            .families
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let known = families
            .get(&key)
            .is_some_and(|family| family.contains(&labels));
        if !known {
            // Counted before anything is made: a refused call leaves no
            // empty family behind.
            let made = series.entry(module.clone()).or_default();
            if *made >= max_series {
                return Err(Refusal::TooManySeries(format!(
                    "module {} has made {made} metric series, its most (metrics.max_series_per_module); record on the series it has",
                    module.module
                )));
            }
            *made += 1;
        }
        let family = families
            .entry(key)
            .or_insert_with(|| GuestFamily::new(kind));
        family.record(&labels, value);
        Ok(())
    }

    /// What encodes every family at a scrape.
    pub fn collector(&self) -> GuestCollector {
        GuestCollector(self.store.clone())
    }
}

impl GuestFamily {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Counter => GuestFamily::Counter(Family::default()),
            Kind::Gauge => GuestFamily::Gauge(Family::default()),
            Kind::Timing => GuestFamily::Timing(Family::new_with_constructor(latency_histogram)),
        }
    }

    fn contains(&self, labels: &Labels) -> bool {
        match self {
            GuestFamily::Counter(family) => family.get(labels).is_some(),
            GuestFamily::Gauge(family) => family.get(labels).is_some(),
            GuestFamily::Timing(family) => family.get(labels).is_some(),
        }
    }

    fn record(&self, labels: &Labels, value: f64) {
        match self {
            GuestFamily::Counter(family) => {
                family.get_or_create(labels).inc_by(value as u64);
            }
            GuestFamily::Gauge(family) => {
                family.get_or_create(labels).set(value);
            }
            GuestFamily::Timing(family) => family.get_or_create(labels).observe(value),
        }
    }
}

/// Encodes the guests' families at a scrape.
pub struct GuestCollector(Arc<Store>);

impl std::fmt::Debug for GuestCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuestCollector")
    }
}

impl Collector for GuestCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for ((kind, name), family) in read(&self.0.families).iter() {
            let exposed = match kind {
                Kind::Timing => format!("module_{name}_seconds"),
                Kind::Counter | Kind::Gauge => format!("module_{name}"),
            };
            match family {
                GuestFamily::Counter(family) => encode_family(&mut encoder, &exposed, family)?,
                GuestFamily::Gauge(family) => encode_family(&mut encoder, &exposed, family)?,
                GuestFamily::Timing(family) => encode_family(&mut encoder, &exposed, family)?,
            }
        }
        Ok(())
    }
}

/// Writes one family under `name`.
fn encode_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    family: &impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    const HELP: &str = "Recorded by a module through the metrics interface";
    family.encode(encoder.encode_descriptor(name, HELP, None, family.metric_type())?)
}

/// Whether `name` is `[a-z][a-z0-9_]*`, 1 to 64 bytes.
fn is_identifier(name: &str) -> bool {
    (1..=MAX_NAME_BYTES).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_name(name: &str) -> Result<(), Refusal> {
    if !is_identifier(name) {
        return Err(Refusal::InvalidName(format!(
            "metric name {:?} must be 1 to {MAX_NAME_BYTES} of a-z, 0-9 and _, starting with a letter",
            clip(name)
        )));
    }
    if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        return Err(Refusal::InvalidName(format!(
            "metric name {name:?} must not end in {suffix}: the host adds _total to counters and _seconds to timings"
        )));
    }
    Ok(())
}

/// The module's labels, then the guest's sorted by key, once checked.
fn series_labels(module: &ModuleLabels, guest: Vec<(String, String)>) -> Result<Labels, Refusal> {
    if guest.len() > MAX_LABELS {
        return Err(Refusal::InvalidLabels(format!(
            "{} labels; a series may have at most {MAX_LABELS}",
            guest.len()
        )));
    }
    let mut guest = guest;
    guest.sort();
    for (index, (key, value)) in guest.iter().enumerate() {
        if !is_identifier(key) || RESERVED_KEYS.contains(&key.as_str()) {
            return Err(Refusal::InvalidLabels(format!(
                "label {:?} must be 1 to {MAX_NAME_BYTES} of a-z, 0-9 and _, starting with a letter, and not one of {RESERVED_KEYS:?}",
                clip(key)
            )));
        }
        if index > 0 && guest[index - 1].0 == *key {
            return Err(Refusal::InvalidLabels(format!(
                "label {key:?} is given twice"
            )));
        }
        if value.len() > MAX_LABEL_VALUE_BYTES {
            return Err(Refusal::InvalidLabels(format!(
                "the value of label {key:?} is {} bytes; the most is {MAX_LABEL_VALUE_BYTES}",
                value.len()
            )));
        }
    }
    let mut labels = Vec::with_capacity(guest.len() + 2);
    labels.push(("tenant".to_string(), module.tenant.clone()));
    labels.push(("module".to_string(), module.module.clone()));
    labels.extend(guest);
    Ok(labels)
}

fn check_value(kind: Kind, value: f64) -> Result<(), Refusal> {
    let valid = match kind {
        Kind::Counter => true,
        Kind::Gauge => value.is_finite(),
        Kind::Timing => value.is_finite() && value >= 0.0,
    };
    if valid {
        Ok(())
    } else {
        Err(Refusal::InvalidValue(format!(
            "{value} cannot be recorded: gauges take finite values, timings finite seconds of at least 0"
        )))
    }
}

/// At most the first 64 characters of `text`, for messages.
fn clip(text: &str) -> &str {
    text.char_indices()
        .nth(64)
        .map_or(text, |(end, _)| &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str) -> ModuleLabels {
        ModuleLabels {
            tenant: "default".into(),
            module: name.into(),
        }
    }

    fn label(key: &str, value: &str) -> (String, String) {
        (key.to_string(), value.to_string())
    }

    #[test]
    fn names_labels_and_values_are_checked_before_anything_is_stored() {
        let metrics = GuestMetrics::default();
        let m = module("a");
        let record = |name: &str, labels: Vec<(String, String)>, kind, value| {
            metrics.record(&m, 10, kind, name, labels, value)
        };
        assert!(record("jobs_done", vec![label("kind", "x")], Kind::Counter, 1.0).is_ok());
        for name in [
            "",
            "Jobs",
            "1jobs",
            "jobs-done",
            "jobs_total",
            "wait_seconds",
            "x_bucket",
        ] {
            assert!(
                matches!(
                    record(name, vec![], Kind::Counter, 1.0),
                    Err(Refusal::InvalidName(_))
                ),
                "{name:?}"
            );
        }
        assert!(matches!(
            record(&"a".repeat(65), vec![], Kind::Gauge, 1.0),
            Err(Refusal::InvalidName(_))
        ));
        for labels in [
            vec![label("tenant", "other")],
            vec![label("module", "other")],
            vec![label("le", "1")],
            vec![label("Key", "v")],
            vec![label("k", "v"), label("k", "w")],
            vec![label("k", &"v".repeat(129))],
            (0..9).map(|i| label(&format!("k{i}"), "v")).collect(),
        ] {
            assert!(
                matches!(
                    record("g", labels.clone(), Kind::Gauge, 1.0),
                    Err(Refusal::InvalidLabels(_))
                ),
                "{labels:?}"
            );
        }
        assert!(matches!(
            record("g", vec![], Kind::Gauge, f64::NAN),
            Err(Refusal::InvalidValue(_))
        ));
        assert!(matches!(
            record("t", vec![], Kind::Timing, -1.0),
            Err(Refusal::InvalidValue(_))
        ));
        assert_eq!(read(&metrics.store.families).len(), 1, "only the valid one");
    }

    #[test]
    fn a_module_past_its_series_bound_is_refused_new_series_but_keeps_its_own() {
        let metrics = GuestMetrics::default();
        let (greedy, other) = (module("greedy"), module("other"));
        for i in 0..3 {
            let labels = vec![label("user", &i.to_string())];
            metrics
                .record(&greedy, 3, Kind::Counter, "hits", labels, 1.0)
                .unwrap();
        }
        let fourth = vec![label("user", "3")];
        assert!(matches!(
            metrics.record(&greedy, 3, Kind::Counter, "hits", fourth, 1.0),
            Err(Refusal::TooManySeries(_))
        ));
        assert!(matches!(
            metrics.record(&greedy, 3, Kind::Gauge, "fresh", vec![], 1.0),
            Err(Refusal::TooManySeries(_))
        ));
        let again = vec![label("user", "0")];
        metrics
            .record(&greedy, 3, Kind::Counter, "hits", again, 1.0)
            .unwrap();
        metrics
            .record(&other, 3, Kind::Counter, "hits", vec![], 1.0)
            .unwrap();
        assert_eq!(metrics.store.series.lock().unwrap()[&greedy], 3);
    }

    #[test]
    fn the_exposition_names_each_kind_apart_with_the_module_labels_first() {
        let metrics = GuestMetrics::default();
        let m = module("shop");
        metrics
            .record(
                &m,
                10,
                Kind::Counter,
                "orders",
                vec![label("kind", "book")],
                2.0,
            )
            .unwrap();
        metrics
            .record(&m, 10, Kind::Gauge, "orders", vec![], 7.5)
            .unwrap();
        metrics
            .record(&m, 10, Kind::Timing, "orders", vec![], 0.003)
            .unwrap();
        let mut registry = prometheus_client::registry::Registry::with_prefix("modhost");
        registry.register_collector(Box::new(metrics.collector()));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        // Three kinds under one name: three metric names, each typed once.
        let typed: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            typed,
            [
                "modhost_module_orders_total counter",
                "modhost_module_orders gauge",
                "modhost_module_orders_seconds histogram",
            ]
        );
        for line in [
            "modhost_module_orders_total{tenant=\"default\",module=\"shop\",kind=\"book\"} 2",
            "modhost_module_orders{tenant=\"default\",module=\"shop\"} 7.5",
            "modhost_module_orders_seconds_count{tenant=\"default\",module=\"shop\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }
}
