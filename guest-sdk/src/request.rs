//! The request a handler receives.

use serde::de::DeserializeOwned;

pub use crate::bindings::modhost::module::types::Principal;
use crate::bindings::modhost::module::types::Request as WitRequest;
use crate::error::{Error, Result};

/// One HTTP request routed to this module by the host.
///
/// Route parameters, query pairs and headers arrive already parsed; header
/// names compare case-insensitively.
#[derive(Debug, Clone)]
pub struct Request {
    inner: WitRequest,
}

impl Request {
    pub(crate) fn new(inner: WitRequest) -> Self {
        Self { inner }
    }

    /// The id the host gave this request, also found in the host's logs.
    pub fn id(&self) -> &str {
        &self.inner.request_id
    }

    /// The method in upper case.
    pub fn method(&self) -> &str {
        &self.inner.method
    }

    /// The request path, without the query string, below the tenant's
    /// prefix: the module sees itself mounted at `/`.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The path prefix the module's tenant is mounted under (`/acme`), `""`
    /// at `/` and on module calls: put it before links to this module.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The route pattern that matched, as the module declared it.
    pub fn route(&self) -> &str {
        &self.inner.route
    }

    /// Who the request's bearer token speaks for, on a route that needs
    /// one ([`Router::auth`](crate::Router::auth)): the host checked the
    /// token (signature, expiry, issuer, audience, roles) before the
    /// handler runs. `None` on other routes and on module calls.
    pub fn principal(&self) -> Option<&Principal> {
        self.inner.principal.as_ref()
    }

    /// The subject (`sub`) of the request's token, or a 401 for a route
    /// that was not declared as needing one.
    pub fn subject(&self) -> Result<&str> {
        self.principal()
            .map(|principal| principal.subject.as_str())
            .ok_or_else(|| Error::new(401, "this route needs a bearer token"))
    }

    /// The value of a `:name` route segment (or `...` for the tail),
    /// percent-decoded: `%3F` arrives as `?`, `%2F` as `/`. Put it back in
    /// a call path with [`path!`](crate::path), never with `format!`.
    ///
    /// Every request on a route carries each of its parameters, so a name
    /// the route does not have is the module's bug (the handler is mounted
    /// on the wrong route, or the name is misspelt): a 500 that says so,
    /// never a 400 blaming the client.
    pub fn param(&self, name: &str) -> Result<&str> {
        find(&self.inner.params, name, false).ok_or_else(|| {
            Error::internal(format!(
                "the handler asked for route parameter {name}, which route {} does not have",
                self.inner.route
            ))
        })
    }

    /// The first value of a query parameter, if present.
    pub fn query(&self, name: &str) -> Option<&str> {
        find(&self.inner.query, name, false)
    }

    /// A whole-number query parameter, or `default` when absent; anything
    /// else is a 400 naming the parameter (for paging: `?skip=20&limit=10`).
    pub fn query_number(&self, name: &str, default: u64) -> Result<u64> {
        match self.query(name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| {
                Error::bad_request(format!("query parameter {name} must be a whole number"))
            }),
        }
    }

    /// The first value of a header, matched without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.inner.headers, name, true)
    }

    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.inner.body
    }

    /// The body parsed as JSON into `T`; a body that does not parse is a 400
    /// naming what is wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.inner.body)
            .map_err(|err| Error::bad_request(format!("invalid JSON body: {err}")))
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str, ignore_case: bool) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| {
            if ignore_case {
                key.eq_ignore_ascii_case(name)
            } else {
                key == name
            }
        })
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_route(route: &str, params: &[(&str, &str)]) -> Request {
        let fields = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Request::new(WitRequest {
            request_id: "req-1".into(),
            method: "GET".into(),
            path: "/users/u1".into(),
            prefix: String::new(),
            route: route.into(),
            params: fields(params),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            principal: None,
        })
    }

    #[test]
    fn a_parameter_the_route_lacks_is_the_modules_500_not_the_clients_400() {
        let req = on_route("/users/:id", &[("id", "u1")]);
        assert_eq!(req.param("id"), Ok("u1"));
        let err = req.param("user_id").unwrap_err();
        assert_eq!(err.status(), 500);
        assert_eq!(
            err.message(),
            "the handler asked for route parameter user_id, which route /users/:id does not have"
        );
    }
}
