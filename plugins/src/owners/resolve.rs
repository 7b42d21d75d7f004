//! Per-file resolution over a set of parsed OWNERS files (reference/prow.md §4.2, §4.4).

use super::parse::{AliasesFile, OwnersFile, OwnersOptions, OwnersProblem};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A set of normalized logins.
pub type Logins = BTreeSet<String>;

/// Prow's `NormLogin`: lower case, no leading `@`.
pub fn normalize_login(login: &str) -> String {
    login.trim().trim_start_matches('@').to_lowercase()
}

/// One section of an OWNERS file with aliases expanded and logins normalized.
#[derive(Debug, Clone)]
struct Rule {
    filter: Option<Regex>,
    approvers: Logins,
    reviewers: Logins,
    required_reviewers: Logins,
    labels: BTreeSet<String>,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    options: OwnersOptions,
    rules: Vec<Rule>,
}

/// `OWNERS_ALIASES` with names and members normalized, ready for expansion.
#[derive(Debug, Clone, Default)]
pub struct Aliases(BTreeMap<String, Logins>);

impl Aliases {
    /// Normalizes a parsed aliases file (none: no aliases).
    pub fn new(file: Option<&AliasesFile>) -> Aliases {
        Aliases(
            file.map(|a| {
                a.aliases
                    .iter()
                    .map(|(k, v)| {
                        (
                            normalize_login(k),
                            v.iter()
                                .map(|m| normalize_login(m))
                                .filter(|m| !m.is_empty())
                                .collect(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        )
    }
}

/// One OWNERS file with aliases expanded and filters compiled. Cheap to clone, so a loader
/// compiles each file once per base SHA and every view for a change shares it.
#[derive(Debug, Clone)]
pub struct CompiledOwners(Arc<Entry>);

impl CompiledOwners {
    /// Compiles `file` against `aliases`; invalid filter regexes are dropped (Prow skips them).
    pub fn new(aliases: &Aliases, file: &OwnersFile) -> CompiledOwners {
        let rules = file
            .rules
            .iter()
            .filter_map(|(pattern, rule)| {
                let filter = match pattern {
                    None => None,
                    Some(p) => Some(Regex::new(p).ok()?),
                };
                Some(Rule {
                    filter,
                    approvers: expand(&rule.approvers, &aliases.0),
                    reviewers: expand(&rule.reviewers, &aliases.0),
                    required_reviewers: expand(&rule.required_reviewers, &aliases.0),
                    labels: rule.labels.iter().cloned().collect(),
                })
            })
            .collect();
        CompiledOwners(Arc::new(Entry {
            options: file.options.clone(),
            rules,
        }))
    }
}

/// Which people an OWNERS walk collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Approvers,
    Reviewers,
    RequiredReviewers,
}

impl Rule {
    fn people(&self, role: Role) -> &Logins {
        match role {
            Role::Approvers => &self.approvers,
            Role::Reviewers => &self.reviewers,
            Role::RequiredReviewers => &self.required_reviewers,
        }
    }
}

/// The OWNERS files of one repository at one commit (or the part of them a PR needs), ready to
/// answer "who owns this path". Keys are directories relative to the root (`""` for the root)
/// or, for Markdown front matter, the file's own path.
#[derive(Debug, Clone, Default)]
pub struct RepoOwners {
    /// A hash map: resolving a large change is mostly lookups here.
    entries: HashMap<String, Arc<Entry>>,
    /// Files that could not be used, and why.
    pub problems: Vec<OwnersProblem>,
}

/// The directory part of a repository path, `""` at the root (Go's `filepath.Dir`, with `.`
/// spelled as `""`).
pub fn parent_dir(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// The OWNERS key of an OWNERS file path: its directory.
pub fn owners_key(owners_path: &str) -> &str {
    parent_dir(owners_path)
}

/// `path` relative to `dir`, as filters are matched (Go's `filepath.Rel`).
fn relative<'a>(dir: &str, path: &'a str) -> &'a str {
    if dir.is_empty() {
        path
    } else if dir == path {
        "."
    } else {
        path.get(dir.len() + 1..).unwrap_or(path)
    }
}

/// Replaces alias names by their members (one level, not recursive) and normalizes logins.
fn expand(names: &[String], aliases: &BTreeMap<String, Logins>) -> Logins {
    let mut out = Logins::new();
    for name in names {
        let norm = normalize_login(name);
        if norm.is_empty() {
            continue;
        }
        match aliases.get(&norm) {
            Some(members) => out.extend(members.iter().cloned()),
            None => {
                out.insert(norm);
            }
        }
    }
    out
}

impl RepoOwners {
    /// Combines parsed files: `files` maps an OWNERS key (see [`owners_key`]) to its file.
    pub fn new<'a>(
        aliases: Option<&AliasesFile>,
        files: impl IntoIterator<Item = (String, &'a OwnersFile)>,
    ) -> RepoOwners {
        let aliases = Aliases::new(aliases);
        RepoOwners::from_compiled(
            files
                .into_iter()
                .map(|(key, file)| (key, CompiledOwners::new(&aliases, file))),
        )
    }

    /// Combines files compiled earlier (see [`CompiledOwners`]), keyed as in [`RepoOwners::new`].
    pub fn from_compiled(files: impl IntoIterator<Item = (String, CompiledOwners)>) -> RepoOwners {
        RepoOwners {
            entries: files.into_iter().map(|(k, c)| (k, c.0)).collect(),
            problems: Vec::new(),
        }
    }

    /// The options of the OWNERS at `key` (defaults where there is none).
    pub fn options(&self, key: &str) -> OwnersOptions {
        self.entries
            .get(key)
            .map(|e| e.options.clone())
            .unwrap_or_default()
    }

    /// The OWNERS keys this view holds, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let mut keys: Vec<&str> = self.entries.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys.into_iter()
    }

    /// The matching rules at one key for one file.
    fn rules_at<'a>(&'a self, key: &str, path: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        let rel = relative(key, path);
        self.entries
            .get(key)
            .into_iter()
            .flat_map(|e| e.rules.iter())
            .filter(move |r| r.filter.as_ref().is_none_or(|re| re.is_match(rel)))
    }

    /// Prow's `entriesForFile`: people of `role` for `path`, one layer per level walked, closest
    /// first. Stops at the closest non-empty level when `leaf_only`, at the root, and at a
    /// `no_parent_owners` directory once something was found.
    pub fn layers(&self, path: &str, role: Role, leaf_only: bool) -> Vec<Logins> {
        let mut layers = Vec::new();
        let mut found = false;
        let mut dir = path.trim_matches('/');
        loop {
            let mut layer = Logins::new();
            for rule in self.rules_at(dir, path) {
                layer.extend(rule.people(role).iter().cloned());
            }
            found |= !layer.is_empty();
            layers.push(layer);
            if (leaf_only && found) || dir.is_empty() {
                break;
            }
            if found && self.options(dir).no_parent_owners {
                break;
            }
            dir = parent_dir(dir);
        }
        layers.retain(|l| !l.is_empty());
        layers
    }

    fn union(&self, path: &str, role: Role, leaf_only: bool) -> Logins {
        self.layers(path, role, leaf_only)
            .into_iter()
            .flatten()
            .collect()
    }

    /// Everyone who may approve `path` (every level up to `no_parent_owners`).
    pub fn approvers(&self, path: &str) -> Logins {
        self.union(path, Role::Approvers, false)
    }

    /// The approvers of the closest OWNERS that has any for `path`.
    pub fn leaf_approvers(&self, path: &str) -> Logins {
        self.union(path, Role::Approvers, true)
    }

    /// Everyone who may review `path`.
    pub fn reviewers(&self, path: &str) -> Logins {
        self.union(path, Role::Reviewers, false)
    }

    /// The reviewers of the closest OWNERS that has any for `path`.
    pub fn leaf_reviewers(&self, path: &str) -> Logins {
        self.union(path, Role::Reviewers, true)
    }

    /// Reviewers always requested for `path`, from every level.
    pub fn required_reviewers(&self, path: &str) -> Logins {
        self.union(path, Role::RequiredReviewers, false)
    }

    /// The labels every OWNERS from `path`'s directory up to the root (or `no_parent_owners`)
    /// gives it.
    pub fn labels(&self, path: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut dir = path.trim_matches('/');
        loop {
            let mut here = false;
            for rule in self.rules_at(dir, path) {
                here |= !rule.labels.is_empty();
                out.extend(rule.labels.iter().cloned());
            }
            if dir.is_empty() || (self.options(dir).no_parent_owners && (here || !out.is_empty())) {
                break;
            }
            dir = parent_dir(dir);
        }
        out
    }

    /// Prow's `FindApproverOwnersForFile` (or reviewers): the deepest key, starting with the
    /// file itself, with people of `role` for `path`; the root when there is none.
    pub fn owners_for_file(&self, path: &str, role: Role) -> String {
        let mut dir = path.trim_matches('/');
        while !dir.is_empty() {
            if self.rules_at(dir, path).any(|r| !r.people(role).is_empty()) {
                return dir.to_string();
            }
            dir = parent_dir(dir);
        }
        String::new()
    }
}

/// Sorts paths into classes that every query answers alike: the same directory and the same
/// filtered rules on its ancestry matching (a path that is itself a key, Markdown front
/// matter, stands alone). A change with thousands of files is then resolved once per class
/// instead of once per file: the walks and the set building are the cost, not the regexes.
pub struct PathClasses<'a> {
    owners: &'a RepoOwners,
    /// Directory → the filtered rules on its ancestry (with their key), and its classes by
    /// which of those rules match.
    dirs: HashMap<String, DirClasses<'a>>,
    /// Paths that are keys themselves → class.
    exact: HashMap<String, usize>,
    count: usize,
    /// Reused for each path's matches, so classifying allocates only for new classes.
    scratch: Vec<bool>,
}

struct DirClasses<'a> {
    filtered: Vec<(&'a str, &'a Regex)>,
    /// Matches → class; usually one or two entries.
    classes: Vec<(Vec<bool>, usize)>,
}

