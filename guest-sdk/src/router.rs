//! The module's routes and the handler behind each.
//!
//! The host matches paths (it owns the route table across all modules), so a
//! request arrives with the pattern it matched; the router only has to find
//! the handler declared for that method and pattern.

use crate::bindings::modhost::module::types::{Route, RouteAuth};
use crate::error::Result;
use crate::request::Request;
use crate::response::Response;

/// A function that serves one route.
pub type Handler = Box<dyn Fn(Request) -> Result<Response>>;

/// The routes of a module: method, path pattern and handler.
///
/// Patterns have literal segments, `:name` segments and an optional trailing
/// `...`, as in `/users/:id` or `/files/...`. The host rejects a malformed
/// pattern when the module loads.
#[derive(Default)]
pub struct Router {
    routes: Vec<Served>,
}

/// One route: method, pattern, handler, and the roles a token must hold
/// when it needs one.
struct Served {
    method: String,
    path: String,
    handler: Handler,
    auth: Option<Vec<String>>,
}

impl Router {
    /// A router with no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `method` (upper case, or `*` for any) on `path` with `handler`.
    pub fn route(
        mut self,
        method: &str,
        path: &str,
        handler: impl Fn(Request) -> Result<Response> + 'static,
    ) -> Self {
        self.routes.push(Served {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            handler: Box::new(handler),
            auth: None,
        });
        self
    }

    /// The route added last needs a valid bearer token: the host checks it
    /// against its `[auth]` config and answers 401 itself when it fails;
    /// the handler finds who it is in [`Request::principal`].
    ///
    /// ```no_run
    /// # use modhost_sdk::{Request, Response, Result, Router};
    /// # fn me(_: Request) -> Result<Response> { Response::json(&()) }
    /// # fn credit(_: Request) -> Result<Response> { Response::json(&()) }
    /// Router::new()
    ///     .get("/users/me", me).auth()
    ///     .post("/wallet/:id/credit", credit).auth_roles(&["admin"]);
    /// ```
    ///
    /// # Panics
    ///
    /// When no route was added before it: the module then fails to load,
    /// with this message in the host's log.
    pub fn auth(self) -> Self {
        self.auth_roles(&[])
    }

    /// Like [`Router::auth`], and the token must hold every one of `roles`
    /// (its `roles` claim); without one the host answers 403.
    ///
    /// # Panics
    ///
    /// When no route was added before it.
    pub fn auth_roles(mut self, roles: &[&str]) -> Self {
        let last = self
            .routes
            .last_mut()
            .expect("Router::auth marks the route added just before it; add a route first");
        last.auth = Some(roles.iter().map(|role| role.to_string()).collect());
        self
    }

    /// Serves `GET` on `path`.
    pub fn get(self, path: &str, handler: impl Fn(Request) -> Result<Response> + 'static) -> Self {
        self.route("GET", path, handler)
    }

    /// Serves `POST` on `path`.
    pub fn post(self, path: &str, handler: impl Fn(Request) -> Result<Response> + 'static) -> Self {
        self.route("POST", path, handler)
    }

    /// Serves `PUT` on `path`.
    pub fn put(self, path: &str, handler: impl Fn(Request) -> Result<Response> + 'static) -> Self {
        self.route("PUT", path, handler)
    }

    /// Serves `DELETE` on `path`.
    pub fn delete(
        self,
        path: &str,
        handler: impl Fn(Request) -> Result<Response> + 'static,
    ) -> Self {
        self.route("DELETE", path, handler)
    }

    /// Serves `PATCH` on `path`.
    pub fn patch(
        self,
        path: &str,
        handler: impl Fn(Request) -> Result<Response> + 'static,
    ) -> Self {
        self.route("PATCH", path, handler)
    }

    /// Serves `HEAD` on `path` (the host sends the headers only).
    pub fn head(self, path: &str, handler: impl Fn(Request) -> Result<Response> + 'static) -> Self {
        self.route("HEAD", path, handler)
    }

    /// Serves every method on `path`; the handler reads
    /// [`Request::method`].
    pub fn any(self, path: &str, handler: impl Fn(Request) -> Result<Response> + 'static) -> Self {
        self.route("*", path, handler)
    }

    /// The routes as the manifest declares them.
    pub(crate) fn declared(&self) -> Vec<Route> {
        self.routes
            .iter()
            .map(|served| Route {
                method: served.method.clone(),
                path: served.path.clone(),
                auth: served.auth.clone().map(|roles| RouteAuth { roles }),
            })
            .collect()
    }

    /// The handler for a method and the route pattern the host matched.
    pub(crate) fn handler(&self, method: &str, route: &str) -> Option<&Handler> {
        self.routes
            .iter()
            .find(|served| {
                served.path == route && (served.method == method || served.method == "*")
            })
            .map(|served| &served.handler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: Request) -> Result<Response> {
        Ok(Response::empty(204))
    }

    #[test]
    fn declares_routes_in_order_with_upper_case_methods() {
        let router = Router::new().get("/a", ok).route("patch", "/b/:id", ok);
        let declared: Vec<_> = router
            .declared()
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect();
        assert_eq!(
            declared,
            [
                ("GET".to_string(), "/a".to_string()),
                ("PATCH".to_string(), "/b/:id".to_string())
            ]
        );
    }

    #[test]
    fn each_helper_declares_its_method() {
        let router = Router::new()
            .get("/g", ok)
            .post("/p", ok)
            .put("/u", ok)
            .delete("/d", ok)
            .patch("/a", ok)
            .head("/h", ok)
            .any("/x", ok);
        let methods: Vec<_> = router.declared().into_iter().map(|r| r.method).collect();
        assert_eq!(
            methods,
            ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "*"]
        );
    }

    #[test]
    fn finds_the_handler_by_method_and_pattern_and_wildcard_method() {
        let router = Router::new().get("/a", ok).route("*", "/any", ok);
        assert!(router.handler("GET", "/a").is_some());
        assert!(router.handler("POST", "/a").is_none());
        assert!(router.handler("DELETE", "/any").is_some());
        assert!(router.handler("GET", "/b").is_none());
    }
}
