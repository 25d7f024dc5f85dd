//! Module calls in-process: the refusals a caller gets before any callee
//! runs, called through the WIT host trait with no guest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::CallerView;
use crate::bindings::modhost::module::modules::{CallError, CallRequest, Host};
use crate::call_budget::CallBudget;
use crate::callable_modules::CallableModules;
use crate::limits::{DEFAULT_LIMITS, ModuleLimits};

/// `GET path` with no headers or body.
fn get(path: &str) -> CallRequest {
    CallRequest {
        method: "GET".into(),
        path: path.into(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// What a caller of `dependencies`, `depth` calls deep, needs for a view.
struct Caller {
    dependencies: Vec<String>,
    limits: ModuleLimits,
    request_id: Arc<str>,
    depth: u32,
    budget: CallBudget,
    callable: Arc<CallableModules>,
}

impl Caller {
    fn new(dependencies: &[&str], depth: u32) -> Self {
        Self {
            dependencies: dependencies.iter().map(|d| d.to_string()).collect(),
            limits: DEFAULT_LIMITS,
            request_id: "req-1".into(),
            depth,
            budget: CallBudget::new(
                Instant::now() + Duration::from_secs(10),
                Duration::from_secs(1),
            ),
            callable: Arc::default(),
        }
    }

    fn view(&self) -> CallerView<'_> {
        CallerView {
            name: "wallet",
            tenant: "default",
            dependencies: &self.dependencies,
            limits: &self.limits,
            request_id: &self.request_id,
            depth: self.depth,
            budget: &self.budget,
            callable: Some(self.callable.clone()),
        }
    }
}

#[tokio::test]
async fn a_module_not_declared_as_a_dependency_is_refused_naming_both() {
    let caller = Caller::new(&["users"], 0);
    let err = caller.view().call("billing".into(), get("/x")).await;
    assert!(
        matches!(&err, Err(CallError::NotDeclared(m)) if m == "module wallet did not declare billing as a dependency"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_call_is_allowed_up_to_the_default_depth_limit_and_refused_past_it() {
    assert_eq!(DEFAULT_LIMITS.max_call_depth, 8);
    // A caller 7 calls deep makes the 8th: allowed, so it goes on to find
    // that the callee is not up.
    let at_limit = Caller::new(&["users"], 7);
    let err = at_limit.view().call("users".into(), get("/x")).await;
    assert!(matches!(err, Err(CallError::Unavailable(_))), "{err:?}");
    // One deeper is the 9th: refused before the callee is looked up.
    let past_limit = Caller::new(&["users"], 8);
    let err = past_limit.view().call("users".into(), get("/x")).await;
    assert!(
        matches!(&err, Err(CallError::DepthExceeded(m)) if m == "the chain of module calls is deeper than the limit of 8"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_call_larger_than_max_host_call_bytes_is_refused_before_it_is_routed() {
    let mut caller = Caller::new(&["users"], 0);
    caller.limits.max_host_call_bytes = 100;
    let mut request = get("/x");
    request.body = vec![b'x'; 100];
    let err = caller.view().call("users".into(), request).await;
    assert!(
        matches!(&err, Err(CallError::TooLarge(m)) if m.contains("max_host_call_bytes (100)")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_module_not_granted_module_calls_is_refused_naming_the_grant() {
    let caller = Caller::new(&["users"], 0);
    let mut view = CallerView {
        callable: None,
        ..caller.view()
    };
    let err = view.call("users".into(), get("/x")).await;
    assert!(
        matches!(&err, Err(CallError::NotGranted(m)) if m.contains("wallet is not granted modules")),
        "{err:?}"
    );
}