impl<'a> PathClasses<'a> {
    /// An empty memo over `owners`.
    pub fn new(owners: &'a RepoOwners) -> PathClasses<'a> {
        PathClasses {
            owners,
            dirs: HashMap::new(),
            exact: HashMap::new(),
            count: 0,
            scratch: Vec::new(),
        }
    }

    /// The class number of `path`: paths with equal numbers get equal answers from every
    /// [`RepoOwners`] query. Numbers count up from 0 as new classes are seen.
    pub fn class(&mut self, path: &str) -> usize {
        let path = path.trim_matches('/');
        if self.owners.entries.contains_key(path) {
            if let Some(class) = self.exact.get(path) {
                return *class;
            }
            let class = self.count;
            self.count += 1;
            self.exact.insert(path.to_string(), class);
            return class;
        }
        let dir = parent_dir(path);
        if !self.dirs.contains_key(dir) {
            let mut filtered = Vec::new();
            let mut d = dir;
            loop {
                if let Some((key, entry)) = self.owners.entries.get_key_value(d) {
                    for rule in &entry.rules {
                        if let Some(re) = &rule.filter {
                            filtered.push((key.as_str(), re));
                        }
                    }
                }
                if d.is_empty() {
                    break;
                }
                d = parent_dir(d);
            }
            self.dirs.insert(
                dir.to_string(),
                DirClasses {
                    filtered,
                    classes: Vec::new(),
                },
            );
        }
        let Some(at) = self.dirs.get_mut(dir) else {
            return usize::MAX;
        };
        if at.filtered.is_empty()
            && let Some((_, class)) = at.classes.first()
        {
            return *class;
        }
        self.scratch.clear();
        self.scratch.extend(
            at.filtered
                .iter()
                .map(|(key, re)| re.is_match(relative(key, path))),
        );
        if let Some((_, class)) = at.classes.iter().find(|(m, _)| *m == self.scratch) {
            return *class;
        }
        let class = self.count;
        self.count += 1;
        at.classes.push((self.scratch.clone(), class));
        class
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::{parse_aliases, parse_owners};
    use super::*;

    fn repo(files: &[(&str, &str)], aliases: Option<&str>) -> RepoOwners {
        let parsed: Vec<(String, OwnersFile)> = files
            .iter()
            .map(|(k, t)| (k.to_string(), parse_owners(t).unwrap()))
            .collect();
        let aliases = aliases.map(|a| parse_aliases(a).unwrap());
        RepoOwners::new(aliases.as_ref(), parsed.iter().map(|(k, f)| (k.clone(), f)))
    }

    fn set(v: &[&str]) -> Logins {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn approvers_walk_up_and_leaf_stops_at_the_closest() {
        let r = repo(
            &[
                ("", "approvers: [root]\nreviewers: [rootrev]\n"),
                ("a", "approvers: [alice]\n"),
                ("a/b", "reviewers: [bob]\n"),
            ],
            None,
        );
        assert_eq!(r.approvers("a/b/c.go"), set(&["alice", "root"]));
        assert_eq!(r.leaf_approvers("a/b/c.go"), set(&["alice"]));
        assert_eq!(r.leaf_reviewers("a/b/c.go"), set(&["bob"]));
        assert_eq!(r.reviewers("a/b/c.go"), set(&["bob", "rootrev"]));
        assert_eq!(r.approvers("x.go"), set(&["root"]));
        assert_eq!(r.owners_for_file("a/b/c.go", Role::Approvers), "a");
        assert_eq!(r.owners_for_file("a/b/c.go", Role::Reviewers), "a/b");
        assert_eq!(r.owners_for_file("z/y.go", Role::Approvers), "");
    }

    #[test]
    fn logins_are_lower_cased_and_lose_the_at_sign_and_aliases_expand_once() {
        let r = repo(
            &[("", "approvers: [\"@Alice\", Leads, nested, Team/T1]\n")],
            Some("aliases:\n  leads: [Bob, \"@carol\"]\n  nested: [leads]\n  team/t1: [dave]\n"),
        );
        assert_eq!(
            r.approvers("f"),
            set(&["alice", "bob", "carol", "leads", "dave"])
        );
    }

    #[test]
    fn no_parent_owners_cuts_inheritance_only_once_something_was_found() {
        let r = repo(
            &[
                ("", "approvers: [root]\nlabels: [rootlabel]\n"),
                (
                    "a",
                    "options:\n  no_parent_owners: true\napprovers: [alice]\nlabels: [alabel]\n",
                ),
                (
                    "g",
                    "options:\n  no_parent_owners: true\nfilters:\n  \"\\\\.go$\":\n    approvers: [gopher]\n",
                ),
            ],
            None,
        );
        assert_eq!(r.approvers("a/x"), set(&["alice"]));
        assert_eq!(r.labels("a/x"), ["alabel".to_string()].into());
        // The filter does not match a .md file: nothing found there, so the walk goes on.
        assert_eq!(r.approvers("g/doc.md"), set(&["root"]));
        assert_eq!(r.approvers("g/main.go"), set(&["gopher"]));
        assert_eq!(r.labels("b/x"), ["rootlabel".to_string()].into());
    }

    #[test]
    fn filters_match_unanchored_relative_to_the_owners_directory() {
        let r = repo(
            &[(
                "docs",
                "filters:\n  \".*\":\n    approvers: [all]\n  \"^api/.*\\\\.md$\":\n    approvers: [apidocs]\n    labels: [area/api]\n  \"yaml\":\n    required_reviewers: [yamler]\n",
            )],
            None,
        );
        assert_eq!(r.approvers("docs/api/x.md"), set(&["all", "apidocs"]));
        assert_eq!(r.approvers("docs/guide/api/x.md"), set(&["all"]));
        assert_eq!(r.required_reviewers("docs/conf.yaml"), set(&["yamler"]));
        assert_eq!(r.labels("docs/api/x.md"), ["area/api".to_string()].into());
    }

    #[test]
    fn a_markdown_file_key_owns_that_file_only() {
        let md =
            super::super::parse::parse_markdown_front_matter("---\napprovers: [writer]\n---\n")
                .unwrap()
                .unwrap();
        let root = parse_owners("approvers: [root]\n").unwrap();
        let r = RepoOwners::new(
            None,
            [("".to_string(), &root), ("docs/a.md".to_string(), &md)],
        );
        assert_eq!(r.leaf_approvers("docs/a.md"), set(&["writer"]));
        assert_eq!(r.approvers("docs/a.md"), set(&["writer", "root"]));
        assert_eq!(r.owners_for_file("docs/a.md", Role::Approvers), "docs/a.md");
        assert_eq!(r.approvers("docs/b.md"), set(&["root"]));
    }

    #[test]
    fn paths_of_one_class_get_the_same_answers() {
        let md =
            super::super::parse::parse_markdown_front_matter("---\napprovers: [writer]\n---\n")
                .unwrap()
                .unwrap();
        let parsed: Vec<(String, OwnersFile)> = [
            ("", "approvers: [root]\nlabels: [r]\n"),
            (
                "a",
                "filters:\n  \".*\":\n    approvers: [alice]\n  \"\\\\.go$\":\n    reviewers: [gopher]\n    labels: [go]\n",
            ),
            ("a/b", "options: {no_parent_owners: true}\nreviewers: [bob]\n"),
        ]
        .iter()
        .map(|(k, t)| (k.to_string(), parse_owners(t).unwrap()))
        .chain([("a/b/doc.md".to_string(), md)])
        .collect();
        let r = RepoOwners::new(None, parsed.iter().map(|(k, f)| (k.clone(), f)));
        let paths = [
            "a/b/x.go",
            "a/b/y.go",
            "a/b/z.txt",
            "a/b/doc.md",
            "a/b/other.md",
            "a/c.go",
            "a/d.txt",
            "top.go",
        ];
        let mut classes = PathClasses::new(&r);
        let classed: Vec<(usize, &str)> = paths.iter().map(|p| (classes.class(p), *p)).collect();
        assert_eq!(classed[0].0, classed[1].0, "two .go files in a/b");
        assert_ne!(
            classed[0].0, classed[2].0,
            "the .go filter of a/ tells them apart"
        );
        assert_ne!(classed[3].0, classed[2].0, "a key of its own");
        assert_eq!(classed[3].0, classes.class("a/b/doc.md"));
        assert_eq!(classed[2].0, classed[4].0);
        for (ca, pa) in &classed {
            for (cb, pb) in &classed {
                if ca != cb {
                    continue;
                }
                assert_eq!(r.approvers(pa), r.approvers(pb), "{pa} {pb}");
                assert_eq!(r.leaf_reviewers(pa), r.leaf_reviewers(pb), "{pa} {pb}");
                assert_eq!(r.labels(pa), r.labels(pb), "{pa} {pb}");
                for role in [Role::Approvers, Role::Reviewers] {
                    assert_eq!(r.owners_for_file(pa, role), r.owners_for_file(pb, role));
                }
            }
        }
        assert_ne!(r.labels("a/b/x.go"), r.labels("a/b/z.txt"));
    }
}
