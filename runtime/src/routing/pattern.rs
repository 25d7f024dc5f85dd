//! One route pattern: literal segments, `:name` segments and a trailing `...`.

use std::fmt;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// Matches any one non-empty segment and captures it by name.
    Param(String),
    /// Matches the rest of the path (zero or more segments), captured as `...`.
    Tail,
}

/// A parsed route pattern such as `/users/:id` or `/files/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    source: String,
    segments: Vec<Segment>,
}

impl RoutePattern {
    /// Parses a pattern; the error says what is wrong with it.
    ///
    /// A pattern starts with `/`; `/` alone is the root. Segments are not
    /// empty; a `:name` has a name made of `[A-Za-z0-9_]`, used once; `...`
    /// may only be the last segment.
    pub fn parse(source: &str) -> Result<Self, String> {
        let Some(rest) = source.strip_prefix('/') else {
            return Err(format!("route {source:?} must start with '/'"));
        };
        let mut segments = Vec::new();
        if !rest.is_empty() {
            let parts: Vec<&str> = rest.split('/').collect();
            for (index, part) in parts.iter().enumerate() {
                segments.push(parse_segment(source, part, index + 1 == parts.len())?);
            }
        }
        let mut names: Vec<&str> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(name) => Some(name.as_str()),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "route {source:?} uses the parameter :{} twice",
                twice[0]
            ));
        }
        Ok(Self {
            source: source.to_string(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Its segments, in order.
    pub(super) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The first segment when it is a literal: what reserved paths are
    /// checked against.
    pub fn first_literal(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Literal(text)) => Some(text),
            _ => None,
        }
    }

    /// Matches `path` (already split into its segments); on a match returns
    /// the captured parameters in pattern order.
    pub fn matches(&self, path: &[&str]) -> Option<Vec<(String, String)>> {
        let mut params = Vec::new();
        for (index, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Tail => {
                    params.push(("...".to_string(), path.get(index..)?.join("/")));
                    return Some(params);
                }
                Segment::Literal(text) => {
                    if path.get(index) != Some(&text.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let value = path.get(index).filter(|v| !v.is_empty())?;
                    params.push((name.clone(), value.to_string()));
                }
            }
        }
        (path.len() == self.segments.len()).then_some(params)
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn parse_segment(source: &str, part: &str, last: bool) -> Result<Segment, String> {
    if part.is_empty() {
        return Err(format!(
            "route {source:?} has an empty segment ('//' or a trailing '/')"
        ));
    }
    if part == "..." {
        return if last {
            Ok(Segment::Tail)
        } else {
            Err(format!(
                "route {source:?} has '...' before its last segment"
            ))
        };
    }
    if let Some(name) = part.strip_prefix(':') {
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return if valid {
            Ok(Segment::Param(name.to_string()))
        } else {
            Err(format!(
                "route {source:?} has a parameter {part:?}: name it with letters, digits and '_'"
            ))
        };
    }
    if part.contains([':', '?', '#']) {
        return Err(format!(
            "route {source:?} has {part:?}: ':' may only start a segment, and '?' and '#' are not path characters"
        ));
    }
    Ok(Segment::Literal(part.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(path: &str) -> Vec<&str> {
        path.strip_prefix('/')
            .filter(|p| !p.is_empty())
            .map(|p| p.split('/').collect())
            .unwrap_or_default()
    }

    fn captures(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
        RoutePattern::parse(pattern).unwrap().matches(&split(path))
    }

    #[test]
    fn literals_params_and_tails_match() {
        assert_eq!(captures("/a/b", "/a/b"), Some(vec![]));
        assert_eq!(captures("/a/b", "/a/c"), None);
        assert_eq!(captures("/a/b", "/a/b/c"), None);
        assert_eq!(
            captures("/users/:id", "/users/42"),
            Some(vec![("id".into(), "42".into())])
        );
        assert_eq!(captures("/users/:id", "/users"), None);
        assert_eq!(
            captures("/files/...", "/files/x/y"),
            Some(vec![("...".into(), "x/y".into())])
        );
        assert_eq!(
            captures("/files/...", "/files"),
            Some(vec![("...".into(), "".into())])
        );
        assert_eq!(captures("/", "/"), Some(vec![]));
        assert_eq!(captures("/", "/a"), None);
    }

    #[test]
    fn malformed_patterns_say_what_is_wrong() {
        for (pattern, expected) in [
            ("a/b", "must start with '/'"),
            ("/a//b", "empty segment"),
            ("/a/", "empty segment"),
            ("/.../a", "before its last segment"),
            ("/a/:", "parameter"),
            ("/a/:x/:x", "twice"),
            ("/a:b", "':' may only start"),
        ] {
            let err = RoutePattern::parse(pattern).unwrap_err();
            assert!(err.contains(expected), "{pattern}: {err}");
        }
    }
}
