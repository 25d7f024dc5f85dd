//! The response a handler returns.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::modhost::module::types::Response as WitResponse;
use crate::error::{Error, Result};

/// An HTTP response: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with `status` and no body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// 200 with `value` as a JSON body.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self> {
        Self::json_with_status(200, value)
    }

    /// `status` with `value` as a JSON body.
    pub fn json_with_status<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Self> {
        let body = serde_json::to_vec(value)?;
        Ok(Self::empty(status)
            .with_header("content-type", "application/json")
            .with_body(body))
    }

    /// 200 with a plain-text body.
    pub fn text(body: impl Into<String>) -> Self {
        Self::empty(200)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// The same response with another status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same response with `body` as its body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, in the order they were added.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON into `T`; a body that does not parse is a
    /// 502, since it came from another module.
    pub fn json_body<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|err| Error::new(502, format!("invalid JSON from a module: {err}")))
    }

    pub(crate) fn from_wit(response: WitResponse) -> Self {
        Self {
            status: response.status,
            headers: response.headers,
            body: response.body,
        }
    }

    pub(crate) fn into_wit(self) -> WitResponse {
        WitResponse {
            status: self.status,
            headers: self.headers,
            body: self.body,
        }
    }
}
