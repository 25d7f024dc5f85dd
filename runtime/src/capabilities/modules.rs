//! `modules`: a module calls a module it declared as a dependency. The call
//! goes through the callee's own routes into its own sandbox, as part of the
//! same request, one level deeper; anything else is refused with an error
//! the caller can handle.

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
        let directory = &caller.directory;
        let depth = self.call_depth + 1;
        if depth > directory.max_call_depth() {
            return Err(CallError::DepthExceeded(directory.max_call_depth()));
        }
        let Some(target) = directory.get(&module) else {
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
        // The callee runs as a task of its own rather than inside this
        // guest's fiber: its store, deadline and stack stay its own.
        let sandbox = target.sandbox.clone();
        let outcome = tokio::spawn(async move { sandbox.handle(&guest, depth).await }).await;
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => {
                tracing::error!(caller = %self.module.name, callee = %module, request_id = %self.request_id, "module call failed: {err}");
                Err(CallError::Failed(format!(
                    "module {module} {}",
                    err.public()
                )))
            }
            Err(join) => Err(CallError::Failed(format!(
                "module {module} could not run: {join}"
            ))),
        }
    }
}
