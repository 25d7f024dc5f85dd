//! The order in which modules are initialised: every module after the
//! modules it declared as dependencies. A cycle has no such order and stops
//! the runtime with the cycle printed.

use std::collections::BTreeMap;
use std::fmt;

/// A dependency cycle, as the modules along it, first repeated at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyCycle(pub Vec<String>);

impl fmt::Display for DependencyCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dependency cycle: {}; remove one of these dependencies",
            self.0.join(" -> ")
        )
    }
}

impl std::error::Error for DependencyCycle {}

/// Orders `modules` (each with its declared dependencies) so that every
/// module comes after its dependencies. Dependencies that are not in the map
/// are left out of the order; the loader reports them as missing.
///
/// The order is deterministic: among modules free to go next, names sort.
pub fn init_order(modules: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>, DependencyCycle> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unvisited,
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = modules
        .keys()
        .map(|name| (name.as_str(), Mark::Unvisited))
        .collect();
    let mut order = Vec::with_capacity(modules.len());
    let mut path: Vec<&str> = Vec::new();

    // Depth-first, with an explicit stack of (module, next dependency index)
    // so that a long chain of modules cannot overflow the host's stack.
    for root in modules.keys() {
        if marks[root.as_str()] != Mark::Unvisited {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
        marks.insert(root, Mark::OnPath);
        path.push(root);
        while let Some((module, next)) = stack.last_mut() {
            let dependencies = &modules[*module];
            if let Some(dependency) = dependencies.get(*next) {
                *next += 1;
                match marks.get(dependency.as_str()).copied() {
                    None | Some(Mark::Done) => {}
                    Some(Mark::OnPath) => {
                        let start = path.iter().position(|m| m == dependency).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            path[start..].iter().map(|m| m.to_string()).collect();
                        cycle.push(dependency.clone());
                        return Err(DependencyCycle(cycle));
                    }
                    Some(Mark::Unvisited) => {
                        marks.insert(dependency, Mark::OnPath);
                        path.push(dependency);
                        stack.push((dependency.as_str(), 0));
                    }
                }
            } else {
                let done = *module;
                marks.insert(done, Mark::Done);
                order.push(done.to_string());
                path.pop();
                stack.pop();
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(m, deps)| (m.to_string(), deps.iter().map(|d| d.to_string()).collect()))
            .collect()
    }

    #[test]
    fn dependencies_come_first() {
        let order = init_order(&graph(&[
            ("a_wallet", &["users", "ledger"]),
            ("ledger", &["users"]),
            ("users", &[]),
            ("z_alone", &[]),
        ]))
        .unwrap();
        assert_eq!(order, ["users", "ledger", "a_wallet", "z_alone"]);
    }

    #[test]
    fn missing_dependencies_are_left_to_the_loader() {
        let order = init_order(&graph(&[("wallet", &["nobody"])])).unwrap();
        assert_eq!(order, ["wallet"]);
    }

    #[test]
    fn a_cycle_is_printed_from_where_it_starts() {
        let err = init_order(&graph(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a"]),
            ("d", &[]),
        ]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "dependency cycle: a -> b -> c -> a; remove one of these dependencies"
        );
        let own = init_order(&graph(&[("self_ref", &["self_ref"])])).unwrap_err();
        assert_eq!(own.0, ["self_ref", "self_ref"]);
    }

    #[test]
    fn a_long_chain_does_not_recurse() {
        let names: Vec<String> = (0..10_000).map(|i| format!("m{i:05}")).collect();
        let modules: BTreeMap<String, Vec<String>> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    name.clone(),
                    names.get(i + 1).cloned().into_iter().collect(),
                )
            })
            .collect();
        let order = init_order(&modules).unwrap();
        // Each depends on the next: the last first, and so on back.
        let expected: Vec<String> = names.into_iter().rev().collect();
        assert_eq!(order, expected);
    }
}
