//! Issue 12: what a team moving from Prow still notices, end to end on both forges and both
//! databases (reference/prow.md sections named per test).

use crate::commands;
use crate::owners::{Case, GITHUB, GITLAB, notifiers, say};
use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef};
use fake_forge::{ChangedFile, RepoLabel};

/// GitLab runs a bare `/approve` itself; bosun's command there is `/bosun-approve`.
fn approve_command(forge: ForgeKind) -> &'static str {
    match forge {
        ForgeKind::GitHub => "/approve",
        ForgeKind::GitLab => "/bosun-approve",
    }
}

/// A PR at `base` changing `files`.
fn seed_pr(bosun: &TestBosun, case: Case, base: &str, files: &[&str]) -> ItemRef {
    let pr = bosun
        .forge
        .seed_pr(case.forge, case.repo, case.number, case.author);
    bosun.forge.update_item(&pr, |i| {
        i.base_sha = base.to_string();
        i.changed_files = files
            .iter()
            .map(|p| ChangedFile {
                path: p.to_string(),
                previous_path: None,
                additions: 1,
                deletions: 0,
            })
            .collect();
    });
    pr
}

/// Prow's `owners.mdyamlrepos` (§4.1) is per repo: a `.md` file's front matter owns it in the
/// listed repo (its approver's `/approve` approves) and nowhere else.
#[tokio::test]
async fn markdown_front_matter_per_repo_as_prows_mdyamlrepos() {
    for db in databases() {
        for case in [GITHUB, GITLAB] {
            for (listed, owns) in [(case.repo, true), ("elsewhere/other", false)] {
                let mut options = Options::new(db);
                options.extra = format!(
                    "[plugins.\"{}\"]\nenabled = [\"approve\"]\n[owners]\nmarkdown_front_matter_repos = [\"{listed}\"]\n",
                    case.owner
                );
                let bosun = spawn_bosun(options).await;
                let base = bosun.forge.seed_commit(
                    case.forge,
                    case.repo,
                    &[
                        ("OWNERS", b"approvers: [alice]\n".as_slice()),
                        (
                            "docs/guide.md",
                            b"---\napprovers: [writer]\n---\n# Guide\n".as_slice(),
                        ),
                    ],
                );
                bosun.forge.ensure_user("writer");
                let pr = seed_pr(&bosun, case, &base, &["docs/guide.md"]);
                say(&bosun, case, &pr, "writer", approve_command(case.forge)).await;
                let what = format!("{db:?} {:?} listed {listed}", case.forge);
                assert_eq!(
                    bosun.forge.labels(&pr).contains(&"approved".to_string()),
                    owns,
                    "{what}: {:?}",
                    notifiers(&bosun, &pr)
                );
                bosun.shutdown().await;
            }
        }
    }
}

/// Adds labels to the repo on the fake forge.
fn repo_labels(bosun: &TestBosun, case: Case, names: &[&str]) {
    bosun.forge.update(|w| {
        for name in names {
            let id = w.next_id();
            w.ensure_repo(case.forge, case.repo).labels.push(RepoLabel {
                id,
                name: name.to_string(),
                color: "ededed".into(),
                description: None,
            });
        }
    });
}

