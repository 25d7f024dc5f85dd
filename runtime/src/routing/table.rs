//! The route table of the whole runtime: every module's routes, checked for
//! clashes once at startup, and looked up for every request.

use std::fmt;

use super::pattern::RoutePattern;

/// First path segments the runtime keeps for its own endpoints.
const RESERVED_FIRST_SEGMENTS: [&str; 3] = ["health", "modules", "metrics"];

/// Whether `pattern` claims a path the runtime answers itself (`/health`,
/// `/modules/...`, `/metrics`).
pub fn is_reserved_path(pattern: &RoutePattern) -> bool {
    pattern
        .first_literal()
        .is_some_and(|first| RESERVED_FIRST_SEGMENTS.contains(&first))
}

/// One route as a module declared it.
#[derive(Debug, Clone)]
pub struct DeclaredRoute {
    /// The module that serves it.
    pub module: String,
    /// The method in upper case, or `*`.
    pub method: String,
    /// The path pattern.
    pub pattern: RoutePattern,
    /// `Some(roles)` when a request needs a valid bearer token with these
    /// roles (none: any valid token).
    pub auth: Option<Vec<String>>,
}

/// Why a set of routes cannot be served together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTableError {
    /// Two routes match exactly the same requests.
    Conflict {
        /// The route as the first module declared it, with its method.
        first: String,
        /// The module that declared it first.
        first_module: String,
        /// The same route as the second module declared it.
        second: String,
        /// The module that declared it second.
        second_module: String,
    },
    /// A module claims a path the runtime answers itself.
    Reserved {
        /// The module at fault.
        module: String,
        /// The route, with its method.
        route: String,
    },
}

impl fmt::Display for RouteTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conflict {
                first,
                first_module,
                second,
                second_module,
            } if first_module == second_module => write!(
                f,
                "module {first_module} declares the same route twice: {first} and {second}; remove one"
            ),
            Self::Conflict {
                first,
                first_module,
                second,
                second_module,
            } => write!(
                f,
                "route conflict: module {first_module} declares {first} and module {second_module} declares {second}, which match the same requests; change the path of one of them"
            ),
            Self::Reserved { module, route } => write!(
                f,
                "module {module} declares {route}, but /health, /modules/... and /metrics are reserved for the runtime; move the route under another path"
            ),
        }
    }
}

impl std::error::Error for RouteTableError {}

/// A request matched to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// The module that serves it.
    pub module: &'a str,
    /// The pattern as the module declared it.
    pub route: &'a str,
    /// The captured `:params` (and `...`), percent-decoded.
    pub params: Vec<(String, String)>,
    /// The roles a token must hold, when the route needs one.
    pub auth: Option<&'a [String]>,
}

/// What the table says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The route to call.
    Found(RouteMatch<'a>),
    /// Some route matches the path, but none for this method; the methods
    /// that would be served, sorted, for the `Allow` header.
    MethodNotAllowed(Vec<String>),
    /// No route matches the path.
    NotFound,
}

/// Every module's routes.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    entries: Vec<DeclaredRoute>,
}

impl RouteTable {
    /// Builds the table from the modules' routes, refusing routes that
    /// clash with another route or with a reserved path.
    pub fn build(routes: impl IntoIterator<Item = DeclaredRoute>) -> Result<Self, RouteTableError> {
        let mut entries: Vec<DeclaredRoute> = Vec::new();
        for entry in routes {
            if is_reserved_path(&entry.pattern) {
                let route = describe(&entry);
                return Err(RouteTableError::Reserved {
                    module: entry.module,
                    route,
                });
            }
            if let Some(earlier) = entries.iter().find(|e| clashes(e, &entry)) {
                return Err(RouteTableError::Conflict {
                    first: describe(earlier),
                    first_module: earlier.module.clone(),
                    second: describe(&entry),
                    second_module: entry.module,
                });
            }
            entries.push(entry);
        }
        // Most specific first, so the first route that matches wins.
        entries.sort_by_key(|e| std::cmp::Reverse(e.pattern.specificity()));
        Ok(Self { entries })
    }

    /// Finds the route for `method` on `path` (as sent, percent-encoded).
    ///
    /// Among the routes whose pattern matches the path, the most specific one
    /// that accepts the method wins; a path that matches only under other
    /// methods is a 405, with those methods.
    pub fn lookup(&self, method: &str, path: &str) -> Lookup<'_> {
        let segments = split_path(path);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let mut allowed: Vec<String> = Vec::new();
        for entry in &self.entries {
            let Some(params) = entry.pattern.matches(&segments) else {
                continue;
            };
            if entry.method == method || entry.method == "*" {
                return Lookup::Found(RouteMatch {
                    module: &entry.module,
                    route: entry.pattern.as_str(),
                    params,
                    auth: entry.auth.as_deref(),
                });
            }
            allowed.push(entry.method.clone());
        }
        if allowed.is_empty() {
            Lookup::NotFound
        } else {
            allowed.sort();
            allowed.dedup();
            Lookup::MethodNotAllowed(allowed)
        }
    }
}

