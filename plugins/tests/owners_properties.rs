//! Property tests of OWNERS resolution over generated trees: a file's approvers always include
//! those of its nearest OWNERS (unless a filter there says the file is not theirs), never name
//! anyone no ancestor OWNERS lists, and `no_parent_owners` cuts everything above it; an
//! approval by the nearest approvers always approves a one-file change.

use bosun_plugins::owners::{ApprovalCheck, Logins, OwnersFile, RepoOwners, logins, parse_owners};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The directories a generated repository may have OWNERS in, parents before children.
const DIRS: [&str; 7] = ["", "a", "a/b", "a/b/c", "d", "d/e", "d/e/f"];
const PEOPLE: [&str; 6] = ["ann", "Bob", "@carl", "dee", "eve", "FAY"];

/// One generated OWNERS file: approvers, `no_parent_owners`, and optionally a filter that only
/// gives its approvers to `.go` files.
#[derive(Debug, Clone)]
struct Generated {
    approvers: Vec<&'static str>,
    no_parent: bool,
    go_only: bool,
}

impl Generated {
    fn text(&self) -> String {
        let list = self
            .approvers
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let options = if self.no_parent {
            "options:\n  no_parent_owners: true\n"
        } else {
            ""
        };
        if self.go_only {
            format!("{options}filters:\n  \"\\\\.go$\":\n    approvers: [{list}]\n")
        } else {
            format!("{options}approvers: [{list}]\n")
        }
    }

    /// The approvers this file gives `path` (normalized), by its filter.
    fn gives(&self, path: &str) -> Logins {
        if self.go_only && !path.ends_with(".go") {
            return Logins::new();
        }
        logins(self.approvers.iter().copied())
    }
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        prop::sample::subsequence(PEOPLE.to_vec(), 0..4),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.25),
    )
        .prop_map(|(approvers, no_parent, go_only)| Generated {
            approvers,
            no_parent,
            go_only,
        })
}

fn tree() -> impl Strategy<Value = BTreeMap<&'static str, Generated>> {
    prop::collection::vec(prop::option::weighted(0.6, generated()), DIRS.len()).prop_map(|v| {
        DIRS.iter()
            .zip(v)
            .filter_map(|(d, g)| g.map(|g| (*d, g)))
            .collect()
    })
}

fn file() -> impl Strategy<Value = String> {
    (prop::sample::select(DIRS.to_vec()), prop::bool::ANY).prop_map(|(dir, go)| {
        let name = if go { "x.go" } else { "README.md" };
        if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }
    })
}

/// The directories from `path`'s own up to the root, closest first.
fn ancestry(path: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = DIRS
        .iter()
        .copied()
        .filter(|d| d.is_empty() || path.starts_with(&format!("{d}/")))
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse(d.len()));
    out
}

fn repo(tree: &BTreeMap<&'static str, Generated>) -> RepoOwners {
    let parsed: Vec<(String, OwnersFile)> = tree
        .iter()
        .map(|(d, g)| {
            (
                d.to_string(),
                parse_owners(&g.text()).expect("generated OWNERS parse"),
            )
        })
        .collect();
    RepoOwners::new(None, parsed.iter().map(|(k, f)| (k.clone(), f)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn nearest_owners_approvers_are_always_included(tree in tree(), path in file()) {
        let owners = repo(&tree);
        let approvers = owners.approvers(&path);
        // The nearest OWNERS that gives this file anyone.
        let nearest = ancestry(&path)
            .into_iter()
            .filter_map(|d| tree.get(d).map(|g| g.gives(&path)))
            .find(|s| !s.is_empty());
        if let Some(nearest) = nearest {
            prop_assert!(nearest.is_subset(&approvers), "{nearest:?} not in {approvers:?}");
            prop_assert_eq!(owners.leaf_approvers(&path), nearest);
        } else {
            prop_assert!(approvers.is_empty());
        }
    }

    #[test]
    fn approvers_come_only_from_ancestors_up_to_no_parent_owners(tree in tree(), path in file()) {
        let owners = repo(&tree);
        let mut allowed = Logins::new();
        let mut found = false;
        for d in ancestry(&path) {
            if let Some(g) = tree.get(d) {
                let given = g.gives(&path);
                found |= !given.is_empty();
                allowed.extend(given);
                // Inheritance stops here once something was found (prow.md §4.4).
                if g.no_parent && found {
                    break;
                }
            }
        }
        prop_assert_eq!(owners.approvers(&path), allowed);
    }

    #[test]
    fn the_nearest_approvers_approve_a_one_file_change(tree in tree(), path in file()) {
        let owners = repo(&tree);
        let leaf = owners.leaf_approvers(&path);
        let check = ApprovalCheck::new(&owners, std::slice::from_ref(&path));
        if !leaf.is_empty() {
            prop_assert!(check.files_approved(&leaf));
        }
        // Nobody approves nothing.
        prop_assert!(!check.files_approved(&Logins::new()) || check.owners_set().is_empty());
    }
}
