//! Choosing reviewers from OWNERS the way Prow's blunderbuss does now (reference/prow.md §3.8):
//! one closest reviewer per OWNERS file, topped up to a minimum, falling back to approvers,
//! with required reviewers added at the end.
//!
//! Beyond Prow: unavailable people are never picked, and among candidates the ones with the
//! fewest open review requests are preferred; the rest of the choice is random from a seeded
//! RNG, so a test (or a PR number as seed) gives the same answer every time.

use super::resolve::{Logins, PathClasses, RepoOwners, Role, normalize_login};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// How many to request and whom to avoid.
#[derive(Debug, Clone, Default)]
pub struct ReviewerRequest {
    /// The PR author (never requested, except as a required reviewer, as in Prow).
    pub author: String,
    /// At least this many (Prow's `request_count`).
    pub min: usize,
    /// At most this many before required reviewers are added; 0 = no limit.
    pub max: usize,
    /// Do not fall back to approvers when there are too few reviewers.
    pub exclude_approvers: bool,
    /// People never to pick (normalized logins).
    pub unavailable: Logins,
    /// Open review requests per person (normalized); fewer is preferred.
    pub load: BTreeMap<String, usize>,
}

/// The chosen reviewers, then the required ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewerChoice {
    pub reviewers: Vec<String>,
    pub required: Vec<String>,
}

