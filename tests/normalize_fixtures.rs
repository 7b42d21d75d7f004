//! Every recorded webhook in `tests/fixtures/` normalizes without error, handled kinds to events
//! and the rest to `Ignored`; then the key fields of representative payloads are checked
//! against what the payloads say, and broken bodies are refused without a panic.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use bosun::server::hook::{route_github, route_gitlab};
use bosun::webhook::{NormalizeError, Normalized, github, gitlab};
use bosun_plugins::{
    CommentAction, CommentEvent, CommentSource, Event, ForgeKind, IssueAction, ItemKind, ItemState,
    Login, PrAction, PullRequestEvent, ReviewState,
};

#[derive(Clone, Copy, Debug)]
enum Forge {
    GitHub,
    GitLab,
}

impl Forge {
    fn dir(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
        }
    }

    /// The event header a delivery of this fixture directory carries (fixtures/README.md).
    fn header(self, dir: &str) -> String {
        match self {
            Forge::GitHub => dir.to_string(),
            Forge::GitLab => match dir {
                "merge_request" => "Merge Request Hook",
                "note" => "Note Hook",
                "issue" => "Issue Hook",
                "push" => "Push Hook",
                "tag_push" => "Tag Push Hook",
                "pipeline" => "Pipeline Hook",
                other => panic!("no X-Gitlab-Event known for fixture directory {other}"),
            }
            .to_string(),
        }
    }

    fn normalize(self, header: &str, body: &[u8]) -> Result<Normalized, NormalizeError> {
        match self {
            Forge::GitHub => github::normalize(header, body),
            Forge::GitLab => gitlab::normalize(header, body),
        }
    }

    /// Fixtures that must come back `Ignored`: unhandled event kinds, and notes on commits.
    fn expect_ignored(self, dir: &str, file: &str) -> bool {
        match self {
            Forge::GitHub => !matches!(
                dir,
                "pull_request"
                    | "issue_comment"
                    | "issues"
                    | "pull_request_review"
                    | "pull_request_review_comment"
                    | "push"
                    | "ping"
                    | "check_run"
                    | "status"
                    | "workflow_run"
            ),
            Forge::GitLab => {
                matches!(dir, "tag_push") || (dir == "note" && file.starts_with("commit."))
            }
        }
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every `(directory, file name, path)` under one forge's fixtures, sorted.
fn fixture_files(forge: Forge) -> Vec<(String, String, PathBuf)> {
    let root = fixtures().join(forge.dir());
    let mut out = Vec::new();
    let dirs = fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    for dir in dirs {
        let dir = dir.expect("fixture directory entry").path();
        let dir_name = file_name(&dir);
        for file in fs::read_dir(&dir).expect("fixture directory") {
            let path = file.expect("fixture file entry").path();
            out.push((dir_name.clone(), file_name(&path), path));
        }
    }
    out.sort();
    out
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("utf-8 file name")
        .to_string()
}

fn read(forge: Forge, rel: &str) -> Vec<u8> {
    let path = fixtures().join(forge.dir()).join(rel);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[track_caller]
fn events_of(forge: Forge, header: &str, body: &[u8]) -> Vec<Event> {
    match forge.normalize(header, body) {
        Ok(Normalized::Events(events)) => events,
        other => panic!("expected events for {header}, got {other:?}"),
    }
}

/// The events of one fixture, `rel` being `dir/file.json`.
#[track_caller]
fn events(forge: Forge, rel: &str) -> Vec<Event> {
    let dir = rel.split('/').next().expect("dir/file");
    events_of(forge, &forge.header(dir), &read(forge, rel))
}

#[track_caller]
fn pr_event(events: &[Event], index: usize) -> &PullRequestEvent {
    match events.get(index) {
        Some(Event::PullRequest(p)) => p,
        other => panic!("expected a PR event at {index}, got {other:?}"),
    }
}

#[track_caller]
fn comment(events: &[Event], index: usize) -> &CommentEvent {
    match events.get(index) {
        Some(Event::Comment(c)) => c,
        other => panic!("expected a comment event at {index}, got {other:?}"),
    }
}

fn pr_actions(events: &[Event]) -> Vec<PrAction> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PullRequest(p) => Some(p.action.clone()),
            _ => None,
        })
        .collect()
}

/// A short name for an event, to summarize what the fixtures map to.
fn kind_of(event: &Event) -> String {
    match event {
        Event::Comment(c) => format!("comment:{:?}", c.source),
        Event::PullRequest(p) => format!("pr:{}", pr_action_name(&p.action)),
        Event::Issue(i) => format!("issue:{:?}", i.action),
        Event::Push(_) => "push".into(),
        Event::Ping(_) => "ping".into(),
        Event::Ci(c) => format!("ci:{}", c.system.as_str()),
        Event::DeliveryFailed(_) => "delivery_failed".into(),
    }
}

fn pr_action_name(action: &PrAction) -> String {
    let debug = format!("{action:?}");
    debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_string()
}

