//! `tide`: merges what is approved and green, as Prow's Tide does (Prow §6).
//!
//! Whenever something that decides a PR's readiness changes (its labels, draft state, head,
//! reviews, a CI context on its head), the PR is evaluated against the repository's merge
//! rules: every required label present (default `lgtm`, `approved`), no forbidden one (Tide's
//! documented query: `do-not-merge`, `do-not-merge/hold`, `do-not-merge/work-in-progress`,
//! `needs-ok-to-test`, `needs-rebase`, plus `do-not-merge/invalid-owners-file`), not a draft,
//! mergeable, and every CI context reported on the head passed (contexts listed `optional`
//! excepted; contexts listed `required` must have reported). A ready PR is merged with the head
//! SHA it was evaluated at, so a PR whose head moved meanwhile is refused by the forge and not
//! merged with the old SHA. The merge method is the repository's (`merge_method`), or the one
//! named by a label (`tide/merge-method-squash`, `-rebase`, `-merge`).
//!
//! Every evaluated PR carries a commit status (`bosun/merge` unless `status_context` says
//! otherwise) in Tide's words: `In merge pool.` (success) or `Not mergeable. Needs lgtm,
//! approved labels. Should not have do-not-merge/hold label.` (pending); it is set again only
//! when it changes, which bosun remembers as a fact.
//!
//! On GitLab, with `merge_when_pipeline_succeeds`, a PR that waits only for its pipeline is
//! handed to GitLab's own "merge when pipeline succeeds" (with the head SHA), once per head.
//!
//! Merges into one base branch go one at a time: the merge action names the base, and the
//! executor's merge queue lets one PR per branch merge while the others wait in the order they
//! became ready. With `retest_before_merge`, a ready PR whose head lacks commits of its base is
//! first brought up to date (GitHub's update-branch, GitLab's rebase) so that CI runs against
//! the current base; the turn to merge checks again.
//!
//! A push to a branch re-evaluates the open PRs into it (`Action::RecheckBranch`).
//!
//! Differences from Tide: bosun evaluates on events rather than polling a search query, does
//! not batch PRs, and tests a moved base by updating the PR's branch rather than running its own
//! jobs on a merge of the two (re-running a GitHub Actions run reuses its old merge commit).

use crate::{
    Action, CiContext, CiState, CommandHelp, CommitStatus, Context, Event, Fact, ForgeKind,
    ItemRef, ItemState, MergeMethod, Plugin, PluginError, PluginHelp, PrAction, StatusState,
};
use async_trait::async_trait;
use serde::Deserialize;

/// `[settings.tide."org"]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TideSettings {
    /// Labels a PR must carry.
    pub required_labels: Vec<String>,
    /// Labels a PR must not carry.
    pub forbidden_labels: Vec<String>,
    /// CI contexts that must have reported success even before they report at all.
    pub required_contexts: Vec<String>,
    /// CI contexts whose state does not hold up a merge.
    pub optional_contexts: Vec<String>,
    /// Only PRs into these base branches (empty: all).
    pub branches: Vec<String>,
    /// Never PRs into these base branches.
    pub excluded_branches: Vec<String>,
    /// Only PRs in this milestone (empty: any, or none).
    pub milestone: String,
    /// Only PRs by these authors (empty: anyone).
    pub authors: Vec<String>,
    /// The merge commit's title: `{title}`, `{number}`, `{author}`, `{head_ref}`, `{base_ref}`
    /// are filled in (Tide's `merge_commit_template`). Empty: the forge's default.
    pub commit_title: String,
    /// The merge commit's body, with the same placeholders and `{body}` (the PR description).
    /// Used only with a `commit_title`.
    pub commit_body: String,
    /// How to merge unless a label says otherwise.
    pub merge_method: MergeMethod,
    pub squash_label: String,
    pub rebase_label: String,
    pub merge_label: String,
    /// The commit status bosun sets on every evaluated PR.
    pub status_context: String,
    /// GitLab: a PR that waits only for its pipeline is handed to GitLab's "merge when
    /// pipeline succeeds" instead of waiting for bosun to see the pipeline pass.
    pub merge_when_pipeline_succeeds: bool,
    /// Merge a PR only while its head contains its base branch's tip: a ready PR whose base
    /// moved since its CI ran is brought up to date first (GitHub's update-branch, GitLab's
    /// rebase), and merges once CI passes on the new head.
    pub retest_before_merge: bool,
}