/// Prow label (§3.4): `/triage accepted` from someone outside the org is refused in Prow's
/// words, "Only GitHub organization members …" (on GitLab: group members).
#[tokio::test]
async fn triage_accepted_refusal_in_prows_words() {
    for db in databases() {
        for case in [GITHUB, GITLAB] {
            let mut options = Options::new(db);
            options.extra = format!("[plugins.\"{}\"]\nenabled = [\"label\"]\n", case.owner);
            let bosun = spawn_bosun(options).await;
            repo_labels(&bosun, case, &["triage/accepted"]);
            let pr = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            say(&bosun, case, &pr, "outsider", "/triage accepted").await;
            let expected = match case.forge {
                ForgeKind::GitHub => {
                    "@outsider: The label `triage/accepted` cannot be applied. Only GitHub organization members can add the label."
                }
                ForgeKind::GitLab => {
                    "@outsider: The label `triage/accepted` cannot be applied. Only GitLab group members can add the label."
                }
            };
            let replies: Vec<String> = bosun
                .forge
                .comments(&pr)
                .into_iter()
                .filter(|c| c.author == BOT)
                .map(|c| c.body)
                .collect();
            assert!(
                replies.iter().any(|b| b.starts_with(expected)),
                "{db:?} {:?}: {replies:?}",
                case.forge
            );
            assert!(
                !bosun
                    .forge
                    .labels(&pr)
                    .contains(&"triage/accepted".to_string())
            );
            bosun.shutdown().await;
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Prow lgtm (§3.1, `store_tree_hash`): when `lgtm` goes — `/lgtm cancel` or a push that resets
/// it — the PR's current assignees are asked to review again (the author never).
#[tokio::test]
async fn lgtm_removed_asks_the_assignees_to_review_again() {
    for db in databases() {
        let _db = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _forge = Combination::new(case.forge);
            let settings = format!(
                "[settings.lgtm.\"{}\"]\nstore_tree_hash = true\n",
                case.repo
            );
            let bosun = spawn_bosun(commands::options(db, &settings)).await;
            let pr = commands::setup(&bosun, case).await;
            let assignees = vec!["alice".to_string(), "bob".to_string(), case.author.into()];
            bosun.forge.update_item(&pr, |i| i.assignees = assignees);
            bosun.forge.set_labels(&pr, &["lgtm"]);

            commands::say(&bosun, case, "alice", "/lgtm cancel").await;
            assert!(bosun.forge.labels(&pr).is_empty());
            assert_eq!(
                sorted(bosun.forge.item(&pr).requested_reviewers),
                vec!["alice", "bob"]
            );

            bosun.forge.set_labels(&pr, &["lgtm"]);
            bosun
                .forge
                .update_item(&pr, |i| i.requested_reviewers.clear());
            let (event, body) = case.pushed();
            let id = uuid::Uuid::new_v4().to_string();
            let (status, text) = bosun.post(case.forge, event, &id, &body).await;
            assert_eq!(status, 202, "{text}");
            bosun.run_until_idle().await;
            assert!(bosun.forge.labels(&pr).is_empty(), "new commits reset lgtm");
            assert_eq!(
                sorted(bosun.forge.item(&pr).requested_reviewers),
                vec!["alice", "bob"]
            );
            bosun.shutdown().await;
        }
    }
}

/// Prow lgtm with `owners.skip_collaborators` (§3.1, §4.3): OWNERS reviewers and approvers of
/// the changed files may `/lgtm` without being collaborators and are not assigned; a
/// collaborator outside OWNERS gets Prow's reply, even to cancel.
#[tokio::test]
async fn skip_collaborators_lets_owners_decide_who_may_lgtm() {
    for db in databases() {
        let _db = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _forge = Combination::new(case.forge);
            let extra = format!("[owners]\nskip_collaborators = [\"{}\"]\n", case.repo);
            let bosun = spawn_bosun(commands::options(db, &extra)).await;
            let pr = commands::setup(&bosun, case).await;
            let base = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[(
                    "OWNERS",
                    b"approvers: [lead]\nreviewers: [rev]\n".as_slice(),
                )],
            );
            bosun.forge.ensure_user("rev");
            bosun.forge.update_item(&pr, |i| {
                i.base_sha = base.clone();
                i.changed_files = vec![ChangedFile {
                    path: "main.go".into(),
                    previous_path: None,
                    additions: 1,
                    deletions: 0,
                }];
            });

            commands::say(&bosun, case, "rev", "/lgtm").await;
            assert_eq!(bosun.forge.labels(&pr), vec!["lgtm"]);
            assert!(
                !bosun.forge.item(&pr).assignees.contains(&"rev".to_string()),
                "the commenter is not assigned"
            );

            commands::say(&bosun, case, "alice", "/lgtm cancel").await;
            assert_eq!(
                bosun.forge.labels(&pr),
                vec!["lgtm"],
                "alice is not in OWNERS"
            );
            let replies: Vec<String> = bosun
                .forge
                .comments(&pr)
                .into_iter()
                .filter(|c| c.author == BOT)
                .map(|c| c.body)
                .collect();
            assert!(
                replies.iter().any(|b| b.starts_with(
                    "@alice: adding LGTM is restricted to approvers and reviewers in OWNERS files."
                )),
                "{replies:?}"
            );
            bosun.shutdown().await;
        }
    }
}

/// The approve notifier Prow left on a PR before bosun ran, on the same account (no marker).
const PROW_NOTIFIER: &str = "[APPROVALNOTIFIER] This PR is **NOT APPROVED**\n\nThis pull-request has been approved by:\n\n<details open>\nNeeds approval from an approver in each of these files:\n\n- **[OWNERS](https://example.com/OWNERS)**\n\nApprovers can indicate their approval by writing `/approve` in a comment\nApprovers can cancel approval by writing `/approve cancel` in a comment\n</details>\n<!-- META={\"approvers\":[\"alice\"]} -->";