impl ReviewerChoice {
    /// Everyone to request, chosen first.
    pub fn all(&self) -> Vec<String> {
        let mut out = self.reviewers.clone();
        for r in &self.required {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        out
    }
}

/// Removes and returns one person of `pool`: the least loaded, ties broken at random.
fn pop(
    pool: &mut BTreeSet<String>,
    request: &ReviewerRequest,
    rng: &mut impl Rng,
) -> Option<String> {
    pool.retain(|p| !request.unavailable.contains(p));
    let least = pool
        .iter()
        .map(|p| request.load.get(p).copied().unwrap_or(0))
        .min()?;
    let best: Vec<&String> = pool
        .iter()
        .filter(|p| request.load.get(*p).copied().unwrap_or(0) == least)
        .collect();
    let chosen = best[rng.random_range(0..best.len())].clone();
    pool.remove(&chosen);
    Some(chosen)
}

/// Prow's `getReviewers` for one role (reviewers, or approvers as the fallback).
fn pick(
    owners: &RepoOwners,
    files: &[String],
    role: Role,
    min: usize,
    request: &ReviewerRequest,
    rng: &mut impl Rng,
    required: &mut BTreeSet<String>,
) -> BTreeSet<String> {
    let author = normalize_login(&request.author);
    let mut chosen = BTreeSet::new();
    let mut leaf_pool = BTreeSet::new();
    let mut seen = BTreeSet::new();
    // The closest OWNERS with people of `role` is resolved once per class of paths; a class
    // seen before has its key seen too.
    let mut classes = PathClasses::new(owners);
    let mut seen_classes = std::collections::HashSet::new();
    for file in files {
        if !seen_classes.insert(classes.class(file)) {
            continue;
        }
        let key = owners.owners_for_file(file, role);
        if seen.contains(&key) {
            continue;
        }
        seen.insert(key);
        required.extend(owners.required_reviewers(file));
        let leaf = match role {
            Role::Approvers => owners.leaf_approvers(file),
            _ => owners.leaf_reviewers(file),
        };
        let mut unused: BTreeSet<String> = leaf
            .into_iter()
            .filter(|p| *p != author && !chosen.contains(p))
            .collect();
        if unused.is_empty() {
            continue;
        }
        leaf_pool.extend(unused.iter().cloned());
        if let Some(p) = pop(&mut unused, request, rng) {
            chosen.insert(p);
        }
    }
    let mut unused_leaves: BTreeSet<String> = leaf_pool.difference(&chosen).cloned().collect();
    while chosen.len() < min {
        match pop(&mut unused_leaves, request, rng) {
            Some(p) => {
                chosen.insert(p);
            }
            None => break,
        }
    }
    for file in files {
        if chosen.len() >= min {
            break;
        }
        // Closest level first: each layer is exhausted before the next is tried.
        for layer in owners.layers(file, role, false) {
            let mut pool: BTreeSet<String> = layer
                .into_iter()
                .filter(|p| *p != author && !chosen.contains(p))
                .collect();
            while chosen.len() < min {
                match pop(&mut pool, request, rng) {
                    Some(p) => {
                        chosen.insert(p);
                    }
                    None => break,
                }
            }
        }
    }
    chosen
}

/// Whom to request for a change touching `files` (in PR order).
pub fn choose_reviewers(
    owners: &RepoOwners,
    files: &[String],
    request: &ReviewerRequest,
    rng: &mut impl Rng,
) -> ReviewerChoice {
    let mut required = BTreeSet::new();
    let mut chosen = pick(
        owners,
        files,
        Role::Reviewers,
        request.min,
        request,
        rng,
        &mut required,
    );
    if chosen.len() < request.min && !request.exclude_approvers {
        let still = request.min - chosen.len();
        let approvers = pick(
            owners,
            files,
            Role::Approvers,
            still,
            request,
            rng,
            &mut required,
        );
        chosen.extend(approvers);
    }
    let mut reviewers: Vec<String> = chosen.into_iter().collect();
    if request.max > 0 {
        reviewers.truncate(request.max);
    }
    ReviewerChoice {
        reviewers,
        required: required.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_owners;
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

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

    fn request(author: &str, min: usize) -> ReviewerRequest {
        ReviewerRequest {
            author: author.into(),
            min,
            ..Default::default()
        }
    }

    #[test]
    fn one_closest_reviewer_per_owners_file_even_beyond_the_minimum() {
        let r = repo(&[
            ("", "reviewers: [root1, root2]\napprovers: [boss]\n"),
            ("a", "reviewers: [a1, a2]\n"),
            ("b", "reviewers: [b1]\n"),
            ("c", "reviewers: [c1]\n"),
        ]);
        let files = paths(&["a/x", "a/y", "b/x", "c/x"]);
        let choice = choose_reviewers(
            &r,
            &files,
            &request("someone", 2),
            &mut StdRng::seed_from_u64(7),
        );
        assert_eq!(choice.reviewers.len(), 3, "{choice:?}");
        assert!(choice.reviewers.contains(&"b1".to_string()));
        assert!(choice.reviewers.contains(&"c1".to_string()));
        assert!(choice.reviewers.iter().any(|p| p == "a1" || p == "a2"));
    }

    #[test]
    fn the_same_seed_gives_the_same_choice_and_the_author_is_never_picked() {
        let r = repo(&[("", "reviewers: [alice, bob, carol, dave, erin]\n")]);
        let files = paths(&["x"]);
        let req = request("Alice", 3);
        let first = choose_reviewers(&r, &files, &req, &mut StdRng::seed_from_u64(42));
        for _ in 0..5 {
            assert_eq!(
                first,
                choose_reviewers(&r, &files, &req, &mut StdRng::seed_from_u64(42))
            );
        }
        assert_eq!(first.reviewers.len(), 3);
        assert!(!first.reviewers.contains(&"alice".to_string()));
    }

    #[test]
    fn tops_up_from_parents_then_falls_back_to_approvers() {
        let r = repo(&[
            ("", "reviewers: [rootrev]\napprovers: [rootapp]\n"),
            ("a", "reviewers: [arev]\n"),
        ]);
        let files = paths(&["a/x"]);
        let choice = choose_reviewers(&r, &files, &request("me", 3), &mut StdRng::seed_from_u64(1));
        assert_eq!(choice.reviewers, vec!["arev", "rootapp", "rootrev"]);
        let mut no_approvers = request("me", 3);
        no_approvers.exclude_approvers = true;
        let choice = choose_reviewers(&r, &files, &no_approvers, &mut StdRng::seed_from_u64(1));
        assert_eq!(choice.reviewers, vec!["arev", "rootrev"]);
    }

    #[test]
    fn required_reviewers_come_after_truncation() {
        let r = repo(&[("", "reviewers: [a, b, c, d]\nrequired_reviewers: [sec]\n")]);
        let mut req = request("x", 4);
        req.max = 2;
        let choice = choose_reviewers(&r, &paths(&["f"]), &req, &mut StdRng::seed_from_u64(3));
        assert_eq!(choice.reviewers.len(), 2);
        assert_eq!(choice.required, vec!["sec"]);
        assert_eq!(choice.all().last(), Some(&"sec".to_string()));
    }

    #[test]
    fn unavailable_people_are_skipped_and_the_least_loaded_is_preferred() {
        let r = repo(&[("", "reviewers: [busy, away, free]\n")]);
        let mut req = request("x", 1);
        req.unavailable = ["away".to_string()].into();
        req.load = [("busy".to_string(), 5)].into();
        for seed in 0..10 {
            let choice =
                choose_reviewers(&r, &paths(&["f"]), &req, &mut StdRng::seed_from_u64(seed));
            assert_eq!(choice.reviewers, vec!["free"]);
        }
    }
}
