//! `modules.call`: the checks a call passes in order (declared, size,
//! depth, the callee up, a route, a free slot), then the callee's run as a
//! task of its own.

use crate::bindings::modhost::module::modules::{self as wit, CallError, CallRequest};
use crate::bindings::modhost::module::types::Response;
use crate::guest_request::{RequestParts, guest_request};
use crate::routing::Lookup;

use super::CallerView;
use super::abort_on_drop::AbortOnDrop;
use crate::grants::Grant;
use crate::metrics::{self, ModuleLabels};

impl wit::Host for CallerView<'_> {
    async fn call(&mut self, module: String, request: CallRequest) -> Result<Response, CallError> {
        // The target is a label only when declared: a guest must not make
        // a series of every name it can think of.
        let target = match self.dependencies.contains(&module) {
            true => module.clone(),
            false => "(undeclared)".to_string(),
        };
        let answer = self.checked_call(module, request).await;
        let caller = ModuleLabels {
            tenant: self.tenant.to_string(),
            module: self.name.to_string(),
        };
        metrics::host().module_call(&caller, &target, outcome(&answer));
        answer
    }
}

/// How a module call ended, as `/metrics` names it.
fn outcome(answer: &Result<Response, CallError>) -> &'static str {
    match answer {
        Ok(_) => "ok",
        Err(CallError::NotDeclared(_)) => "not-declared",
        Err(CallError::Unavailable(_)) => "unavailable",
        Err(CallError::NoRoute(_)) => "no-route",
        Err(CallError::DepthExceeded(_)) => "depth-exceeded",
        Err(CallError::Failed(_)) => "failed",
        Err(CallError::Busy(_)) => "busy",
        Err(CallError::TooLarge(_)) => "too-large",
        Err(CallError::NotGranted(_)) => "not-granted",
    }
}

impl CallerView<'_> {
    async fn checked_call(
        &mut self,
        module: String,
        request: CallRequest,
    ) -> Result<Response, CallError> {
        let Some(callable) = self.callable.clone() else {
            return Err(CallError::NotGranted(
                Grant::Modules.missing(self.tenant, self.name),
            ));
        };
        if !self.dependencies.contains(&module) {
            return Err(CallError::NotDeclared(format!(
                "module {} did not declare {module} as a dependency",
                self.name
            )));
        }
        // Refused before anything is parsed or copied for the callee.
        let header_sizes = request
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len());
        let sizes = [request.method.len(), request.path.len(), request.body.len()];
        self.limits
            .admit_host_call(sizes.into_iter().chain(header_sizes))
            .map_err(CallError::TooLarge)?;
        let depth = self.depth + 1;
        let max_depth = self.limits.max_call_depth;
        if depth > max_depth {
            return Err(CallError::DepthExceeded(format!(
                "the chain of module calls is deeper than the limit of {max_depth}"
            )));
        }
        let Some(target) = callable.get(self.tenant, &module) else {
            return Err(CallError::Unavailable(format!(
                "module {module} is not serving"
            )));
        };
        let (path, query) = split_call_path(&request.path)?;
        let route = match target.routes.lookup(&request.method, path) {
            Lookup::Found(route) => route,
            Lookup::MethodNotAllowed(_) | Lookup::NotFound => {
                return Err(CallError::NoRoute(format!(
                    "module {module} has no route for {} {path}",
                    request.method
                )));
            }
        };
        // A module call carries no token: a route that needs one (as its
        // module declares, or as the operator requires) is not reachable
        // this way, so no module can relay to it for an unchecked client.
        if route.auth.is_some() {
            return Err(CallError::NoRoute(format!(
                "route {} {} of module {module} needs a bearer token, and module calls carry none",
                request.method, route.route
            )));
        }
        // Never wait for a slot while holding one: a chain of waiting
        // callers could deadlock. A busy callee is an answer the caller
        // can pass on (the SDK makes it a 503).
        let Some(slot) = target.sandbox.context().admission.try_enter() else {
            return Err(CallError::Busy(format!(
                "module {module} is busy; try again later"
            )));
        };
        let request_id = self.request_id.clone();
        let guest = guest_request(
            RequestParts {
                request_id: &request_id,
                method: &request.method,
                prefix: "",
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
            .new_call(request_id.clone(), depth, Some(self.budget));
        // The callee runs as a task of its own rather than inside this
        // guest's fiber: its store, budget and stack stay its own. When the
        // caller is stopped (its deadline, its client gone), this future is
        // dropped and the guard aborts the callee.
        let sandbox = target.sandbox.clone();
        let task = AbortOnDrop::spawn(
            async move {
                let _slot = slot;
                sandbox.handle(&guest, call).await
            },
            (self.tenant, &module),
            request_id.clone(),
        );
        let caller = self.name;
        match task.join().await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => {
                tracing::warn!(%caller, callee = %module, %request_id, "module call failed: {err}");
                Err(CallError::Failed(err.for_client(&module, &request_id)))
            }
            Err(join) => {
                tracing::error!(%caller, callee = %module, %request_id, "module call could not run: {join}");
                Err(CallError::Failed(format!(
                    "module {module} could not run; see the runtime log for request {request_id}"
                )))
            }
        }
    }
}

/// A call's path as a URI path: a raw `?` starts the query, and the path is
/// routed before anything in it is decoded, so a percent-encoded `?`, `/`
/// or `#` stays data inside its segment. A raw `#` (a fragment has no
/// meaning in a call), a space or a control character is refused rather
/// than guessed at.
fn split_call_path(target: &str) -> Result<(&str, Option<&str>), CallError> {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let bad = target
        .chars()
        .find(|c| *c == '#' || c.is_whitespace() || c.is_control());
    if !path.starts_with('/') || bad.is_some() {
        return Err(CallError::NoRoute(format!(
            "the call path {target:?} is not a URI path: it must start with '/', and '#', spaces and control characters must be percent-encoded (the SDK's path! does)"
        )));
    }
    Ok((path, query))
}

#[cfg(test)]
mod tests {
    use super::split_call_path;

    #[test]
    fn only_a_raw_question_mark_starts_the_query() {
        assert_eq!(
            split_call_path("/users/u1%3Fx?y=1").unwrap(),
            ("/users/u1%3Fx", Some("y=1"))
        );
        assert_eq!(
            split_call_path("/users/a%2Fb").unwrap(),
            ("/users/a%2Fb", None)
        );
        for bad in ["/users/u1#x", "users/u1", "/users/a b", "/users/\n"] {
            assert!(split_call_path(bad).is_err(), "{bad}");
        }
    }
}