/// Prow approve (§1.9, §3.2): the bot account's earlier `[APPROVALNOTIFIER]` from Prow is
/// bosun's notifier: it is taken over, never joined by a second one, whatever happens next.
#[tokio::test]
async fn prows_notifier_is_taken_over_never_doubled() {
    for db in databases() {
        let _db = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _forge = Combination::new(case.forge);
            let mut options = Options::new(db);
            options.extra = format!("[plugins.\"{}\"]\nenabled = [\"approve\"]\n", case.owner);
            let bosun = spawn_bosun(options).await;
            let base = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[("OWNERS", b"approvers: [alice]\n".as_slice())],
            );
            bosun.forge.ensure_user("alice");
            let pr = seed_pr(&bosun, case, &base, &["main.go"]);
            bosun.forge.seed_comment(&pr, BOT, PROW_NOTIFIER);
            let verb = approve_command(case.forge);
            for (body, approved) in [
                (verb.to_string(), true),
                (format!("{verb} cancel"), false),
                (verb.to_string(), true),
            ] {
                say(&bosun, case, &pr, "alice", &body).await;
                let all = notifiers(&bosun, &pr);
                assert_eq!(all.len(), 1, "after {body}: {all:#?}");
                assert!(
                    all[0].contains("<!-- bosun:approve-notifier -->"),
                    "{}",
                    all[0]
                );
                let state = if approved {
                    "**APPROVED**"
                } else {
                    "**NOT APPROVED**"
                };
                assert!(
                    all[0].starts_with(&format!("[APPROVALNOTIFIER] This PR is {state}")),
                    "after {body}: {}",
                    all[0]
                );
            }
            bosun.shutdown().await;
        }
    }
}

/// Prow lgtm (§3.1): with `store_tree_hash`, the tree hash in Prow's own notice (the bot
/// account's, without bosun's marker) counts: a push with the same tree keeps `lgtm`, a push
/// with another tree removes it.
#[tokio::test]
async fn prows_tree_hash_notice_keeps_lgtm_on_the_same_tree() {
    for db in databases() {
        let _db = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _forge = Combination::new(case.forge);
            let settings = format!(
                "[settings.lgtm.\"{}\"]\nstore_tree_hash = true\n",
                case.repo
            );
            let bosun = spawn_bosun(commands::options(db, &settings)).await;
            let pr = commands::setup(&bosun, case).await;
            let first = bosun
                .forge
                .seed_commit(case.forge, case.repo, &[("README.md", b"hello")]);
            bosun.forge.update_item(&pr, |i| i.head_sha = first.clone());
            commands::say(&bosun, case, "alice", "/lgtm").await;
            assert_eq!(bosun.forge.labels(&pr), vec!["lgtm"]);
            // Make bosun's notice Prow's: the same text, no marker.
            let notice = bosun
                .forge
                .comments(&pr)
                .into_iter()
                .find(|c| c.author == BOT && c.body.contains("Git tree hash:"))
                .expect("a tree-hash notice");
            let prows = notice.body.replace("\n\n<!-- bosun:lgtm-tree-hash -->", "");
            assert!(!prows.contains("<!--"), "{prows}");
            bosun.forge.update_item(&pr, |i| {
                i.comments.retain(|c| c.id != notice.id);
            });
            bosun.forge.seed_comment(&pr, BOT, &prows);

            let rebased =
                bosun
                    .forge
                    .seed_commit(case.forge, case.repo, &[("README.md", b"hello")]);
            push(&bosun, case, &pr, &rebased).await;
            assert_eq!(bosun.forge.labels(&pr), vec!["lgtm"], "same tree: kept");

            let changed =
                bosun
                    .forge
                    .seed_commit(case.forge, case.repo, &[("README.md", b"changed")]);
            push(&bosun, case, &pr, &changed).await;
            assert!(bosun.forge.labels(&pr).is_empty(), "new content: removed");
            let removed: Vec<String> = bosun
                .forge
                .comments(&pr)
                .into_iter()
                .filter(|c| c.author == BOT && c.body.contains("LGTM label has been removed."))
                .map(|c| c.body)
                .collect();
            assert_eq!(removed.len(), 1, "{removed:?}");
            bosun.shutdown().await;
        }
    }
}

/// Delivers new commits with head `sha` on the PR of a `commands` case.
async fn push(bosun: &TestBosun, case: commands::Case, pr: &ItemRef, sha: &str) {
    let (event, body) = case.pushed();
    let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    match case.forge {
        ForgeKind::GitHub => patch(&mut v, "/pull_request/head/sha", sha.into()),
        ForgeKind::GitLab => patch(&mut v, "/object_attributes/last_commit/id", sha.into()),
    }
    bosun
        .forge
        .update_item(pr, |i| i.head_sha = sha.to_string());
    let id = uuid::Uuid::new_v4().to_string();
    let body = serde_json::to_vec(&v).expect("json");
    let (status, text) = bosun.post(case.forge, event, &id, &body).await;
    assert_eq!(status, 202, "{text}");
    bosun.run_until_idle().await;
}