impl Default for TideSettings {
    fn default() -> Self {
        TideSettings {
            required_labels: vec!["lgtm".into(), "approved".into()],
            forbidden_labels: [
                "do-not-merge",
                "do-not-merge/hold",
                "do-not-merge/work-in-progress",
                "do-not-merge/invalid-owners-file",
                "needs-ok-to-test",
                "needs-rebase",
            ]
            .map(String::from)
            .to_vec(),
            required_contexts: Vec::new(),
            optional_contexts: Vec::new(),
            branches: Vec::new(),
            excluded_branches: Vec::new(),
            milestone: String::new(),
            authors: Vec::new(),
            commit_title: String::new(),
            commit_body: String::new(),
            merge_method: MergeMethod::Merge,
            squash_label: "tide/merge-method-squash".into(),
            rebase_label: "tide/merge-method-rebase".into(),
            merge_label: "tide/merge-method-merge".into(),
            status_context: "bosun/merge".into(),
            merge_when_pipeline_succeeds: false,
            retest_before_merge: false,
        }
    }
}

/// Where a PR stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// Tide's status text: `In merge pool.` or `Not mergeable. …`.
    pub description: String,
    /// Not ready only because CI contexts have not finished.
    pub only_waiting: bool,
}

/// `lgtm label`, `lgtm, approved labels` (Tide's order for labels).
fn list(names: &[&str], one: &str, many: &str) -> String {
    match names {
        [name] => format!("{name} {one}"),
        _ => format!("{} {many}", names.join(", ")),
    }
}

/// `context ci/foo`, `contexts a, b`.
fn named(names: &[&str], one: &str, many: &str) -> String {
    match names {
        [name] => format!("{one} {name}"),
        _ => format!("{many} {}", names.join(", ")),
    }
}

/// Evaluates a PR against the merge rules: pure, so the resync and the page can share it.
pub fn evaluate(
    settings: &TideSettings,
    labels: &[String],
    draft: bool,
    mergeable: Option<bool>,
    forge_blocker: Option<&str>,
    contexts: &[CiContext],
) -> Readiness {
    let has = |l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    let mut reasons = Vec::new();
    let missing: Vec<&str> = settings
        .required_labels
        .iter()
        .map(String::as_str)
        .filter(|l| !has(l))
        .collect();
    if !missing.is_empty() {
        reasons.push(format!("Needs {}.", list(&missing, "label", "labels")));
    }
    let forbidden: Vec<&str> = settings
        .forbidden_labels
        .iter()
        .map(String::as_str)
        .filter(|l| has(l))
        .collect();
    if !forbidden.is_empty() {
        reasons.push(format!(
            "Should not have {}.",
            list(&forbidden, "label", "labels")
        ));
    }
    if draft {
        reasons.push("Is a draft.".into());
    }
    if mergeable == Some(false) {
        reasons.push("Has a merge conflict.".into());
    }
    // The forge's own rules (GitLab's required approvals, say) are read, never bypassed.
    if let Some(blocker) = forge_blocker {
        reasons.push(blocker.to_string());
    }
    let counted = |c: &&CiContext| {
        c.context != settings.status_context && !settings.optional_contexts.contains(&c.context)
    };
    let failed: Vec<&str> = contexts
        .iter()
        .filter(counted)
        .filter(|c| {
            matches!(
                c.state,
                CiState::Failure | CiState::Error | CiState::Cancelled
            )
        })
        .map(|c| c.context.as_str())
        .collect();
    if !failed.is_empty() {
        reasons.push(format!(
            "Required {} failed.",
            named(&failed, "context", "contexts")
        ));
    }
    let waiting: Vec<&str> = contexts
        .iter()
        .filter(counted)
        .filter(|c| c.state == CiState::Pending)
        .map(|c| c.context.as_str())
        .chain(
            settings
                .required_contexts
                .iter()
                .filter(|r| !contexts.iter().any(|c| &c.context == *r))
                .map(String::as_str),
        )
        .collect();
    // Testing against the current base means CI must have run on this head: a head nothing
    // reported on yet (just pushed, or just brought up to date) waits for it.
    let reported = contexts
        .iter()
        .any(|c| c.context != settings.status_context);
    let no_ci_yet = settings.retest_before_merge && !reported && waiting.is_empty();
    let only_waiting = reasons.is_empty() && (!waiting.is_empty() || no_ci_yet);
    if !waiting.is_empty() {
        reasons.push(format!(
            "Waiting for {}.",
            named(&waiting, "context", "contexts")
        ));
    } else if no_ci_yet {
        reasons.push("Waiting for CI to report on this head.".into());
    }
    if reasons.is_empty() {
        Readiness {
            ready: true,
            description: "In merge pool.".into(),
            only_waiting,
        }
    } else {
        Readiness {
            ready: false,
            description: format!("Not mergeable. {}", reasons.join(" ")),
            only_waiting,
        }
    }
}

