//! The module's routes and the handler behind each.
//!
//! The host matches paths (it owns the route table across all modules), so a
//! request arrives with the pattern it matched; the router only has to find
//! the handler declared for that method and pattern.

use crate::bindings::modhost::module::types::Route;
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
    routes: Vec<(String, String, Handler)>,
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
        self.routes.push((
            method.to_ascii_uppercase(),
            path.to_string(),
            Box::new(handler),
        ));
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
            .map(|(method, path, _)| Route {
                method: method.clone(),
                path: path.clone(),
            })
            .collect()
    }

    /// The handler for a method and the route pattern the host matched.
    pub(crate) fn handler(&self, method: &str, route: &str) -> Option<&Handler> {
        self.routes
            .iter()
            .find(|(m, p, _)| p == route && (m == method || m == "*"))
            .map(|(_, _, handler)| handler)
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
