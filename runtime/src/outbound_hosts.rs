//! `outbound_hosts` under `[modules.<name>]`: the origins a module may send
//! HTTP requests to through `wasi:http/outgoing-handler`. None by default.
//! Each entry is a scheme, a host and an optional port
//! (`"https://api.example.com"`, `"http://127.0.0.1:8080"`); a request
//! reaches the network only when its scheme, host and port (the scheme's
//! default when absent) equal one entry's. No wildcards: a module names
//! every origin it talks to, and a redirect to another origin is not
//! followed (the guest sees the 3xx).

use std::fmt;

use http::Uri;
use http::uri::Scheme;
use serde::{Deserialize, Deserializer};

/// The origins one module may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundHosts(Vec<Origin>);

/// One allowed origin: scheme, lower-case host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

impl OutboundHosts {
    /// Whether none is allowed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a request to `uri` may leave the host.
    pub fn allows(&self, uri: &Uri) -> bool {
        let https = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTPS => true,
            Some(scheme) if *scheme == Scheme::HTTP => false,
            _ => return false,
        };
        let Some(authority) = uri.authority() else {
            return false;
        };
        let port = authority.port_u16().unwrap_or(default_port(https));
        self.0.iter().any(|origin| {
            origin.https == https
                && origin.port == port
                && origin.host.eq_ignore_ascii_case(authority.host())
        })
    }
}

fn default_port(https: bool) -> u16 {
    if https { 443 } else { 80 }
}

impl Origin {
    /// Reads one entry; the error says what a good one looks like.
    fn parse(entry: &str) -> Result<Self, String> {
        let hint = "write it as \"https://host\" or \"http://host:port\"";
        if entry.contains(['@', '*']) {
            return Err(format!(
                "\"{entry}\" may hold neither credentials nor wildcards: name each host"
            ));
        }
        let uri: Uri = entry
            .parse()
            .map_err(|_| format!("\"{entry}\" is not an origin: {hint}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("\"{entry}\" has no http or https scheme: {hint}")),
        };
        let has_path = uri.path_and_query().is_some_and(|p| p.as_str() != "/");
        let authority = uri.authority().filter(|_| !has_path).ok_or_else(|| {
            format!("\"{entry}\" must be only a scheme, a host and a port, with no path: {hint}")
        })?;
        Ok(Self {
            https,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(default_port(https)),
        })
    }
}

impl fmt::Display for OutboundHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origins: Vec<String> = self
            .0
            .iter()
            .map(|o| {
                let scheme = if o.https { "https" } else { "http" };
                format!("{scheme}://{}:{}", o.host, o.port)
            })
            .collect();
        write!(f, "{}", origins.join(", "))
    }
}

impl<'de> Deserialize<'de> for OutboundHosts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        entries
            .iter()
            .map(|entry| Origin::parse(entry))
            .collect::<Result<Vec<_>, _>>()
            .map(OutboundHosts)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> OutboundHosts {
        OutboundHosts(entries.iter().map(|e| Origin::parse(e).unwrap()).collect())
    }

    fn allows(hosts: &OutboundHosts, uri: &str) -> bool {
        hosts.allows(&uri.parse().unwrap())
    }

    #[test]
    fn only_the_same_scheme_host_and_port_are_allowed() {
        let granted = hosts(&["https://API.example.com", "http://127.0.0.1:8080"]);
        assert!(allows(&granted, "https://api.example.com/v1?x=1"));
        assert!(allows(&granted, "https://api.example.com:443/"));
        assert!(allows(&granted, "http://127.0.0.1:8080/path"));
        assert!(!allows(&granted, "http://api.example.com/"), "scheme");
        assert!(!allows(&granted, "https://api.example.com:8443/"), "port");
        assert!(!allows(&granted, "http://127.0.0.1/"), "default port");
        assert!(!allows(&granted, "https://evil.example.com/"), "host");
        assert!(
            !allows(&granted, "https://api.example.com.evil.net/"),
            "suffix"
        );
        assert!(!allows(&OutboundHosts::default(), "https://example.com/"));
    }

    #[test]
    fn entries_that_are_not_plain_origins_are_refused_with_the_fix() {
        for (entry, says) in [
            ("api.example.com", "scheme"),
            ("ftp://example.com", "scheme"),
            ("https://example.com/api", "no path"),
            ("https://*.example.com", "wildcards"),
            ("https://user:pw@example.com", "credentials"),
        ] {
            let err = Origin::parse(entry).unwrap_err();
            assert!(err.contains(says), "{entry}: {err}");
        }
    }
}
