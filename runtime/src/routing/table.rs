//! The route table of the whole runtime: every module's routes, checked for
//! clashes once at startup, and looked up for every request.

use std::fmt;

use super::pattern::RoutePattern;
use super::trie::Trie;

/// First path segments the runtime keeps for its own endpoints.
const RESERVED_FIRST_SEGMENTS: [&str; 5] = ["health", "modules", "metrics", "livez", "readyz"];

/// Whether `pattern` claims a path the runtime answers itself (`/health`,
/// `/modules/...`, `/metrics`, the probes `/livez` and `/readyz`).
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
                "module {module} declares {route}, but /health, /modules/..., /metrics, /livez and /readyz are reserved for the runtime; move the route under another path"
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

/// Every module's routes, in a trie by shape.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<DeclaredRoute>,
    trie: Trie,
}

impl RouteTable {
    /// Builds the table from the modules' routes, refusing routes that
    /// clash with another route or with a reserved path.
    pub fn build(
        declared: impl IntoIterator<Item = DeclaredRoute>,
    ) -> Result<Self, RouteTableError> {
        let mut routes: Vec<DeclaredRoute> = Vec::new();
        let mut trie = Trie::default();
        for entry in declared {
            if is_reserved_path(&entry.pattern) {
                let route = describe(&entry);
                return Err(RouteTableError::Reserved {
                    module: entry.module,
                    route,
                });
            }
            // Routes of one shape match exactly the same paths; they
            // clash when their methods overlap.
            let slot = trie.slot_mut(&entry.pattern);
            let earlier = slot
                .iter()
                .map(|&index| &routes[index])
                .find(|earlier| methods_overlap(&earlier.method, &entry.method));
            if let Some(earlier) = earlier {
                return Err(RouteTableError::Conflict {
                    first: describe(earlier),
                    first_module: earlier.module.clone(),
                    second: describe(&entry),
                    second_module: entry.module,
                });
            }
            slot.push(routes.len());
            routes.push(entry);
        }
        Ok(Self { routes, trie })
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
        let found = self.trie.find(&segments, &mut |slot| {
            let routes = slot.iter().map(|&index| &self.routes[index]);
            let found = routes
                .clone()
                .find(|route| route.method == method || route.method == "*");
            if found.is_none() {
                allowed.extend(routes.map(|route| route.method.clone()));
            }
            found
        });
        match found {
            Some(route) => Lookup::Found(RouteMatch {
                module: &route.module,
                route: route.pattern.as_str(),
                params: route
                    .pattern
                    .matches(&segments)
                    .expect("the trie found the route by this path"),
                auth: route.auth.as_deref(),
            }),
            None if allowed.is_empty() => Lookup::NotFound,
            None => {
                allowed.sort();
                allowed.dedup();
                Lookup::MethodNotAllowed(allowed)
            }
        }
    }
}

fn methods_overlap(a: &str, b: &str) -> bool {
    a == b || a == "*" || b == "*"
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
    fn a_path_that_ends_where_a_pattern_ends_beats_a_tail_that_matches_nothing() {
        let t = table(&[("tail", "GET", "/a/b/..."), ("exact", "GET", "/a/b")]).unwrap();
        assert_eq!(found(t.lookup("GET", "/a/b")).module, "exact");
        assert_eq!(found(t.lookup("GET", "/a/b/c")).module, "tail");
        // An empty segment is no parameter, but a tail takes it.
        let t = table(&[("param", "GET", "/a/:x"), ("tail", "GET", "/a/...")]).unwrap();
        assert_eq!(found(t.lookup("GET", "/a/")).module, "tail");
    }

    #[test]
    fn a_less_specific_route_serves_a_method_the_more_specific_one_does_not() {
        let t = table(&[("post", "POST", "/f/readme"), ("get", "GET", "/f/:id")]).unwrap();
        assert_eq!(found(t.lookup("GET", "/f/readme")).module, "get");
        assert_eq!(
            t.lookup("PUT", "/f/readme"),
            Lookup::MethodNotAllowed(vec!["GET".into(), "POST".into()])
        );
    }

    /// 1,000 modules of four routes each, as a host of many modules has:
    /// every route is found, with its own module and parameters, and the
    /// semantics hold at that size.
    #[test]
    fn four_thousand_routes_each_reach_their_own_module() {
        const MODULES: usize = 1000;
        let mut routes = Vec::new();
        for n in 0..MODULES {
            let module = format!("module_{n}");
            for (method, path) in [
                ("GET", format!("/m{n}/info")),
                ("GET", format!("/m{n}/data")),
                ("POST", format!("/m{n}/data")),
                ("GET", format!("/m{n}/data/:id")),
            ] {
                routes.push((module.clone(), method.to_string(), path));
            }
        }
        routes.push(("fallback".into(), "GET".into(), "/:anything/...".into()));
        let t = RouteTable::build(routes.iter().map(|(module, method, path)| DeclaredRoute {
            module: module.clone(),
            method: method.clone(),
            pattern: RoutePattern::parse(path).unwrap(),
            auth: None,
        }))
        .unwrap();
        assert_eq!(routes.len(), 4 * MODULES + 1);
        for n in [0, 1, MODULES / 2, MODULES - 1] {
            let module = format!("module_{n}");
            assert_eq!(
                found(t.lookup("GET", &format!("/m{n}/info"))).module,
                module
            );
            assert_eq!(
                found(t.lookup("POST", &format!("/m{n}/data"))).module,
                module
            );
            let one = found(t.lookup("GET", &format!("/m{n}/data/r{n}")));
            assert_eq!(one.module, module);
            assert_eq!(one.params, vec![("id".to_string(), format!("r{n}"))]);
            assert_eq!(
                t.lookup("DELETE", &format!("/m{n}/data")),
                Lookup::MethodNotAllowed(vec!["GET".into(), "POST".into()])
            );
            assert_eq!(
                found(t.lookup("GET", &format!("/m{n}/other"))).module,
                "fallback"
            );
        }
        for n in 0..MODULES {
            let path = format!("/m{n}/data");
            assert_eq!(found(t.lookup("GET", &path)).module, format!("module_{n}"));
        }
        assert_eq!(found(t.lookup("GET", "/m1000/info")).module, "fallback");
        assert_eq!(t.lookup("GET", "/"), Lookup::NotFound);
        assert_eq!(
            t.lookup("POST", "/m7/info"),
            Lookup::MethodNotAllowed(vec!["GET".into()])
        );
        // A clash is still found among them, naming both modules.
        let clash = routes
            .iter()
            .map(|(module, method, path)| (module.as_str(), method.as_str(), path.as_str()))
            .chain([("late", "GET", "/m999/data/:key")])
            .collect::<Vec<_>>();
        let err = table(&clash).unwrap_err().to_string();
        assert!(err.contains("module_999") && err.contains("late"), "{err}");
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
