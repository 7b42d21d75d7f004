//! Which OWNERS files must approve a change, which of them have, and whom to ask
//! (reference/prow.md §4.5, §4.6 and the `GetCCs` heuristic of §3.2).

use super::resolve::{Logins, PathClasses, RepoOwners, Role, normalize_login, parent_dir};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// The approval question for one change: its files and the OWNERS files that must approve.
#[derive(Debug, Clone)]
pub struct ApprovalCheck<'a> {
    owners: &'a RepoOwners,
    /// OWNERS key of the owners set → the distinct sets of people who may approve its changed
    /// files (all levels). Files auto-approved by `auto_approve_unowned_subfolders` are not
    /// here. Files are resolved once per class of paths ([`PathClasses`]), and every later
    /// question only looks at these sets.
    needing: BTreeMap<String, Vec<Arc<Logins>>>,
    /// The OWNERS keys that must approve, sub-directories of other members removed.
    owners_set: BTreeSet<String>,
    /// The change touched at least one file.
    any_files: bool,
}

/// Go's `filepath.Dir`, which answers `.` at the top (the auto-approve quirk depends on it).
fn go_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => ".",
    }
}

impl<'a> ApprovalCheck<'a> {
    /// Works out the OWNERS files that must approve `files` (§4.5 steps 1–2).
    pub fn new(owners: &'a RepoOwners, files: &[String]) -> ApprovalCheck<'a> {
        let mut classes = PathClasses::new(owners);
        // Per class of paths: the approving key and whether it auto-approves un-owned
        // sub-folders.
        let mut memo: HashMap<usize, (String, bool)> = HashMap::new();
        // The first file of each class that needs approval, with its key.
        let mut needing_files: Vec<(&String, String)> = Vec::new();
        let mut counted: HashSet<usize> = HashSet::new();
        for file in files {
            let class = classes.class(file);
            let (o, auto) = memo.entry(class).or_insert_with(|| {
                let o = owners.owners_for_file(file, Role::Approvers);
                let auto = owners.options(&o).auto_approve_unowned_subfolders;
                (o, auto)
            });
            // Prow's quirk, kept: a substring test, always true for the root.
            if *auto && go_dir(go_dir(file)).contains(o.as_str()) {
                continue;
            }
            if counted.insert(class) {
                needing_files.push((file, o.clone()));
            }
        }
        let candidates: BTreeSet<String> = needing_files.iter().map(|(_, o)| o.clone()).collect();
        let owners_set: BTreeSet<String> = candidates
            .iter()
            .filter(|key| !has_owning_ancestor(owners, key, &candidates))
            .cloned()
            .collect();
        // Only files of the owners set are ever checked (§4.5 step 3), so only theirs are
        // resolved: the others are sub-directories of a set member.
        let mut needing: BTreeMap<String, Vec<Arc<Logins>>> = BTreeMap::new();
        for (file, o) in needing_files {
            if owners_set.contains(&o) {
                let approvers = owners.approvers(file);
                let sets = needing.entry(o).or_default();
                if !sets.iter().any(|s| **s == approvers) {
                    sets.push(Arc::new(approvers));
                }
            }
        }
        ApprovalCheck {
            owners,
            needing,
            owners_set,
            any_files: !files.is_empty(),
        }
    }

    /// The OWNERS keys that must approve.
    pub fn owners_set(&self) -> &BTreeSet<String> {
        &self.owners_set
    }

    /// The OWNERS keys not yet approved by anyone in `approvers` (normalized logins).
    pub fn unapproved(&self, approvers: &Logins) -> BTreeSet<String> {
        self.owners_set
            .iter()
            .filter(|o| {
                self.needing
                    .get(*o)
                    .is_some_and(|sets| sets.iter().any(|s| s.is_disjoint(approvers)))
            })
            .cloned()
            .collect()
    }

    /// Every needed OWNERS file has an approver, and the change has files.
    pub fn files_approved(&self, approvers: &Logins) -> bool {
        self.any_files && self.unapproved(approvers).is_empty()
    }

    /// For each OWNERS key of the owners set, the people in `approvers` who approved some of
    /// its files: the notifier lists them beside the file.
    pub fn approvers_by_owners(&self, approvers: &Logins) -> BTreeMap<String, Logins> {
        self.owners_set
            .iter()
            .map(|o| {
                let people = self
                    .needing
                    .get(o)
                    .into_iter()
                    .flatten()
                    .flat_map(|s| s.intersection(approvers).cloned())
                    .collect();
                (o.clone(), people)
            })
            .collect()
    }

    /// Some but not all of an OWNERS key's files are approved ("partial" in the notifier);
    /// false for keys outside the owners set.
    pub fn partially_approved(&self, key: &str, approvers: &Logins) -> bool {
        let sets = self.needing.get(key).map(Vec::as_slice).unwrap_or_default();
        let approved = sets.iter().any(|s| !s.is_disjoint(approvers));
        let missing = sets.iter().any(|s| s.is_disjoint(approvers));
        approved && missing
    }

    /// OWNERS key → approvers there (closest level only when `leaf`), for the owners set.
    fn approvers_map(&self, leaf: bool) -> BTreeMap<String, Logins> {
        self.owners_set
            .iter()
            .map(|key| {
                let people = if leaf {
                    self.owners.leaf_approvers(key)
                } else {
                    self.owners.approvers(key)
                };
                (key.clone(), people)
            })
            .collect()
    }

    /// Greedy set cover: add the person covering the most unapproved OWNERS files until all are
    /// approved or nobody helps (Prow's `GetSuggestedApprovers`, its running-best quirk kept).
    fn suggested(&self, reverse: &BTreeMap<String, BTreeSet<String>>, people: &[String]) -> Logins {
        let mut chosen = Logins::new();
        loop {
            let unapproved = self.unapproved(&chosen);
            if unapproved.is_empty() {
                break;
            }
            let mut best_count = 0;
            let mut best: Option<&String> = None;
            for person in people {
                let can = reverse.get(person).map_or(0, |dirs| {
                    if dirs.intersection(&unapproved).count() > best_count {
                        dirs.len()
                    } else {
                        0
                    }
                });
                if can > 0 {
                    best_count = can;
                    best = Some(person);
                }
            }
            match best {
                Some(p) if !chosen.contains(p) => {
                    chosen.insert(p.clone());
                }
                _ => break,
            }
        }
        chosen
    }

    /// Keeps the suggested people who can approve something `known` has not covered.
    fn keep_covering(
        &self,
        reverse: &BTreeMap<String, BTreeSet<String>>,
        known: &Logins,
        people: &[String],
    ) -> Logins {
        if people.is_empty() {
            return Logins::new();
        }
        let unapproved = self.unapproved(known);
        self.suggested(reverse, people)
            .into_iter()
            .filter(|p| {
                reverse
                    .get(p)
                    .is_some_and(|dirs| !dirs.is_disjoint(&unapproved))
            })
            .collect()
    }

    /// Whom to ask for approval (Prow's `GetCCs`): a small set of people who together can
    /// approve everything still unapproved, preferring assignees that help. Ties are broken by
    /// a shuffle seeded with `seed` (the PR number), so the answer is stable per PR.
    pub fn suggest_approvers(
        &self,
        current: &Logins,
        assignees: &Logins,
        seed: u64,
    ) -> Vec<String> {
        let leaf = self.approvers_map(true);
        let mut shuffled: Vec<String> = leaf
            .values()
            .flatten()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        let leaf_reverse = reverse_map(&leaf);
        let approvers_and_assignees: Logins = current.union(assignees).cloned().collect();
        let suggested = self.keep_covering(&leaf_reverse, &approvers_and_assignees, &shuffled);
        let approvers_and_suggested: Logins = current.union(&suggested).cloned().collect();
        let everyone: Vec<String> = approvers_and_suggested.union(assignees).cloned().collect();
        let full_reverse = reverse_map(&self.approvers_map(false));
        let keep_assignees = self.keep_covering(&full_reverse, &approvers_and_suggested, &everyone);
        suggested
            .union(&keep_assignees)
            .filter(|p| !current.contains(*p))
            .cloned()
            .collect()
    }
}

/// person → OWNERS keys they can approve.
fn reverse_map(by_key: &BTreeMap<String, Logins>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (key, people) in by_key {
        for p in people {
            out.entry(p.clone()).or_default().insert(key.clone());
        }
    }
    out
}

/// True when an ancestor of `key` is also in `set` and no directory from `key` up to (not
/// including) that ancestor cuts inheritance with `no_parent_owners`.
fn has_owning_ancestor(owners: &RepoOwners, key: &str, set: &BTreeSet<String>) -> bool {
    let mut dir = key;
    while !dir.is_empty() {
        if owners.options(dir).no_parent_owners {
            return false;
        }
        dir = parent_dir(dir);
        if set.contains(dir) {
            return true;
        }
    }
    false
}

/// Normalized logins from any spelling.
pub fn logins<'s>(names: impl IntoIterator<Item = &'s str>) -> Logins {
    names.into_iter().map(normalize_login).collect()
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_owners;
    use super::*;

    fn repo(files: &[(&str, &str)]) -> RepoOwners {
        let parsed: Vec<(String, super::super::OwnersFile)> = files
            .iter()
            .map(|(k, t)| (k.to_string(), parse_owners(t).unwrap()))
            .collect();
        RepoOwners::new(None, parsed.iter().map(|(k, f)| (k.clone(), f)))
    }

    fn paths(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sub_directories_of_an_owning_ancestor_are_dropped() {
        let r = repo(&[
            ("", "approvers: [root]\n"),
            ("a", "approvers: [alice]\n"),
            ("a/b", "approvers: [bob]\n"),
            (
                "c",
                "options: {no_parent_owners: true}\napprovers: [carl]\n",
            ),
            (
                "a/np",
                "options: {no_parent_owners: true}\napprovers: [np]\n",
            ),
        ]);
        let files = paths(&["a/x.go", "a/b/y.go", "a/np/z.go"]);
        let check = ApprovalCheck::new(&r, &files);
        assert_eq!(
            check.owners_set(),
            &["a".to_string(), "a/np".to_string()].into()
        );
        assert!(check.files_approved(&logins(["alice", "np"])));
        // bob alone approves only a/b: a stays unapproved.
        assert_eq!(
            check.unapproved(&logins(["bob", "np"])),
            ["a".to_string()].into()
        );
        // root approves a and a/b but not a/np (no_parent_owners).
        assert_eq!(
            check.unapproved(&logins(["root"])),
            ["a/np".to_string()].into()
        );
        let with_c = ApprovalCheck::new(&r, &paths(&["x.go", "c/d.go"]));
        assert_eq!(
            with_c.owners_set(),
            &["".to_string(), "c".to_string()].into()
        );
    }

    #[test]
    fn approval_is_case_insensitive_and_needs_files() {
        let r = repo(&[("", "approvers: [Alice]\n")]);
        let check = ApprovalCheck::new(&r, &paths(&["README.md"]));
        assert!(check.files_approved(&logins(["ALICE"])));
        assert!(!ApprovalCheck::new(&r, &[]).files_approved(&logins(["alice"])));
    }

    #[test]
    fn auto_approve_unowned_subfolders_follows_prows_substring_test() {
        let r = repo(&[
            ("", "approvers: [root]\n"),
            (
                "a",
                "options: {auto_approve_unowned_subfolders: true}\napprovers: [alice]\n",
            ),
        ]);
        // Directly in a/: needs a's approval. In an un-owned sub-folder: auto-approved.
        let check = ApprovalCheck::new(&r, &paths(&["a/x.go", "a/sub/y.go"]));
        assert_eq!(check.owners_set(), &["a".to_string()].into());
        let only_sub = ApprovalCheck::new(&r, &paths(&["a/sub/deeper/y.go"]));
        assert!(only_sub.owners_set().is_empty());
        assert!(only_sub.files_approved(&Logins::new()));
        // On the root OWNERS the option approves every file without a closer OWNERS.
        let root_auto = repo(&[(
            "",
            "options: {auto_approve_unowned_subfolders: true}\napprovers: [root]\n",
        )]);
        assert!(
            ApprovalCheck::new(&root_auto, &paths(&["top.go", "x/y.go"]))
                .files_approved(&Logins::new())
        );
    }

    #[test]
    fn suggestions_cover_every_unapproved_owners_file_and_skip_current_approvers() {
        let r = repo(&[
            ("", "approvers: [root]\n"),
            ("a", "approvers: [alice, both]\n"),
            ("b", "approvers: [bob, both]\n"),
            ("c", "approvers: [carl]\n"),
        ]);
        let files = paths(&["a/1", "b/2", "c/3"]);
        let check = ApprovalCheck::new(&r, &files);
        for seed in 0..20 {
            let s = check.suggest_approvers(&Logins::new(), &Logins::new(), seed);
            let s: Logins = s.into_iter().collect();
            assert!(check.files_approved(&s), "seed {seed}: {s:?}");
            assert!(s.contains("carl"));
            let again = check.suggest_approvers(&Logins::new(), &Logins::new(), seed);
            assert_eq!(s, again.into_iter().collect(), "deterministic per seed");
        }
        let s = check.suggest_approvers(&logins(["carl", "alice"]), &Logins::new(), 1);
        assert_eq!(s.len(), 1, "{s:?}");
        assert!(s[0] == "bob" || s[0] == "both");
    }

    #[test]
    fn a_helpful_assignee_is_kept() {
        let r = repo(&[
            ("a", "approvers: [alice, zed]\n"),
            ("", "approvers: [root]\n"),
        ]);
        let check = ApprovalCheck::new(&r, &paths(&["a/x"]));
        let s = check.suggest_approvers(&Logins::new(), &logins(["zed"]), 3);
        assert!(s.contains(&"zed".to_string()), "{s:?}");
    }

    #[test]
    fn grouped_answers_equal_the_file_by_file_definition() {
        let r = repo(&[
            ("", "approvers: [root]\n"),
            (
                "a",
                "filters:\n  \".*\":\n    approvers: [alice]\n  \"_test\\\\.go$\":\n    approvers: [tester]\n",
            ),
            ("a/b", "reviewers: [bob]\n"),
            (
                "a/b/c",
                "options: {no_parent_owners: true}\napprovers: [carl]\n",
            ),
            ("d", "approvers: [dan]\n"),
        ]);
        let files = paths(&[
            "a/x.go",
            "a/x_test.go",
            "a/b/y.go",
            "a/b/y_test.go",
            "a/b/c/z.go",
            "d/e/f.go",
        ]);
        let check = ApprovalCheck::new(&r, &files);
        assert_eq!(check.owners_set().len(), 3, "a, a/b/c and d");
        let people = ["root", "alice", "tester", "carl", "dan", "bob"];
        // Every subset of the people: unapproved equals the definition of §4.5 step 3.
        for mask in 0..(1u32 << people.len()) {
            let approvers: Logins = people
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, p)| p.to_string())
                .collect();
            let mut expected = BTreeSet::new();
            for f in &files {
                let o = r.owners_for_file(f, Role::Approvers);
                if check.owners_set().contains(&o) && r.approvers(f).is_disjoint(&approvers) {
                    expected.insert(o);
                }
            }
            assert_eq!(check.unapproved(&approvers), expected, "{approvers:?}");
        }
        assert!(check.partially_approved("a", &logins(["tester"])));
        assert!(!check.partially_approved("a", &logins(["alice"])));
    }
}