/// Why the forge refused to merge `head` for good, if it did: that head is not tried again.
pub fn refusal(facts: &[Fact], head: &str) -> Option<String> {
    facts.iter().find_map(|f| match f {
        Fact::MergeRefused { sha, reason } if sha == head => Some(reason.clone()),
        _ => None,
    })
}

/// The verdict for a head the forge refused to merge.
pub fn refused(reason: &str) -> Readiness {
    Readiness {
        ready: false,
        description: format!("Not mergeable. The forge refused the merge: {reason}"),
        only_waiting: false,
    }
}

/// The verdict for a ready PR whose head lacks commits of its base (`retest_before_merge`).
pub fn behind_base() -> Readiness {
    Readiness {
        ready: false,
        description:
            "In merge pool. Its base moved since CI ran: updating the branch to test it again."
                .into(),
        only_waiting: false,
    }
}

/// A push to a branch moves the base of every PR into it: their conflicts and readiness are
/// looked at again (tide and needs-rebase both ask; the deliveries it queues are named by the
/// new tip, so asking twice queues them once).
pub fn recheck_branch(event: &Event) -> Option<Action> {
    let Event::Push(push) = event else {
        return None;
    };
    let branch = push.git_ref.strip_prefix("refs/heads/")?;
    let deleted = push.after.is_empty() || push.after.bytes().all(|b| b == b'0');
    if deleted {
        return None;
    }
    Some(Action::RecheckBranch {
        forge: push.forge,
        repo: push.repo.clone(),
        branch: branch.to_string(),
        sha: push.after.clone(),
    })
}

/// Whether tide looks after this PR at all (Tide's query: branches, milestone, authors).
pub fn in_scope(settings: &TideSettings, pr: &crate::PullRequestInfo) -> bool {
    let branch = &pr.base_ref;
    (settings.branches.is_empty() || settings.branches.contains(branch))
        && !settings.excluded_branches.contains(branch)
        && (settings.milestone.is_empty() || pr.milestone.as_ref() == Some(&settings.milestone))
        && (settings.authors.is_empty()
            || settings
                .authors
                .iter()
                .any(|a| a.eq_ignore_ascii_case(pr.author.as_str())))
}

/// The merge commit's message from the templates, if a title template is set.
pub fn commit_message(
    settings: &TideSettings,
    number: u64,
    pr: &crate::PullRequestInfo,
) -> Option<crate::CommitMessage> {
    if settings.commit_title.is_empty() {
        return None;
    }
    let vars: std::collections::BTreeMap<&str, String> = [
        ("title", pr.title.clone()),
        ("number", number.to_string()),
        ("author", pr.author.to_string()),
        ("head_ref", pr.head_ref.clone()),
        ("base_ref", pr.base_ref.clone()),
        ("body", pr.body.clone()),
    ]
    .into_iter()
    .collect();
    Some(crate::CommitMessage {
        title: crate::notify::render(&settings.commit_title, &vars),
        body: crate::notify::render(&settings.commit_body, &vars),
    })
}

/// The merge method for a PR: a method label wins over the repository's setting.
pub fn merge_method(settings: &TideSettings, labels: &[String]) -> MergeMethod {
    let has = |l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    if has(&settings.squash_label) {
        MergeMethod::Squash
    } else if has(&settings.rebase_label) {
        MergeMethod::Rebase
    } else if has(&settings.merge_label) {
        MergeMethod::Merge
    } else {
        settings.merge_method
    }
}

/// A status description as the forge keeps it: GitHub cuts descriptions at 140 characters.
pub fn status_text(text: &str) -> String {
    const MAX: usize = 140;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX - 1).collect();
    out.push('…');
    out
}

/// The tide plugin.
pub struct Tide;

impl Tide {
    /// The PR an event may change the readiness of.
    fn subject(event: &Event) -> Option<ItemRef> {
        match event {
            Event::PullRequest(p) => match p.action {
                PrAction::Closed | PrAction::Merged => None,
                _ => Some(p.pr.reference.clone()),
            },
            Event::Comment(c) if c.review.is_some() && c.item.is_pr() => {
                Some(c.item.reference.clone())
            }
            Event::Ci(ci) => ci.number.map(|number| ItemRef {
                forge: ci.forge,
                repo: ci.repo.clone(),
                kind: crate::ItemKind::PullRequest,
                number,
            }),
            _ => None,
        }
    }
}

