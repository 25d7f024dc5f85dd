//! Why a request was not let through to a module that requires auth, and
//! the answer it gets: 401 with `WWW-Authenticate: Bearer` (RFC 6750) and a
//! JSON error naming the reason, or 403 for a valid token without a role.

use hyper::header::{HeaderValue, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};

use crate::http_response::{Body, error_response};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a token this host can read, with what is wrong.
    Malformed(String),
    /// Past its `exp`.
    Expired,
    /// Before its `nbf`.
    NotYetValid,
    /// Its signature does not match its key.
    BadSignature,
    /// Its `kid` names no configured key.
    UnknownKey,
    /// Its algorithm is not its key's.
    WrongAlgorithm,
    /// Its `iss` is not the configured issuer.
    WrongIssuer,
    /// Its `aud` is not the configured audience.
    WrongAudience,
    /// Valid, but without this role.
    MissingRole(String),
    /// Valid, but for another tenant than the route's.
    WrongTenant,
    /// The route needs a token and the host has no `[auth]` to check it.
    NotConfigured,
}

impl Rejection {
    /// What a client is told.
    pub fn reason(&self) -> String {
        match self {
            Rejection::Missing => "no bearer token: send Authorization: Bearer <token>".into(),
            Rejection::Malformed(why) => format!("the token is malformed: {why}"),
            Rejection::Expired => "the token has expired".into(),
            Rejection::NotYetValid => "the token is not valid yet (nbf)".into(),
            Rejection::BadSignature => "the token's signature is wrong".into(),
            Rejection::UnknownKey => "the token's key id (kid) is not known".into(),
            Rejection::WrongAlgorithm => "the token's algorithm is not its key's".into(),
            Rejection::WrongIssuer => "the token's issuer (iss) is not accepted".into(),
            Rejection::WrongAudience => "the token's audience (aud) is not this host".into(),
            Rejection::MissingRole(role) => format!("the token lacks the role {role}"),
            Rejection::WrongTenant => "the token is for another tenant".into(),
            Rejection::NotConfigured => {
                "this route needs a token, and the host has no [auth] to check one".into()
            }
        }
    }

    /// The HTTP answer.
    pub fn response(&self, request_id: &str) -> Response<Body> {
        match self {
            Rejection::MissingRole(_) | Rejection::WrongTenant => {
                return error_response(StatusCode::FORBIDDEN, &self.reason(), request_id);
            }
            Rejection::NotConfigured => {
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                return error_response(status, &self.reason(), request_id);
            }
            _ => {}
        }
        let mut response = error_response(StatusCode::UNAUTHORIZED, &self.reason(), request_id);
        let challenge = match self {
            Rejection::Missing => "Bearer".to_string(),
            _ => format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                self.reason().replace('"', "'")
            ),
        };
        let value = HeaderValue::from_str(&challenge)
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"invalid_token\""));
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
        response
    }
}
