//! Responses the runtime writes itself: JSON bodies, and every error as
//! `{"error": <message>, "request_id": <id>}`.

use std::borrow::Borrow;

use http_body_util::{Either, Full};
use hyper::body::Bytes;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The body type of every response the server sends: whole, or streamed
/// from a `wasi:http` component.
pub type Body = Either<Full<Bytes>, HyperOutgoingBody>;

/// A whole body of `bytes`.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    Either::Left(Full::new(bytes.into()))
}

/// `status` with `value` as its JSON body.
pub fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(full_body(value.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A 405 for `method` on `path`, with the methods that are served there in
/// the message and in the `Allow` header.
pub fn method_not_allowed<S: Borrow<str>>(
    method: &str,
    path: &str,
    allowed: &[S],
    request_id: &str,
) -> Response<Body> {
    let allowed = allowed.join(", ");
    let message = format!("{method} is not allowed on {path}; allowed: {allowed}");
    let mut response = error_response(StatusCode::METHOD_NOT_ALLOWED, &message, request_id);
    if let Ok(value) = HeaderValue::from_str(&allowed) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}

/// An error response: `status` and a JSON body with the message and the
/// request id, so a client's report can be found in the logs.
pub fn error_response(status: StatusCode, message: &str, request_id: &str) -> Response<Body> {
    json_response(
        status,
        &json!({ "error": message, "request_id": request_id }),
    )
}
