//! Builds the request record a guest receives, from an HTTP request or from
//! another module's call, and adds the principal of a checked token.

use std::sync::Arc;

use crate::auth::Principal;
use crate::bindings::modhost::module::types::{Principal as WitPrincipal, Request};
use crate::routing::RouteMatch;

/// What a request is made of before it reaches a guest.
pub struct RequestParts<'a> {
    /// The id of the request (shared by every call it causes).
    pub request_id: &'a str,
    /// The method in upper case.
    pub method: &'a str,
    /// The prefix of the tenant the request reached, `""` at `/`.
    pub prefix: &'a str,
    /// The path below that prefix, without the query string.
    pub path: &'a str,
    /// The query string without `?`, if any.
    pub query: Option<&'a str>,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// The guest's view of `parts` routed to `route`.
pub fn guest_request(parts: RequestParts<'_>, route: RouteMatch<'_>) -> Request {
    let query = form_urlencoded::parse(parts.query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    Request {
        request_id: parts.request_id.to_string(),
        method: parts.method.to_string(),
        prefix: parts.prefix.to_string(),
        path: parts.path.to_string(),
        route: route.route.to_string(),
        params: route.params,
        query,
        headers: parts.headers,
        body: parts.body,
        principal: None,
    }
}

/// `request` with the principal the host's token check found, if any.
pub fn with_principal(request: Request, principal: Option<Arc<Principal>>) -> Request {
    Request {
        principal: principal.map(|principal| WitPrincipal {
            subject: principal.subject.clone(),
            roles: principal.roles.clone(),
            tenant: principal.tenant.clone(),
            claims: principal.claims.clone(),
        }),
        ..request
    }
}
