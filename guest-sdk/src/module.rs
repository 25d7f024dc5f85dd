//! What a module author implements.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::router::Router;

/// A modhost module: its identity as constants and its behaviour as methods.
///
/// Export it with [`crate::export_module!`].
pub trait Module {
    /// The unique module name, `[a-z0-9_-]+`.
    const NAME: &'static str;
    /// The module's version, usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// A one-line description for `GET /modules`.
    const DESCRIPTION: &'static str = "";
    /// The modules this one needs; the host initialises them first.
    const DEPENDENCIES: &'static [&'static str] = &[];

    /// The routes this module serves. Called for `describe` and for every
    /// request, so it should only build the router.
    fn routes() -> Router;

    /// Runs once after the dependencies are up. An `Err` keeps the module
    /// from serving; its message is the reason the host reports. Errors of
    /// the SDK's calls convert with `?`.
    fn init() -> Result<()> {
        Ok(())
    }

    /// The module's own view of its health.
    fn health() -> Health {
        Health::new(HealthStatus::Healthy)
    }
}

/// How a module judges its own health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// Everything works.
    Healthy,
    /// Serving, with something impaired.
    Degraded,
    /// Not able to serve.
    Unhealthy,
}

/// A module's health report: a status and any JSON details.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub(crate) status: HealthStatus,
    pub(crate) details: Map<String, Value>,
}

impl Health {
    /// A report with `status` and no details.
    pub fn new(status: HealthStatus) -> Self {
        Self {
            status,
            details: Map::new(),
        }
    }

    /// The same report with one more detail.
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }
}
