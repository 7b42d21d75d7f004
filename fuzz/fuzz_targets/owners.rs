//! The OWNERS model on any file: the same bytes read as an OWNERS file, as OWNERS_ALIASES and
//! as Markdown front matter, then combined into a repository and asked about a few paths
//! (aliases expanded, filters matched, the owners set and suggestions computed). It must
//! report problems, never panic.
#![no_main]

use bosun_plugins::owners::{
    ApprovalCheck, OwnersFile, RepoOwners, ReviewerRequest, choose_reviewers, logins,
    parse_aliases, parse_markdown_front_matter, parse_owners,
};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let owners = parse_owners(&text).ok();
    let aliases = parse_aliases(&text).ok();
    let markdown = parse_markdown_front_matter(&text).and_then(Result::ok);
    let mut files: Vec<(String, &OwnersFile)> = Vec::new();
    if let Some(f) = &owners {
        files.push((String::new(), f));
        files.push(("a/b".to_string(), f));
    }
    if let Some(f) = &markdown {
        files.push(("a/b/doc.md".to_string(), f));
    }
    let repo = RepoOwners::new(aliases.as_ref(), files);
    let paths: Vec<String> = ["a/b/doc.md", "a/b/c/x.go", "top.go", "a/y"]
        .map(String::from)
        .to_vec();
    for p in &paths {
        let _ = (repo.approvers(p), repo.reviewers(p), repo.labels(p));
    }
    let check = ApprovalCheck::new(&repo, &paths);
    let _ = check.suggest_approvers(&logins(["alice"]), &logins(["bob"]), 7);
    let request = ReviewerRequest {
        author: "alice".into(),
        min: 2,
        ..Default::default()
    };
    let _ = choose_reviewers(&repo, &paths, &request, &mut rand::rngs::StdRng::seed_from_u64(1));
});