fn login(s: &str) -> Login {
    Login::new(s)
}

// ---------------------------------------------------------------------------------------------
// Every fixture.

#[test]
fn every_fixture_normalizes_to_events_or_ignored() {
    let mut summary: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    for forge in [Forge::GitHub, Forge::GitLab] {
        let files = fixture_files(forge);
        assert!(!files.is_empty(), "no {} fixtures found", forge.dir());
        for (dir, file, path) in files {
            let body = fs::read(&path).expect("fixture");
            let name = format!("{}/{dir}/{file}", forge.dir());
            let tally = summary.entry(format!("{}/{dir}", forge.dir())).or_default();
            match (
                forge.normalize(&forge.header(&dir), &body),
                forge.expect_ignored(&dir, &file),
            ) {
                (Ok(Normalized::Events(events)), false) if !events.is_empty() => {
                    for e in &events {
                        assert_eq!(e.forge(), expect_forge(forge), "{name}");
                        *tally.entry(kind_of(e)).or_default() += 1;
                    }
                }
                (Ok(Normalized::Ignored(_)), true) => {
                    *tally.entry("ignored".into()).or_default() += 1
                }
                (other, expect_ignored) => failures.push(format!(
                    "{name}: expected ignored={expect_ignored}, got {other:?}"
                )),
            }
        }
    }
    for (dir, kinds) in &summary {
        println!("{dir}: {kinds:?}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The receiver checks a delivery's secret for the repository it routes it to, and keys its
/// turn by the item it routes it to; plugins act on what the normalizer reads. On every
/// recorded payload the two agree, so the dispatcher's check that they do
/// (`dispatch::scope`) refuses only payloads no forge sends.
#[test]
fn every_fixture_runs_in_the_repository_and_item_its_delivery_is_routed_to() {
    let mut checked = 0;
    for forge in [Forge::GitHub, Forge::GitLab] {
        for (dir, file, path) in fixture_files(forge) {
            let body = fs::read(&path).expect("fixture");
            let name = format!("{}/{dir}/{file}", forge.dir());
            let Ok(Normalized::Events(events)) = forge.normalize(&forge.header(&dir), &body) else {
                continue;
            };
            let route = match forge {
                Forge::GitHub => route_github(&body),
                Forge::GitLab => route_gitlab(&body),
            }
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            for e in &events {
                assert_eq!(
                    e.repo().map(|r| r.as_str()),
                    route.repo.as_deref(),
                    "{name}: the repository"
                );
                if let Some(item) = e.item() {
                    let number = i64::try_from(item.reference.number).ok();
                    assert_eq!(number, route.number, "{name}: the item");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} events checked");
}

fn expect_forge(forge: Forge) -> ForgeKind {
    match forge {
        Forge::GitHub => ForgeKind::GitHub,
        Forge::GitLab => ForgeKind::GitLab,
    }
}

// ---------------------------------------------------------------------------------------------
// GitHub.

/// Prow lgtm: a `/lgtm` issue comment on a PR is a comment event on a pull-request item.
#[test]
fn github_issue_comment_lgtm_on_pr_is_a_pr_comment() {
    let evs = events(
        Forge::GitHub,
        "issue_comment/created.on-pull-request.lgtm.json",
    );
    assert_eq!(evs.len(), 1);
    let c = comment(&evs, 0);
    assert_eq!(c.item.reference.forge, ForgeKind::GitHub);
    assert_eq!(c.item.reference.repo.as_str(), "kubernetes/test-infra");
    assert_eq!(c.item.reference.number, 947);
    assert_eq!(c.item.reference.kind, ItemKind::PullRequest);
    assert_eq!(c.author, login("spxtr"));
    assert_eq!(c.item.author, login("spxtr"));
    assert_eq!(c.body, "/lgtm");
    assert_eq!(c.action, CommentAction::Created);
    assert_eq!(c.source, CommentSource::Comment);
    assert_eq!(c.review, None);
    assert!(c.item.has_label("do-not-merge"));
    assert_eq!(c.item.assignees, vec![login("spxtr")]);
    assert_eq!(
        c.html_url,
        "https://github.com/kubernetes/test-infra/pull/947#issuecomment-262693732"
    );
}

#[test]
fn github_issue_comment_on_plain_issue_is_an_issue_comment() {
    let evs = events(Forge::GitHub, "issue_comment/created.json");
    let c = comment(&evs, 0);
    assert_eq!(c.item.reference.kind, ItemKind::Issue);
    assert_eq!(c.item.state, ItemState::Open);
    assert!(!c.item.is_pr());
}

#[test]
fn github_issue_comment_edited_carries_previous_body() {
    let evs = events(Forge::GitHub, "issue_comment/edited.json");
    let c = comment(&evs, 0);
    assert_eq!(c.body, "You are totally right! I'll get this fixed today.");
    assert_eq!(
        c.action,
        CommentAction::Edited {
            previous_body: Some("You are totally right! I'll get this fixed right away.".into())
        }
    );
}

/// Prow §2: a PR opened is a PR event and a description comment by the PR author.
#[test]
fn github_pull_request_opened_yields_pr_event_and_description() {
    let evs = events(Forge::GitHub, "pull_request/opened.json");
    assert_eq!(evs.len(), 2);
    let p = pr_event(&evs, 0);
    assert_eq!(p.action, PrAction::Opened);
    assert_eq!(p.pr.reference.repo.as_str(), "Codertocat/Hello-World");
    assert_eq!(p.pr.reference.number, 2);
    assert_eq!(p.pr.reference.kind, ItemKind::PullRequest);
    assert_eq!(p.pr.author, login("Codertocat"));
    assert_eq!(p.sender, login("Codertocat"));
    assert_eq!(p.head_sha, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_eq!(
        p.base_sha.as_deref(),
        Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
    );
    assert_eq!(p.head_ref, "changes");
    assert_eq!(p.base_ref, "master");
    assert!(!p.pr.draft);
    let d = comment(&evs, 1);
    assert_eq!(d.source, CommentSource::Description);
    assert_eq!(d.action, CommentAction::Created);
    assert_eq!(d.author, login("Codertocat"));
    assert_eq!(
        d.body,
        "This is a pretty simple change that we need to pull into master."
    );
}

#[test]
fn github_pull_request_null_body_is_empty_description() {
    let evs = events(Forge::GitHub, "pull_request/opened.with-null-body.json");
    assert_eq!(comment(&evs, 1).body, "");
}

#[test]
fn github_pull_request_edited_description_carries_previous_body() {
    let evs = events(Forge::GitHub, "pull_request/edited.json");
    assert_eq!(pr_event(&evs, 0).action, PrAction::Edited);
    let d = comment(&evs, 1);
    assert_eq!(d.body, "this is an edit");
    assert_eq!(
        d.action,
        CommentAction::Edited {
            previous_body: Some(String::new())
        }
    );
}

#[test]
fn github_pull_request_synchronize_has_before_and_new_head() {
    let evs = events(Forge::GitHub, "pull_request/synchronize.json");
    assert_eq!(evs.len(), 1);
    let p = pr_event(&evs, 0);
    assert_eq!(
        p.action,
        PrAction::Synchronized {
            before: Some("f95f852bd8fca8fcc58a9a2d6c842781e32a215e".into())
        }
    );
    assert_eq!(p.head_sha, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
}

#[test]
fn github_pull_request_closed_unmerged_is_closed() {
    let evs = events(Forge::GitHub, "pull_request/closed.json");
    let p = pr_event(&evs, 0);
    assert_eq!(p.action, PrAction::Closed);
    assert_eq!(p.pr.state, ItemState::Closed);
}

/// No recorded payload has a merged PR, so this patches a copy of `closed.json`.
#[test]
fn github_pull_request_closed_merged_is_merged() {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&read(Forge::GitHub, "pull_request/closed.json")).expect("json");
    payload["pull_request"]["merged"] = serde_json::Value::Bool(true);
    let body = serde_json::to_vec(&payload).expect("json");
    let evs = events_of(Forge::GitHub, "pull_request", &body);
    let p = pr_event(&evs, 0);
    assert_eq!(p.action, PrAction::Merged);
    assert_eq!(p.pr.state, ItemState::Merged);
}

/// A PR from a fork belongs to the base repository, where it merges.
#[test]
fn github_pull_request_from_fork_uses_base_repo() {
    let evs = events(Forge::GitHub, "pull_request/reopened.test-infra.json");
    let p = pr_event(&evs, 0);
    assert_eq!(p.action, PrAction::Reopened);
    assert_eq!(p.pr.reference.repo.as_str(), "kubernetes/test-infra");
    assert_eq!(p.head_ref, "dummy");
    assert!(p.pr.labels.is_empty(), "this payload has no labels key");
}

#[test]
fn github_pull_request_labeled_names_the_label() {
    let evs = events(Forge::GitHub, "pull_request/labeled.json");
    assert_eq!(
        pr_event(&evs, 0).action,
        PrAction::Labeled {
            label: "bug".into()
        }
    );
    let evs = events(Forge::GitHub, "pull_request/converted_to_draft.json");
    assert_eq!(pr_event(&evs, 0).action, PrAction::ConvertedToDraft);
    assert!(pr_event(&evs, 0).pr.draft);
}

/// A review request names the user asked, so a chat notice can @ them.
#[test]
fn github_pull_request_review_requested_names_the_reviewer() {
    let evs = events(Forge::GitHub, "pull_request/review_requested.json");
    assert_eq!(
        pr_event(&evs, 0).action,
        PrAction::ReviewRequested {
            reviewers: vec![Login::new("octocat")]
        }
    );
}

/// Prow lgtm/approve: an approving review is a review comment event with the verdict.
#[test]
fn github_review_submitted_approved() {
    let evs = events(Forge::GitHub, "pull_request_review/submitted.approved.json");
    assert_eq!(evs.len(), 1);
    let c = comment(&evs, 0);
    assert_eq!(c.item.reference.repo.as_str(), "kubernetes/kubernetes");
    assert_eq!(c.item.reference.number, 66686);
    assert_eq!(c.item.reference.kind, ItemKind::PullRequest);
    assert_eq!(c.author, login("luxas"));
    assert_eq!(c.item.author, login("dims"));
    assert_eq!(c.source, CommentSource::Review);
    assert_eq!(c.review, Some(ReviewState::Approved));
    assert_eq!(c.action, CommentAction::Created);
    assert!(c.body.starts_with("This LGTM now"));
    assert!(c.item.has_label("do-not-merge/hold"));
}

#[test]
fn github_review_null_body_and_dismissal() {
    let evs = events(
        Forge::GitHub,
        "pull_request_review/submitted.commented.json",
    );
    let c = comment(&evs, 0);
    assert_eq!(c.body, "");
    assert_eq!(c.review, Some(ReviewState::Commented));
    let evs = events(Forge::GitHub, "pull_request_review/dismissed.json");
    let c = comment(&evs, 0);
    assert_eq!(c.action, CommentAction::Deleted);
    assert_eq!(c.review, Some(ReviewState::Dismissed));
    let evs = events(
        Forge::GitHub,
        "pull_request_review/submitted.changes_requested.json",
    );
    assert_eq!(comment(&evs, 0).review, Some(ReviewState::ChangesRequested));
}

#[test]
fn github_review_comment_created() {
    let evs = events(Forge::GitHub, "pull_request_review_comment/created.json");
    let c = comment(&evs, 0);
    assert_eq!(c.source, CommentSource::ReviewComment);
    assert_eq!(c.action, CommentAction::Created);
    assert_eq!(c.author, login("Codertocat"));
    assert_eq!(c.item.reference.number, 2);
    assert_eq!(c.body, "Maybe you should use more emoji on this line.");
    assert_eq!(
        c.html_url,
        "https://github.com/Codertocat/Hello-World/pull/2#discussion_r284312630"
    );
    let evs = events(Forge::GitHub, "pull_request_review_comment/deleted.json");
    assert_eq!(comment(&evs, 0).action, CommentAction::Deleted);
}

#[test]
fn github_issues_opened_yields_issue_event_and_description() {
    let evs = events(Forge::GitHub, "issues/opened.json");
    assert_eq!(evs.len(), 2);
    let Event::Issue(i) = &evs[0] else {
        panic!("issue event expected, got {:?}", evs[0])
    };
    assert_eq!(i.action, IssueAction::Opened);
    assert_eq!(i.issue.reference.kind, ItemKind::Issue);
    assert_eq!(comment(&evs, 1).source, CommentSource::Description);
    let evs = events(Forge::GitHub, "issues/opened.with-empty-body.json");
    assert_eq!(comment(&evs, 1).body, "");
    let evs = events(Forge::GitHub, "issues/labeled.json");
    assert_eq!(evs.len(), 1, "a label change carries no command text");
}

#[test]
fn github_push() {
    let evs = events(Forge::GitHub, "push/test-infra.json");
    let Some(Event::Push(p)) = evs.first() else {
        panic!("push expected, got {evs:?}")
    };
    assert_eq!(p.forge, ForgeKind::GitHub);
    assert_eq!(p.repo.as_str(), "kubernetes/test-infra");
    assert_eq!(p.git_ref, "refs/heads/master");
    assert_eq!(p.before, "1876a0f562a44b5193020075bb8825553b0c4102");
    assert_eq!(p.after, "ff7b7646f056f5c60f382ace1381353df8d218ef");
    assert_eq!(p.pusher, login("rmmh"));
}

#[test]
fn github_ping_with_and_without_repository() {
    let evs = events(Forge::GitHub, "ping/payload.json");
    let Some(Event::Ping(p)) = evs.first() else {
        panic!("ping expected, got {evs:?}")
    };
    assert_eq!(p.hook_id, Some(109948940));
    assert_eq!(
        p.repo.as_ref().map(|r| r.as_str()),
        Some("Octocoders/Hello-World")
    );
    let evs = events(Forge::GitHub, "ping/with-organization.json");
    let Some(Event::Ping(p)) = evs.first() else {
        panic!("ping expected, got {evs:?}")
    };
    assert_eq!(p.hook_id, Some(109948940));
    assert_eq!(p.repo, None);
}

// ---------------------------------------------------------------------------------------------
// GitLab.

/// Prow §7: an MR opened is a PR event and a description comment by its author.
#[test]
fn gitlab_merge_request_open() {
    let evs = events(Forge::GitLab, "merge_request/open.json");
    assert_eq!(evs.len(), 2);
    let p = pr_event(&evs, 0);
    assert_eq!(p.action, PrAction::Opened);
    assert_eq!(p.pr.reference.forge, ForgeKind::GitLab);
    assert_eq!(
        p.pr.reference.repo.as_str(),
        "demoaccount2-commits-group/test_ci_tmp"
    );
    assert_eq!(p.pr.reference.number, 3);
    assert_eq!(p.pr.reference.kind, ItemKind::PullRequest);
    assert_eq!(p.pr.author, login("real6543"));
    assert_eq!(p.sender, login("real6543"));
    assert_eq!(p.head_sha, "2f7670508b771e7e77839402be8b34b13787aba8");
    assert_eq!(p.base_sha, None);
    assert_eq!(p.head_ref, "real6543-main-patch-42541");
    assert_eq!(p.base_ref, "main");
    assert_eq!(p.pr.labels, vec!["documentation".to_string()]);
    assert_eq!(p.pr.assignees, vec![login("real6543")]);
    assert_eq!(p.pr.state, ItemState::Open);
    assert!(!p.pr.draft);
    let d = comment(&evs, 1);
    assert_eq!(d.source, CommentSource::Description);
    assert_eq!(d.action, CommentAction::Created);
    assert_eq!(d.author, login("real6543"));
    assert_eq!(d.body, ":tada: text that you might read eventually");
}

/// Old payloads have no `user.id`; the opener is then taken as the author.
#[test]
fn gitlab_merge_request_open_without_user_id_takes_opener_as_author() {
    let evs = events(Forge::GitLab, "merge_request/open.atlantis.json");
    assert_eq!(pr_event(&evs, 0).pr.author, login("lkysow"));
}

/// Prow: new commits (`synchronize`) are a GitLab `update` with `oldrev`.
#[test]
fn gitlab_merge_request_update_with_oldrev_is_synchronized() {
    let evs = events(Forge::GitLab, "merge_request/update.oldrev.json");
    assert_eq!(evs.len(), 1);
    let p = pr_event(&evs, 0);
    assert_eq!(
        p.action,
        PrAction::Synchronized {
            before: Some("8b641937b7340066d882b9d8a8cc5b0573a207de".into())
        }
    );
    assert_eq!(p.head_sha, "c136499ec574e1034b24c5d306de9acda3005367");
    assert_eq!(p.pr.reference.repo.as_str(), "anbraten/woodpecker");
    let evs = events(Forge::GitLab, "merge_request/update.oldrev.go-gitlab.json");
    assert_eq!(
        pr_event(&evs, 0).action,
        PrAction::Synchronized {
            before: Some("6ef047571374c96a2bf13c361efd1fb008b0063e".into())
        }
    );
}

#[test]
fn gitlab_merge_request_update_without_oldrev_is_not_synchronized() {
    let evs = events(Forge::GitLab, "merge_request/update.no-code-change.json");
    assert_eq!(pr_actions(&evs), vec![PrAction::Updated]);
    let evs = events(Forge::GitLab, "merge_request/update.milestone-added.json");
    assert_eq!(pr_actions(&evs), vec![PrAction::Updated]);
}

#[test]
fn gitlab_merge_request_title_and_description_edit() {
    let evs = events(Forge::GitLab, "merge_request/update.title-description.json");
    assert_eq!(pr_actions(&evs), vec![PrAction::Edited]);
    let d = comment(&evs, 1);
    assert_eq!(d.source, CommentSource::Description);
    assert_eq!(d.body, ":tada: text that you might read eventually.");
    assert_eq!(
        d.action,
        CommentAction::Edited {
            previous_body: Some(":tada: text that you might read eventually".into())
        }
    );
}

/// GitLab sends one `update` for a label change; bosun makes it one event per label, as GitHub.
#[test]
fn gitlab_merge_request_label_changes() {
    let evs = events(Forge::GitLab, "merge_request/update.labels-updated.json");
    assert_eq!(
        pr_actions(&evs),
        vec![
            PrAction::Labeled {
                label: "enhancement".into()
            },
            PrAction::Labeled {
                label: "help wanted".into()
            },
            PrAction::Unlabeled {
                label: "documentation".into()
            },
        ]
    );
    let evs = events(Forge::GitLab, "merge_request/update.assignees-removed.json");
    assert_eq!(
        pr_actions(&evs),
        vec![PrAction::Assigned, PrAction::Unassigned]
    );
    let evs = events(Forge::GitLab, "merge_request/update.reviewers-added.json");
    assert_eq!(
        pr_actions(&evs),
        vec![PrAction::ReviewRequested {
            reviewers: vec![Login::new("real6543")]
        }],
        "the added reviewers are named"
    );
}

/// Despite its name, this capture is a ready MR turned into a draft (`draft: false → true`).
#[test]
fn gitlab_merge_request_draft_change() {
    let evs = events(Forge::GitLab, "merge_request/update.draft-to-ready.json");
    assert_eq!(
        pr_actions(&evs),
        vec![PrAction::Edited, PrAction::ConvertedToDraft]
    );
    assert!(pr_event(&evs, 0).pr.draft);
}

#[test]
fn gitlab_merge_request_merge_and_close() {
    let evs = events(Forge::GitLab, "merge_request/merge.json");
    let p = pr_event(&evs, 0);
    assert_eq!(p.action, PrAction::Merged);
    assert_eq!(p.pr.state, ItemState::Merged);
    assert_eq!(p.pr.reference.number, 4);
    assert_eq!(p.pr.reference.repo.as_str(), "anbraten/woodpecker-test");
    let evs = events(Forge::GitLab, "merge_request/close.json");
    let p = pr_event(&evs, 0);
    assert_eq!(p.action, PrAction::Closed);
    assert_eq!(p.pr.state, ItemState::Closed);
    let evs = events(Forge::GitLab, "merge_request/reopen.json");
    assert_eq!(pr_actions(&evs), vec![PrAction::Reopened]);
}

/// DESIGN: a native approval counts where Prow counts an approving review.
#[test]
fn gitlab_merge_request_approval_is_an_approving_review() {
    for (file, approver) in [
        ("merge_request/approved.json", "anbraten"),
        ("merge_request/approval.json", "sumitbhanu"),
    ] {
        let evs = events(Forge::GitLab, file);
        assert_eq!(evs.len(), 2, "{file}");
        assert_eq!(pr_event(&evs, 0).action, PrAction::Approved, "{file}");
        let r = comment(&evs, 1);
        assert_eq!(r.source, CommentSource::Review, "{file}");
        assert_eq!(r.review, Some(ReviewState::Approved), "{file}");
        assert_eq!(r.action, CommentAction::Created, "{file}");
        assert_eq!(r.author, login(approver), "{file}");
        assert_eq!(r.body, "", "{file}");
    }
    let evs = events(Forge::GitLab, "merge_request/unapproval.json");
    assert_eq!(pr_event(&evs, 0).action, PrAction::Unapproved);
    let r = comment(&evs, 1);
    assert_eq!(r.review, Some(ReviewState::Unapproved));
    assert_eq!(r.author, login("gunner.sumit"));
    let evs = events(Forge::GitLab, "merge_request/unapproved.json");
    assert_eq!(comment(&evs, 1).review, Some(ReviewState::Unapproved));
}

#[test]
fn gitlab_note_on_merge_request() {
    let evs = events(Forge::GitLab, "note/merge_request.json");
    assert_eq!(evs.len(), 1);
    let c = comment(&evs, 0);
    assert_eq!(c.item.reference.forge, ForgeKind::GitLab);
    assert_eq!(c.item.reference.repo.as_str(), "gitlab-org/hello-world");
    assert_eq!(c.item.reference.number, 1);
    assert_eq!(c.item.reference.kind, ItemKind::PullRequest);
    assert_eq!(c.item.reference.to_string(), "gitlab-org/hello-world!1");
    assert_eq!(c.author, login("sytses"));
    assert_eq!(c.item.author, login("sytses"), "resolved via author_id");
    assert_eq!(c.item.title, "Update readme");
    assert_eq!(c.body, "lgtm");
    assert_eq!(c.action, CommentAction::Created);
    assert_eq!(c.source, CommentSource::Comment);
    assert_eq!(
        c.html_url,
        "https://gitlab.com/gitlab-org/hello-world/merge_requests/1#note_50772616"
    );
}

#[test]
fn gitlab_diff_note_is_a_review_comment_and_subgroups_keep_their_path() {
    let evs = events(Forge::GitLab, "note/merge_request.diff-note.json");
    assert_eq!(comment(&evs, 0).source, CommentSource::ReviewComment);
    assert_eq!(comment(&evs, 0).body, "check spelling");
    let evs = events(Forge::GitLab, "note/merge_request.subgroup.json");
    let c = comment(&evs, 0);
    assert_eq!(
        c.item.reference.repo.as_str(),
        "lkysow-test/subgroup/sub-subgroup/atlantis-example"
    );
    assert_eq!(c.item.reference.number, 2);
    assert_eq!(c.body, "atlantis plan");
}

#[test]
fn gitlab_note_on_issue() {
    let evs = events(Forge::GitLab, "note/issue.json");
    let c = comment(&evs, 0);
    assert_eq!(c.item.reference.kind, ItemKind::Issue);
    assert_eq!(c.item.reference.number, 1);
    assert_eq!(c.author, login("sytses"));
    assert_eq!(c.body, "bump");
    let evs = events(Forge::GitLab, "note/issue.go-gitlab.json");
    let c = comment(&evs, 0);
    assert_eq!(c.item.reference.number, 17);
    assert_eq!(c.item.state, ItemState::Closed);
    assert_eq!(
        c.item.labels,
        vec!["Afterpod".to_string(), "Element".into()]
    );
}

#[test]
fn gitlab_note_on_commit_is_ignored() {
    for file in [
        "note/commit.go-gitlab.json",
        "note/commit.go-playground.json",
    ] {
        let out = gitlab::normalize("Note Hook", &read(Forge::GitLab, file));
        assert!(matches!(out, Ok(Normalized::Ignored(_))), "{file}: {out:?}");
    }
}

#[test]
fn gitlab_issue_open_yields_issue_event_and_description() {
    let evs = events(Forge::GitLab, "issue/open.json");
    assert_eq!(evs.len(), 2);
    let Event::Issue(i) = &evs[0] else {
        panic!("issue event expected, got {:?}", evs[0])
    };
    assert_eq!(i.action, IssueAction::Opened);
    assert_eq!(i.issue.reference.repo.as_str(), "gitlab-org/hello-world");
    assert_eq!(i.issue.reference.number, 1);
    assert_eq!(i.issue.author, login("sytses"));
    assert_eq!(i.sender, login("sytses"));
    let d = comment(&evs, 1);
    assert_eq!(d.source, CommentSource::Description);
    assert_eq!(d.body, "everything is broken");
    let evs = events(Forge::GitLab, "issue/update.labels.json");
    let Event::Issue(i) = &evs[0] else {
        panic!("issue event expected")
    };
    assert_eq!(i.action, IssueAction::Labeled);
    assert!(i.issue.has_label("critical"));
}

#[test]
fn gitlab_push() {
    let evs = events(Forge::GitLab, "push/push.json");
    let Some(Event::Push(p)) = evs.first() else {
        panic!("push expected, got {evs:?}")
    };
    assert_eq!(p.forge, ForgeKind::GitLab);
    assert_eq!(p.repo.as_str(), "gitlab-org/hello-world");
    assert_eq!(p.git_ref, "refs/heads/master");
    assert_eq!(p.before, "9217710ce8c7e1eae7a5d1c45f6e43e1c769f866");
    assert_eq!(p.after, "2adc9465c4edfc33834e173fe89436a7cb899a1d");
    assert_eq!(p.pusher, login("sytses"));
}

// ---------------------------------------------------------------------------------------------
// Broken bodies.

const GITHUB_HANDLED: [&str; 7] = [
    "pull_request",
    "issue_comment",
    "issues",
    "pull_request_review",
    "pull_request_review_comment",
    "push",
    "ping",
];

const GITLAB_HANDLED: [&str; 6] = [
    "Merge Request Hook",
    "Note Hook",
    "Confidential Note Hook",
    "Issue Hook",
    "Confidential Issue Hook",
    "Push Hook",
];

fn handled() -> impl Iterator<Item = (Forge, &'static str)> {
    let gh = GITHUB_HANDLED.into_iter().map(|h| (Forge::GitHub, h));
    gh.chain(GITLAB_HANDLED.into_iter().map(|h| (Forge::GitLab, h)))
}

#[test]
fn garbage_and_empty_objects_are_malformed_for_handled_events() {
    let bodies: [&[u8]; 6] = [
        b"",
        b"\x00\xff garbage",
        b"{}",
        b"null",
        b"[]",
        b"{\"action\": 5}",
    ];
    for (forge, header) in handled() {
        for body in bodies {
            let out = forge.normalize(header, body);
            assert!(
                out.is_err(),
                "{header} with {:?}: {out:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

#[test]
fn garbage_for_unhandled_events_is_ignored() {
    for (forge, header) in [
        (Forge::GitHub, "check_suite"),
        (Forge::GitHub, "installation"),
        (Forge::GitLab, "Tag Push Hook"),
    ] {
        let out = forge.normalize(header, b"\x00\xff garbage");
        assert!(
            matches!(out, Ok(Normalized::Ignored(_))),
            "{header}: {out:?}"
        );
    }
}

#[test]
fn truncated_fixtures_are_malformed_not_panics() {
    let mut checked = 0;
    for forge in [Forge::GitHub, Forge::GitLab] {
        for (dir, file, path) in fixture_files(forge) {
            if forge.expect_ignored(&dir, &file) {
                continue;
            }
            let body = fs::read(&path).expect("fixture");
            let body = body.trim_ascii_end();
            let header = forge.header(&dir);
            for cut in [1, body.len() / 3, body.len() / 2, body.len() - 1] {
                let out = forge.normalize(&header, &body[..cut]);
                let Err(err) = out else {
                    panic!("{dir}/{file} cut at {cut}: {out:?}")
                };
                assert!(err.reason.contains("JSON"), "{dir}/{file}: {err}");
                checked += 1;
            }
        }
    }
    assert!(checked > 400, "only {checked} truncations checked");
}

/// A handled event whose key parts have the wrong type is refused, and the reason does not
/// quote the payload.
#[test]
fn wrong_shapes_are_malformed_without_echo() {
    let cases: [(Forge, &str, &str); 5] = [
        (
            Forge::GitHub,
            "pull_request",
            r#"{"action":"opened","pull_request":"SECRET"}"#,
        ),
        (
            Forge::GitHub,
            "issue_comment",
            r#"{"action":"created","issue":{"number":1}}"#,
        ),
        (
            Forge::GitHub,
            "push",
            r#"{"ref":"refs/heads/x","repository":{"full_name":"SECRET"}}"#,
        ),
        (
            Forge::GitLab,
            "Merge Request Hook",
            r#"{"object_attributes":{"iid":"SECRET"}}"#,
        ),
        (
            Forge::GitLab,
            "Note Hook",
            r#"{"object_attributes":{"noteable_type":"Issue"}}"#,
        ),
    ];
    for (forge, header, body) in cases {
        let err = forge.normalize(header, body.as_bytes()).expect_err(header);
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// CI events.

#[track_caller]
fn ci(events: &[Event]) -> &bosun_plugins::CiEvent {
    match events.first() {
        Some(Event::Ci(c)) => c,
        other => panic!("expected a CI event, got {other:?}"),
    }
}

fn constructed(rel: &str) -> Vec<u8> {
    let path = fixtures().join("constructed").join(rel);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A completed check run: its name is the context, its conclusion the state, its PR the first.
#[test]
fn github_check_run_is_a_ci_context() {
    let evs = events(Forge::GitHub, "check_run/completed.json");
    let c = ci(&evs);
    assert_eq!(c.system, bosun_plugins::CiSystem::GithubChecks);
    assert_eq!(c.repo.as_str(), "Codertocat/Hello-World");
    assert_eq!(c.context, "Octocoders-linter");
    assert_eq!(c.sha, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_eq!(c.state, bosun_plugins::CiState::Success);
    assert_eq!(c.number, Some(2));
    assert_eq!(c.url.as_deref(), Some("https://octocoders.io"));
    assert_eq!(c.run_id.as_deref(), Some("128620228"));
    let created = events(Forge::GitHub, "check_run/created.json");
    assert_eq!(ci(&created).state, bosun_plugins::CiState::Pending);
}

#[test]
fn github_status_and_workflow_run_are_ci_contexts() {
    let evs = events(Forge::GitHub, "status/payload.json");
    let c = ci(&evs);
    assert_eq!(c.system, bosun_plugins::CiSystem::GithubStatus);
    assert_eq!(
        (c.context.as_str(), c.state),
        ("default", bosun_plugins::CiState::Success)
    );
    assert_eq!(c.sha, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    assert_eq!(c.number, None, "a status names no PR: bosun maps the SHA");

    let body = constructed("github/workflow_run/completed.failure.json");
    let evs = events_of(Forge::GitHub, "workflow_run", &body);
    let c = ci(&evs);
    assert_eq!(c.system, bosun_plugins::CiSystem::GithubActions);
    assert_eq!(
        (c.context.as_str(), c.state),
        ("CI", bosun_plugins::CiState::Failure)
    );
    assert_eq!(
        (c.number, c.run_id.as_deref()),
        (Some(947), Some("30433642"))
    );
}

/// A GitLab MR pipeline: one `gitlab-ci` context on the MR, the pipeline's id to retry.
#[test]
fn gitlab_pipeline_is_a_ci_context() {
    let evs = events(Forge::GitLab, "pipeline/pipeline.go-gitlab.json");
    let c = ci(&evs);
    assert_eq!(c.system, bosun_plugins::CiSystem::GitlabCi);
    assert_eq!(c.repo.as_str(), "gitlab-org/gitlab-test");
    assert_eq!(
        (c.context.as_str(), c.state),
        ("gitlab-ci", bosun_plugins::CiState::Success)
    );
    assert_eq!(c.number, Some(1));
    assert_eq!(c.run_id.as_deref(), Some("31"));
    assert_eq!(
        c.url.as_deref(),
        Some("http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/31")
    );
}

/// Drone: the forge status's context, the MR from the ref, the build number to restart.
#[test]
fn drone_builds_are_ci_contexts_and_other_events_are_ignored() {
    use bosun::webhook::drone;
    let body = constructed("drone/build.updated.pr.failure.json");
    let Ok(Normalized::Events(evs)) = drone::normalize(ForgeKind::GitLab, &body) else {
        panic!("a build event")
    };
    let c = ci(&evs);
    assert_eq!(c.system, bosun_plugins::CiSystem::Drone);
    assert_eq!(c.context, "continuous-integration/drone/pr");
    assert_eq!(c.state, bosun_plugins::CiState::Failure);
    assert_eq!((c.number, c.run_id.as_deref()), (Some(1), Some("101")));
    assert_eq!(
        c.url.as_deref(),
        Some("https://drone.example.com/gitlab-org/hello-world/101")
    );
    let user = constructed("drone/user.created.json");
    assert!(matches!(
        drone::normalize(ForgeKind::GitLab, &user),
        Ok(Normalized::Ignored(_))
    ));
    assert!(
        drone::normalize(
            ForgeKind::GitLab,
            b"{\"event\":\"build\",\"action\":\"updated\"}"
        )
        .is_err()
    );
}