fn clashes(a: &DeclaredRoute, b: &DeclaredRoute) -> bool {
    let methods_overlap = a.method == b.method || a.method == "*" || b.method == "*";
    methods_overlap && a.pattern.shape() == b.pattern.shape()
}

fn describe(entry: &DeclaredRoute) -> String {
    format!("{} {}", entry.method, entry.pattern)
}

/// Splits a request path into percent-decoded segments; `/` is no segment.
fn split_path(path: &str) -> Vec<String> {
    let Some(rest) = path.strip_prefix('/').filter(|rest| !rest.is_empty()) else {
        return Vec::new();
    };
    rest.split('/')
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, &str, &str)]) -> Result<RouteTable, RouteTableError> {
        RouteTable::build(routes.iter().map(|(module, method, path)| DeclaredRoute {
            module: module.to_string(),
            method: method.to_string(),
            pattern: RoutePattern::parse(path).unwrap(),
            auth: None,
        }))
    }

    fn found<'a>(lookup: Lookup<'a>) -> RouteMatch<'a> {
        match lookup {
            Lookup::Found(m) => m,
            other => panic!("expected a match, got {other:?}"),
        }
    }

    #[test]
    fn the_most_specific_route_wins_whatever_the_declaration_order() {
        let t = table(&[
            ("files", "GET", "/f/..."),
            ("param", "GET", "/f/:id"),
            ("literal", "GET", "/f/readme"),
        ])
        .unwrap();
        assert_eq!(found(t.lookup("GET", "/f/readme")).module, "literal");
        assert_eq!(found(t.lookup("GET", "/f/other")).module, "param");
        let deep = found(t.lookup("GET", "/f/a/b"));
        assert_eq!(deep.module, "files");
        assert_eq!(deep.params, vec![("...".to_string(), "a/b".to_string())]);
    }

    #[test]
    fn params_are_percent_decoded() {
        let t = table(&[("m", "GET", "/u/:name")]).unwrap();
        let m = found(t.lookup("GET", "/u/J%C3%BCrgen%20K"));
        assert_eq!(m.params, vec![("name".to_string(), "Jürgen K".to_string())]);
    }

    #[test]
    fn another_method_on_a_known_path_lists_the_allowed_methods() {
        let t = table(&[("m", "GET", "/a"), ("m", "POST", "/a"), ("n", "PUT", "/:x")]).unwrap();
        assert_eq!(
            t.lookup("DELETE", "/a"),
            Lookup::MethodNotAllowed(vec!["GET".into(), "POST".into(), "PUT".into()])
        );
        assert_eq!(found(t.lookup("PUT", "/a")).module, "n");
        assert_eq!(t.lookup("GET", "/nowhere/else"), Lookup::NotFound);
    }

    #[test]
    fn a_wildcard_method_serves_every_method() {
        let t = table(&[("m", "*", "/any")]).unwrap();
        assert_eq!(found(t.lookup("PATCH", "/any")).route, "/any");
    }

    #[test]
    fn two_modules_on_the_same_route_shape_is_a_conflict_naming_both() {
        let err = table(&[("users", "GET", "/u/:id"), ("wallet", "GET", "/u/:user")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("users") && msg.contains("wallet"), "{msg}");
        assert!(
            msg.contains("GET /u/:id") && msg.contains("GET /u/:user"),
            "{msg}"
        );
        // A wildcard method clashes with every method; other methods do not.
        assert!(table(&[("a", "*", "/x"), ("b", "POST", "/x")]).is_err());
        assert!(table(&[("a", "GET", "/x"), ("b", "POST", "/x")]).is_ok());
    }

    #[test]
    fn reserved_paths_are_refused_naming_the_module() {
        for path in ["/health", "/modules/mine", "/metrics/...", "/modules"] {
            let err = table(&[("sneaky", "GET", path)]).unwrap_err();
            assert!(matches!(err, RouteTableError::Reserved { .. }), "{path}");
            assert!(err.to_string().contains("sneaky"));
        }
        assert!(table(&[("fine", "GET", "/healthy")]).is_ok());
    }
}
