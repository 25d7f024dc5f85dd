//! `modules`: a module calls a module it declared as a dependency. The call
//! goes through the callee's own routes into its own sandbox, as part of the
//! same request, one level deeper; anything else is refused with an error
//! the caller can handle.

use std::sync::Arc;

use tokio::task::{JoinError, JoinHandle};
use wasmtime::Result;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::modhost::module::modules::{self, CallError, CallRequest};
use crate::bindings::modhost::module::types::Response;
use crate::guest_request::{RequestParts, guest_request};
use crate::host_state::HostState;
use crate::routing::Lookup;

/// Links the `modules` interface.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    modules::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

impl modules::Host for HostState {
    async fn call(&mut self, module: String, request: CallRequest) -> Result<Response, CallError> {
        let caller = &self.module;
        if !caller.declares_dependency(&module) {
            return Err(CallError::NotDeclared(format!(
                "module {} did not declare {module} as a dependency",
                caller.name
            )));
        }
        // Refused before anything is parsed or copied for the callee.
        let header_sizes = request
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len());
        let sizes = [request.method.len(), request.path.len(), request.body.len()];
        caller
            .limits
            .admit_host_call(sizes.into_iter().chain(header_sizes))
            .map_err(CallError::TooLarge)?;
        let depth = self.call_depth + 1;
        let max_depth = caller.limits.max_call_depth;
        if depth > max_depth {
            return Err(CallError::DepthExceeded(max_depth));
        }
        let Some(target) = caller.directory.get(&module) else {
            return Err(CallError::Unavailable(format!(
                "module {module} is not serving"
            )));
        };
        let (path, query) = match request.path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (request.path.as_str(), None),
        };
        let route = match target.routes.lookup(&request.method, path) {
            Lookup::Found(route) => route,
            Lookup::MethodNotAllowed(_) | Lookup::NotFound => {
                return Err(CallError::NoRoute(format!(
                    "module {module} has no route for {} {path}",
                    request.method
                )));
            }
        };
        // Never wait for a slot while holding one: a chain of waiting
        // callers could deadlock. A busy callee is an answer the caller
        // can pass on (the SDK makes it a 503).
        let Some(slot) = target.sandbox.context().admission.try_enter() else {
            return Err(CallError::Busy(format!(
                "module {module} is busy; try again later"
            )));
        };
        let guest = guest_request(
            RequestParts {
                request_id: &self.request_id,
                method: &request.method,
                path,
                query,
                headers: request.headers,
                body: request.body,
            },
            route,
        );
        // The callee spends what is left of the request's time and of its
        // caller's CPU time, never more than its own limits, and its CPU
        // time counts as its caller's.
        let call = target
            .sandbox
            .new_call(self.request_id.clone(), depth, Some(&self.budget));
        // The callee runs as a task of its own rather than inside this
        // guest's fiber: its store, budget and stack stay its own. When the
        // caller is stopped (its deadline, its client gone), this future is
        // dropped and the guard aborts the callee.
        let sandbox = target.sandbox.clone();
        let task = AbortOnDrop {
            task: tokio::spawn(async move {
                let _slot = slot;
                sandbox.handle(&guest, call).await
            }),
            callee: module.clone(),
            request_id: self.request_id.clone(),
            joined: false,
        };
        match task.join().await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => {
                tracing::warn!(caller = %self.module.name, callee = %module, request_id = %self.request_id, "module call failed: {err}");
                Err(CallError::Failed(format!(
                    "module {module} {}; see the runtime log for request {}",
                    err.public(),
                    self.request_id
                )))
            }
            Err(join) => {
                tracing::error!(caller = %self.module.name, callee = %module, request_id = %self.request_id, "module call could not run: {join}");
                Err(CallError::Failed(format!(
                    "module {module} could not run; see the runtime log for request {}",
                    self.request_id
                )))
            }
        }
    }
}

/// A spawned callee that is aborted if whoever waits for it goes away.
struct AbortOnDrop<T> {
    task: JoinHandle<T>,
    callee: String,
    request_id: Arc<str>,
    /// Whether the caller got the callee's outcome.
    joined: bool,
}

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, JoinError> {
        let outcome = (&mut self.task).await;
        self.joined = true;
        outcome
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if self.joined {
            return;
        }
        // The caller stopped first. The callee may have ended at the same
        // deadline a moment before, unseen: say so, or stop it now.
        if self.task.is_finished() {
            tracing::info!(callee = %self.callee, request_id = %self.request_id, "module call ended at the request's deadline, with its caller");
        } else {
            tracing::info!(callee = %self.callee, request_id = %self.request_id, "module call aborted: its caller stopped");
            self.task.abort();
        }
    }
}
