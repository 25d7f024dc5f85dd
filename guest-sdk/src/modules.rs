//! Calls to the modules this one depends on.
//!
//! Declare a dependency once, as a constant next to `Module::DEPENDENCIES`,
//! and call it like a small HTTP client:
//!
//! ```no_run
//! # use modhost_sdk::{Module, Router};
//! # use modhost_sdk::modules::Dependency;
//! # #[derive(serde::Deserialize)]
//! # struct User { name: String }
//! # struct Wallet;
//! const USERS: Dependency = Dependency::new("user_management");
//!
//! impl Module for Wallet {
//!     const DEPENDENCIES: &'static [&'static str] = &[USERS.name()];
//!     // ...
//! #   const NAME: &'static str = "wallet";
//! #   const VERSION: &'static str = "0.1.0";
//! #   fn routes() -> Router { Router::new() }
//! }
//!
//! # fn handler(id: &str) -> modhost_sdk::Result<()> {
//! let user: User = USERS.get(&modhost_sdk::path!("/users/{}", id))?.json_body()?;
//! # Ok(())
//! # }
//! ```
//!
//! Build call paths with [`path!`](crate::path): it percent-encodes each
//! value as one segment, so an id holding `?`, `/` or `#` stays an id and
//! can never add a query or reach another route.
//!
//! The host refuses calls to modules that were not declared, calls nested
//! deeper than it allows, and paths the callee does not serve, as a
//! [`CallError`] (a 502 when returned from a handler with `?`).

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

pub use crate::bindings::modhost::module::modules::CallError;
use crate::bindings::modhost::module::modules::{CallRequest, call};
use crate::error::{Error, HostError};
use crate::response::Response;

/// What stays as it is in a path segment: RFC 3986's unreserved characters.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A value shown as one percent-encoded path segment; what [`path!`](crate::path)
/// wraps each argument in.
pub struct Segment<T>(pub T);

impl<T: fmt::Display> fmt::Display for Segment<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        write!(f, "{}", utf8_percent_encode(&text, NOT_UNRESERVED))
    }
}

/// A call path made of a template and values, each value percent-encoded
/// as one segment: `path!("/users/{}/posts/{}", user, post)`. Checked at
/// compile time like `format!`, and more: only `{}` placeholders are
/// allowed, since `{id}` would capture `id` unencoded.
#[macro_export]
macro_rules! path {
    ($template:literal $(, $value:expr)* $(,)?) => {{
        const _: () = assert!(
            $crate::modules::only_empty_placeholders($template),
            "path! takes only empty placeholders, each filled by one value; a named one would skip the encoding"
        );
        ::std::format!($template $(, $crate::modules::Segment(&$value))*)
    }};
}

/// Whether a [`path!`](crate::path) template has only `{}` placeholders
/// (and `{{`, `}}` escapes).
#[doc(hidden)]
pub const fn only_empty_placeholders(template: &str) -> bool {
    let bytes = template.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'{' {
            let next = if at + 1 < bytes.len() {
                bytes[at + 1]
            } else {
                0
            };
            if next != b'{' && next != b'}' {
                return false;
            }
            at += 1;
        }
        at += 1;
    }
    true
}

/// A module this one depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependency {
    name: &'static str,
}

impl Dependency {
    /// The dependency on module `name`.
    pub const fn new(name: &'static str) -> Self {
        Self { name }
    }

    /// The module's name, for `Module::DEPENDENCIES`.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Sends a request with any method, headers and body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, CallError> {
        let request = CallRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body,
        };
        call(self.name, &request).map(Response::from_wit)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Response, CallError> {
        self.call("GET", path, &[], Vec::new())
    }

    /// `method path` with `value` as a JSON body.
    pub fn send_json<T: Serialize + ?Sized>(
        &self,
        method: &str,
        path: &str,
        value: &T,
    ) -> Result<Response, Error> {
        let body = serde_json::to_vec(value)?;
        Ok(self.call(method, path, &[("content-type", "application/json")], body)?)
    }
}

/// A refused or failed module call as an HTTP answer: 503 when the callee
/// is busy, 413 for a call too large, 500 when this module is not granted
/// module calls (its deployment is at fault), else 502 (the callee, not
/// this module or its client, is at fault).
impl HostError for CallError {
    fn message(&self) -> &str {
        match self {
            CallError::NotDeclared(why)
            | CallError::Unavailable(why)
            | CallError::NoRoute(why)
            | CallError::DepthExceeded(why)
            | CallError::Failed(why)
            | CallError::Busy(why)
            | CallError::TooLarge(why)
            | CallError::NotGranted(why) => why,
        }
    }

    fn status(&self) -> u16 {
        match self {
            CallError::Busy(_) => 503,
            CallError::TooLarge(_) => 413,
            CallError::NotGranted(_) => 500,
            _ => 502,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_values_are_one_segment_each() {
        assert_eq!(
            crate::path!("/users/{}", "u1?x=1#f/../a b"),
            "/users/u1%3Fx%3D1%23f%2F..%2Fa%20b"
        );
        assert_eq!(crate::path!("/a/{}/{}", 7, "Jürgen"), "/a/7/J%C3%BCrgen");
        assert_eq!(crate::path!("/plain-id_1.~"), "/plain-id_1.~");
    }

    #[test]
    fn named_placeholders_are_refused_at_compile_time() {
        assert!(only_empty_placeholders("/a/{}/b/{}?q={}"));
        assert!(only_empty_placeholders("/literal/{{braces}}"));
        assert!(!only_empty_placeholders("/users/{id}"));
        assert!(!only_empty_placeholders("/users/{0}"));
        assert!(!only_empty_placeholders("/users/{:>4}"));
        assert!(!only_empty_placeholders("/users/{"));
    }

    #[test]
    fn each_call_error_has_its_status_and_message() {
        let why = || "why".to_string();
        let cases = [
            (CallError::Busy(why()), 503),
            (CallError::TooLarge(why()), 413),
            (CallError::Failed(why()), 502),
            (CallError::NoRoute(why()), 502),
            (CallError::NotDeclared(why()), 502),
            (CallError::Unavailable(why()), 502),
            (CallError::DepthExceeded(why()), 502),
            (CallError::NotGranted(why()), 500),
        ];
        crate::error::assert_statuses(cases);
    }
}