#[async_trait]
impl Plugin for Tide {
    fn name(&self) -> &'static str {
        "tide"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Merges pull requests that are approved and green (required labels, no forbidden ones, not a draft, mergeable, CI passed), and says on each why it is or is not merging.",
            commands: vec![CommandHelp {
                usage: "(no command: add the tide/merge-method-squash, -rebase or -merge label to choose how)",
                description: "Merges a ready pull request with the head it was evaluated at; its `bosun/merge` status says why not otherwise.",
                examples: vec![],
                who_can_use: "Anyone who can set the labels",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<TideSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        if let Some(recheck) = recheck_branch(event) {
            return Ok(vec![recheck]);
        }
        let Some(item) = Self::subject(event) else {
            return Ok(vec![]);
        };
        let settings: TideSettings = cx.settings()?;
        let pr = cx.forge.pull_request(&item).await?;
        if pr.state != ItemState::Open || !in_scope(&settings, &pr) {
            return Ok(vec![]);
        }
        let mut contexts = cx
            .history
            .ci_contexts(item.forge, &item.repo, &pr.head_sha)
            .await;
        // The store keeps a CI event's state only after plugins decided on it: the event
        // itself is the newest word on its context.
        if let Event::Ci(ci) = event
            && ci.sha == pr.head_sha
        {
            contexts.retain(|c| c.context != ci.context);
            contexts.push(CiContext {
                context: ci.context.clone(),
                system: ci.system,
                state: ci.state,
                url: ci.url.clone(),
                run_id: ci.run_id.clone(),
            });
        }
        let facts = cx.history.facts(&item).await;
        let mut readiness = match refusal(&facts, &pr.head_sha) {
            Some(reason) => refused(&reason),
            None => evaluate(
                &settings,
                &pr.labels,
                pr.draft,
                pr.mergeable,
                pr.forge_blocker.as_deref(),
                &contexts,
            ),
        };
        let mut update_branch = false;
        if readiness.ready
            && settings.retest_before_merge
            && cx
                .forge
                .commits_behind(&item.repo, &pr.base_ref, &pr.head_sha)
                .await?
                > 0
        {
            readiness = behind_base();
            update_branch = true;
        }
        let auto = settings.merge_when_pipeline_succeeds
            && item.forge == ForgeKind::GitLab
            && readiness.only_waiting;
        if auto {
            readiness = Readiness {
                ready: true,
                description: "In merge pool. GitLab merges it when its pipeline succeeds.".into(),
                only_waiting: true,
            };
        }
        let description = status_text(&readiness.description);
        let mut actions = Vec::new();
        let said = facts.into_iter().any(|f| {
            f == Fact::Merge {
                sha: pr.head_sha.clone(),
                ready: readiness.ready,
                description: description.clone(),
            }
        });
        if !said {
            actions.push(Action::SetStatus {
                forge: item.forge,
                repo: item.repo.clone(),
                sha: pr.head_sha.clone(),
                status: CommitStatus {
                    state: if readiness.ready {
                        StatusState::Success
                    } else {
                        StatusState::Pending
                    },
                    context: settings.status_context.clone(),
                    description: description.clone(),
                    target_url: None,
                },
            });
            actions.push(Action::Remember {
                item: item.clone(),
                fact: Fact::Merge {
                    sha: pr.head_sha.clone(),
                    ready: readiness.ready,
                    description,
                },
            });
        }
        if auto {
            if !said {
                actions.push(Action::AutoMerge {
                    item,
                    method: merge_method(&settings, &pr.labels),
                    sha: pr.head_sha,
                });
            }
        } else if update_branch {
            if !said {
                actions.push(Action::UpdateBranch {
                    item,
                    sha: pr.head_sha,
                });
            }
        } else if readiness.ready {
            actions.push(Action::Merge {
                method: merge_method(&settings, &pr.labels),
                commit: commit_message(&settings, item.number, &pr),
                item,
                sha: Some(pr.head_sha),
                base: Some(pr.base_ref),
                up_to_date: settings.retest_before_merge,
            });
        }
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, pr_event};
    use crate::{CiSystem, PrAction};

    fn ctx(name: &str, state: CiState) -> CiContext {
        CiContext {
            context: name.into(),
            system: CiSystem::GithubStatus,
            state,
            url: None,
            run_id: None,
        }
    }

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn readiness_in_tides_words() {
        let s = TideSettings::default();
        let ok = evaluate(
            &s,
            &labels(&["lgtm", "approved"]),
            false,
            Some(true),
            None,
            &[],
        );
        assert_eq!(ok.description, "In merge pool.");
        assert!(ok.ready);
        let none = evaluate(&s, &[], false, None, None, &[]);
        assert_eq!(
            none.description,
            "Not mergeable. Needs lgtm, approved labels."
        );
        let held = evaluate(
            &s,
            &labels(&["lgtm", "do-not-merge/hold"]),
            false,
            Some(true),
            None,
            &[],
        );
        assert_eq!(
            held.description,
            "Not mergeable. Needs approved label. Should not have do-not-merge/hold label."
        );
    }

    #[test]
    fn required_contexts_block_and_optional_ones_do_not() {
        let s = TideSettings {
            optional_contexts: vec!["ci/optional".into()],
            required_contexts: vec!["ci/must".into()],
            ..TideSettings::default()
        };
        let l = labels(&["lgtm", "approved"]);
        let red = evaluate(
            &s,
            &l,
            false,
            Some(true),
            None,
            &[
                ctx("ci/foo", CiState::Failure),
                ctx("ci/optional", CiState::Failure),
                ctx("ci/must", CiState::Success),
                ctx("bosun/merge", CiState::Pending),
            ],
        );
        assert_eq!(
            red.description,
            "Not mergeable. Required context ci/foo failed."
        );
        let waiting = evaluate(
            &s,
            &l,
            false,
            Some(true),
            None,
            &[ctx("ci/foo", CiState::Success)],
        );
        assert_eq!(
            waiting.description,
            "Not mergeable. Waiting for context ci/must."
        );
        let green = evaluate(
            &s,
            &l,
            false,
            Some(true),
            None,
            &[
                ctx("ci/must", CiState::Success),
                ctx("ci/optional", CiState::Failure),
            ],
        );
        assert!(green.ready);
    }

    #[test]
    fn a_method_label_wins() {
        let s = TideSettings::default();
        assert_eq!(merge_method(&s, &[]), MergeMethod::Merge);
        assert_eq!(
            merge_method(&s, &labels(&["tide/merge-method-squash"])),
            MergeMethod::Squash
        );
    }

    #[tokio::test]
    async fn a_ready_pr_merges_at_its_head_and_the_status_is_said_once() {
        let forge = MemoryForge::default();
        forge.with(|s| s.pr.labels = labels(&["lgtm", "approved"]));
        let event = pr_event(PrAction::Labeled {
            label: "approved".into(),
        });
        let actions = forge.run(&Tide, &event).await.expect("handled");
        assert!(actions.iter().any(|a| matches!(a,
            Action::Merge { sha: Some(sha), method: MergeMethod::Merge, .. } if sha == "head0")));
        assert!(
            actions.iter().any(|a| matches!(a,
            Action::SetStatus { status, .. }
                if status.description == "In merge pool." && status.state == StatusState::Success))
        );
        let fact = actions
            .iter()
            .find_map(|a| match a {
                Action::Remember { fact, .. } => Some(fact.clone()),
                _ => None,
            })
            .expect("remembered");
        forge.with(|s| s.facts = vec![fact]);
        let again = forge.run(&Tide, &event).await.expect("handled");
        assert!(
            !again.iter().any(|a| matches!(a, Action::SetStatus { .. })),
            "unchanged status is not set again: {again:?}"
        );
    }

    #[tokio::test]
    async fn a_ready_pr_behind_its_base_is_updated_once_instead_of_merged() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.pr.labels = labels(&["lgtm", "approved"]);
            s.ci = vec![ctx("ci/unit", CiState::Success)];
            s.behind = 2;
        });
        let settings = serde_json::json!({ "retest_before_merge": true });
        let event = pr_event(PrAction::Labeled {
            label: "approved".into(),
        });
        let actions = forge
            .run_with(&Tide, &event, &settings)
            .await
            .expect("handled");
        assert!(!actions.iter().any(|a| matches!(a, Action::Merge { .. })));
        assert!(actions.iter().any(|a| matches!(a,
            Action::UpdateBranch { sha, .. } if sha == "head0")));
        let fact = actions
            .iter()
            .find_map(|a| match a {
                Action::Remember { fact, .. } => Some(fact.clone()),
                _ => None,
            })
            .expect("remembered");
        forge.with(|s| s.facts = vec![fact]);
        let again = forge
            .run_with(&Tide, &event, &settings)
            .await
            .expect("handled");
        assert!(
            !again
                .iter()
                .any(|a| matches!(a, Action::UpdateBranch { .. })),
            "asked once per head: {again:?}"
        );

        forge.with(|s| {
            s.behind = 0;
            s.facts.clear();
        });
        let actions = forge
            .run_with(&Tide, &event, &settings)
            .await
            .expect("handled");
        assert!(actions.iter().any(|a| matches!(a,
            Action::Merge { base: Some(base), up_to_date: true, .. } if base == "main")));
    }

    #[test]
    fn with_retest_before_merge_a_head_without_ci_waits_for_it() {
        let s = TideSettings {
            retest_before_merge: true,
            ..TideSettings::default()
        };
        let l = labels(&["lgtm", "approved"]);
        let none = evaluate(&s, &l, false, Some(true), None, &[]);
        assert_eq!(
            none.description,
            "Not mergeable. Waiting for CI to report on this head."
        );
        assert!(none.only_waiting);
        let green = evaluate(
            &s,
            &l,
            false,
            Some(true),
            None,
            &[ctx("ci/unit", CiState::Success)],
        );
        assert!(green.ready);
        assert!(evaluate(&TideSettings::default(), &l, false, Some(true), None, &[]).ready);
    }

    #[test]
    fn a_push_to_a_branch_rechecks_it_and_tags_or_deletions_do_not() {
        let push = |git_ref: &str, after: &str| {
            Event::Push(crate::PushEvent {
                default_branch: None,
                changed_paths: None,
                forge: ForgeKind::GitHub,
                repo: crate::RepoPath::parse("o/r").expect("repo"),
                git_ref: git_ref.into(),
                before: "a".repeat(40),
                after: after.into(),
                pusher: crate::Login::new("p"),
            })
        };
        assert!(matches!(
            recheck_branch(&push("refs/heads/main", &"b".repeat(40))),
            Some(Action::RecheckBranch { branch, .. }) if branch == "main"
        ));
        assert_eq!(recheck_branch(&push("refs/tags/v1", &"b".repeat(40))), None);
        assert_eq!(
            recheck_branch(&push("refs/heads/gone", &"0".repeat(40))),
            None
        );
    }

    #[test]
    fn the_query_filters_branches_milestone_and_authors() {
        let mut pr = MemoryForge::default().with(|s| s.pr.clone());
        let s = TideSettings {
            excluded_branches: vec!["release".into()],
            milestone: "v1.2".into(),
            authors: vec!["PR-Author".into()],
            ..TideSettings::default()
        };
        assert!(!in_scope(&s, &pr), "not in the milestone");
        pr.milestone = Some("v1.2".into());
        assert!(in_scope(&s, &pr));
        pr.base_ref = "release".into();
        assert!(!in_scope(&s, &pr), "an excluded branch");
        pr.base_ref = "main".into();
        pr.author = crate::Login::new("someone-else");
        assert!(!in_scope(&s, &pr), "another author");
        assert!(in_scope(&TideSettings::default(), &pr));
    }

    #[test]
    fn the_commit_message_fills_its_templates() {
        let pr = MemoryForge::default().with(|s| s.pr.clone());
        assert_eq!(commit_message(&TideSettings::default(), 7, &pr), None);
        let s = TideSettings {
            commit_title: "{title} (#{number})".into(),
            commit_body: "by @{author} into {base_ref}".into(),
            ..TideSettings::default()
        };
        assert_eq!(
            commit_message(&s, 7, &pr),
            Some(crate::CommitMessage {
                title: "A change (#7)".into(),
                body: "by @pr-author into main".into(),
            })
        );
    }

    #[tokio::test]
    async fn a_held_pr_does_not_merge() {
        let forge = MemoryForge::default();
        forge.with(|s| s.pr.labels = labels(&["lgtm", "approved", "do-not-merge/hold"]));
        let actions = forge
            .run(
                &Tide,
                &pr_event(PrAction::Labeled {
                    label: "do-not-merge/hold".into(),
                }),
            )
            .await
            .expect("handled");
        assert!(!actions.iter().any(|a| matches!(a, Action::Merge { .. })));
        assert!(actions.iter().any(|a| matches!(a,
            Action::SetStatus { status, .. }
                if status.description == "Not mergeable. Should not have do-not-merge/hold label.")));
    }
}
