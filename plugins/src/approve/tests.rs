//! approve's plugin tests against the in-memory forge.

use super::*;
use crate::forge::ChangedFile;
use crate::forge::{BotComment, Review};
use crate::testing::{MemoryForge, comment_on_pr};
use serde_json::json;

/// A repo with a root OWNERS (alice), `a/` (bob) and `b/` (carol), and a PR touching
/// `a/x.go` and `b/y.go`.
fn forge() -> MemoryForge {
    let forge = MemoryForge::default();
    forge.with(|s| {
        s.files
            .insert("OWNERS".into(), b"approvers: [Alice]\n".to_vec());
        s.files
            .insert("a/OWNERS".into(), b"approvers: [bob]\n".to_vec());
        s.files
            .insert("b/OWNERS".into(), b"approvers: [carol]\n".to_vec());
        s.changed_files = ["a/x.go", "b/y.go"]
            .iter()
            .map(|p| ChangedFile {
                path: p.to_string(),
                previous_path: None,
                additions: 1,
                deletions: 0,
            })
            .collect();
    });
    forge
}

/// Writes a comment on the forge (history) and returns its event.
fn say(forge: &MemoryForge, who: &str, body: &str) -> Event {
    forge.with(|s| {
        let id = s.comments.len() as u64 + 100;
        s.comments.push(BotComment {
            id,
            author: Login::new(who),
            body: body.into(),
            created_at: format!("2024-01-01T01:00:{:02}Z", id % 60),
        });
    });
    comment_on_pr(who, body)
}

fn notifier(actions: &[Action]) -> Option<&str> {
    actions.iter().find_map(|a| match a {
        Action::UpsertBotComment { marker, body, .. } if marker == NOTIFIER_MARKER => {
            Some(body.as_str())
        }
        _ => None,
    })
}

fn adds_label(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::AddLabel { label, .. } if label == LABEL))
}

fn removes_label(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::RemoveLabel { label, .. } if label == LABEL))
}

/// Applies the notifier as the executor would, so the next run sees it.
fn post_notifier(forge: &MemoryForge, actions: &[Action]) {
    if let Some(body) = notifier(actions) {
        forge.with(|s| {
            s.comments
                .retain(|c| !c.body.starts_with("[APPROVALNOTIFIER]"));
            s.comments.push(BotComment {
                id: 999,
                author: Login::new("bosun-bot"),
                body: crate::marker::append(body, &crate::marker::notice(NOTIFIER_MARKER)),
                created_at: "2024-01-01T02:00:00Z".into(),
            });
        });
    }
}

#[tokio::test]
async fn a_root_approver_approves_every_file() {
    let forge = forge();
    let actions = forge
        .run(&Approve, &say(&forge, "alice", "/approve"))
        .await
        .unwrap();
    assert!(adds_label(&actions), "{actions:?}");
    let body = notifier(&actions).unwrap();
    assert!(
        body.starts_with("[APPROVALNOTIFIER] This PR is **APPROVED**"),
        "{body}"
    );
    assert!(body.contains("title=\"Approved\">alice</a>"), "{body}");
    // The root approves everything, but the files' own OWNERS are the ones listed.
    for dir in ["a", "b"] {
        let line = format!(
            "- ~~[{dir}/OWNERS](https://github.com/org/repo/blob/main/{dir}/OWNERS)~~ [alice]"
        );
        assert!(body.contains(&line), "{body}");
    }
    assert!(body.contains("<details >"), "{body}");
    assert!(
        body.contains("The pull request process is described [here]("),
        "{body}"
    );
    assert!(body.ends_with("<!-- META={\"approvers\":[]} -->"), "{body}");
    assert!(body.contains("command-help?repo=org%2Frepo"), "{body}");
    let approvals = actions.iter().find_map(|a| match a {
        Action::Remember {
            fact: crate::Fact::Approvals { by },
            ..
        } => Some(by.clone()),
        _ => None,
    });
    assert_eq!(
        approvals,
        Some(vec![
            crate::Approver {
                login: "alice".into(),
                how: "Approved".into()
            },
            crate::Approver {
                login: "pr-author".into(),
                how: "Author self-approved".into()
            }
        ]),
        "who approves is reported as a fact with the notice"
    );
}

#[tokio::test]
async fn coverage_is_per_owners_file() {
    let forge = forge();
    let actions = forge
        .run(&Approve, &say(&forge, "bob", "/approve"))
        .await
        .unwrap();
    assert!(!adds_label(&actions));
    let body = notifier(&actions).unwrap();
    assert!(
        body.starts_with("[APPROVALNOTIFIER] This PR is **NOT APPROVED**"),
        "{body}"
    );
    assert!(
        body.contains("- ~~[a/OWNERS](https://github.com/org/repo/blob/main/a/OWNERS)~~ [bob]"),
        "{body}"
    );
    assert!(
        body.contains("- **[b/OWNERS](https://github.com/org/repo/blob/main/b/OWNERS)**"),
        "{body}"
    );
    assert!(
        body.contains("please assign [carol](https://github.com/carol) for approval"),
        "{body}"
    );
    assert!(
        body.contains("<!-- META={\"approvers\":[\"carol\"]} -->"),
        "{body}"
    );
    assert!(body.contains("<details open>"), "{body}");
    assert!(
        !body.contains("The pull request process is described"),
        "{body}"
    );
    post_notifier(&forge, &actions);
    let actions = forge
        .run(&Approve, &say(&forge, "Carol", "/approve"))
        .await
        .unwrap();
    assert!(adds_label(&actions), "{actions:?}");
    let body = notifier(&actions).unwrap();
    assert!(
        body.contains("~~[b/OWNERS](https://github.com/org/repo/blob/main/b/OWNERS)~~ [Carol]"),
        "{body}"
    );
}

#[tokio::test]
async fn anyone_may_approve_but_it_covers_nothing_for_non_owners() {
    let forge = forge();
    let actions = forge
        .run(&Approve, &say(&forge, "mallory", "/approve"))
        .await
        .unwrap();
    let body = notifier(&actions).unwrap();
    assert!(body.contains("title=\"Approved\">mallory</a>"), "{body}");
    assert!(body.contains("**NOT APPROVED**"));
    assert!(!adds_label(&actions));
}

#[tokio::test]
async fn cancel_and_remove_approve_withdraw_and_the_label_goes() {
    for cancel in [
        "/approve cancel",
        "/remove-approve",
        "/APPROVE   please cancel it",
    ] {
        let forge = forge();
        say(&forge, "alice", "/approve");
        forge.set_labels(&["approved"]);
        let actions = forge
            .run(&Approve, &say(&forge, "alice", cancel))
            .await
            .unwrap();
        assert!(removes_label(&actions), "{cancel}: {actions:?}");
        assert!(notifier(&actions).unwrap().contains("**NOT APPROVED**"));
    }
}

#[tokio::test]
async fn the_author_approves_implicitly_unless_self_approval_is_required() {
    let forge = forge();
    forge.with(|s| s.pr.author = Login::new("alice"));
    let actions = forge
        .run(&Approve, &say(&forge, "someone", "/approve"))
        .await
        .unwrap();
    assert!(adds_label(&actions), "{actions:?}");
    assert!(
        notifier(&actions)
            .unwrap()
            .contains("title=\"Author self-approved\">alice</a>")
    );
    let strict = json!({ "require_self_approval": true });
    let actions = forge
        .run_with(&Approve, &say(&forge, "someone", "/approve"), &strict)
        .await
        .unwrap();
    assert!(!adds_label(&actions), "{actions:?}");
    let actions = forge
        .run_with(&Approve, &say(&forge, "alice", "/approve"), &strict)
        .await
        .unwrap();
    assert!(
        adds_label(&actions),
        "an explicit /approve by the author counts: {actions:?}"
    );
}

#[tokio::test]
async fn lgtm_counts_only_when_configured() {
    let forge = forge();
    let event = say(&forge, "alice", "/lgtm");
    assert!(forge.run(&Approve, &event).await.unwrap().is_empty());
    let actions = forge
        .run_with(&Approve, &event, &json!({ "lgtm_acts_as_approve": true }))
        .await
        .unwrap();
    assert!(adds_label(&actions));
    assert!(
        notifier(&actions)
            .unwrap()
            .contains("title=\"LGTM\">alice</a>")
    );
}

#[tokio::test]
async fn review_verdicts_count_in_time_order_unless_ignored() {
    let forge = forge();
    forge.with(|s| {
        s.reviews.push(Review {
            author: Login::new("alice"),
            state: ReviewState::Approved,
            body: String::new(),
            submitted_at: "2024-01-01T00:00:01Z".into(),
        });
    });
    let event = say(&forge, "x", "/approve");
    let actions = forge.run(&Approve, &event).await.unwrap();
    assert!(adds_label(&actions), "{actions:?}");
    let ignored = forge
        .run_with(&Approve, &event, &json!({ "ignore_review_state": true }))
        .await
        .unwrap();
    assert!(!adds_label(&ignored));
    forge.with(|s| {
        s.reviews.push(Review {
            author: Login::new("alice"),
            state: ReviewState::ChangesRequested,
            body: String::new(),
            submitted_at: "2024-01-01T00:00:02Z".into(),
        });
    });
    let actions = forge.run(&Approve, &event).await.unwrap();
    assert!(
        !adds_label(&actions),
        "changes requested withdraws: {actions:?}"
    );
}

#[tokio::test]
async fn a_human_added_label_is_a_manual_approval_that_sticks() {
    let forge = forge();
    forge.set_labels(&["approved"]);
    let mut event = crate::testing::pr_event(PrAction::Labeled {
        label: LABEL.into(),
    });
    if let Event::PullRequest(pr) = &mut event {
        pr.sender = Login::new("maintainer");
    }
    let actions = forge.run(&Approve, &event).await.unwrap();
    assert!(!removes_label(&actions), "{actions:?}");
    let body = notifier(&actions).unwrap();
    assert!(body.contains(MANUAL_TEXT), "{body}");
    assert!(body.starts_with("[APPROVALNOTIFIER] This PR is **APPROVED**"));
    post_notifier(&forge, &actions);
    // A later comment keeps it; the unchanged notifier is not rewritten.
    let actions = forge
        .run(&Approve, &say(&forge, "x", "/approve"))
        .await
        .unwrap();
    assert!(!removes_label(&actions), "{actions:?}");
    // Without the human label event and without a manual notifier, the label goes.
    let fresh = crate::testing::MemoryForge::default();
    fresh.set_labels(&["approved"]);
    fresh.with(|s| s.changed_files = forge.snapshot().changed_files);
    let actions = fresh
        .run(&Approve, &say(&fresh, "x", "/approve"))
        .await
        .unwrap();
    assert!(removes_label(&actions), "{actions:?}");
}

#[tokio::test]
async fn an_unchanged_notifier_is_not_rewritten() {
    let forge = forge();
    let actions = forge
        .run(&Approve, &say(&forge, "bob", "/approve"))
        .await
        .unwrap();
    post_notifier(&forge, &actions);
    let again = forge
        .run(&Approve, &say(&forge, "bob", "/approve"))
        .await
        .unwrap();
    assert!(notifier(&again).is_none(), "{again:?}");
}

#[tokio::test]
async fn issue_requirement_and_no_issue_bypass() {
    let forge = forge();
    let required = json!({ "issue_required": true });
    let actions = forge
        .run_with(&Approve, &say(&forge, "alice", "/approve"), &required)
        .await
        .unwrap();
    assert!(!adds_label(&actions));
    assert!(
        notifier(&actions)
            .unwrap()
            .contains("*No associated issue*. Update pull-request body")
    );
    let actions = forge
        .run_with(
            &Approve,
            &say(&forge, "alice", "/approve no-issue"),
            &required,
        )
        .await
        .unwrap();
    assert!(adds_label(&actions), "{actions:?}");
    assert!(
        notifier(&actions)
            .unwrap()
            .contains("Associated issue requirement bypassed by:")
    );
    let with_issue = self::forge();
    with_issue.with(|s| s.pr.body = "Fixes #42".into());
    let actions = with_issue
        .run_with(&Approve, &say(&with_issue, "alice", "/approve"), &required)
        .await
        .unwrap();
    assert!(
        notifier(&actions)
            .unwrap()
            .contains("Associated issue: *#42*")
    );
    assert_eq!(
        associated_issue("see https://github.com/org/other/issues/7", "org"),
        Some(7)
    );
    assert_eq!(associated_issue("no issue here", "org"), None);
}

#[tokio::test]
async fn more_files_than_bosun_examines_cannot_be_approved_by_comments() {
    let mut forge = forge();
    forge.limits.max_changed_files = 1;
    let actions = forge
        .run(&Approve, &say(&forge, "alice", "/approve"))
        .await
        .unwrap();
    assert!(!adds_label(&actions), "{actions:?}");
    let body = notifier(&actions).unwrap();
    assert!(body.contains("changes more than 1 files"), "{body}");
    assert!(body.contains("**NOT APPROVED**"), "{body}");
}

#[tokio::test]
async fn bots_never_approve() {
    let forge = forge();
    say(&forge, "bosun-bot", "/approve");
    say(&forge, "dependabot[bot]", "/approve");
    say(&forge, "CI-Robot", "/approve");
    let actions = forge
        .run(&Approve, &say(&forge, "bob", "/approve"))
        .await
        .unwrap();
    let body = notifier(&actions).unwrap();
    assert!(
        !body.contains(">bosun-bot<") && !body.contains("dependabot"),
        "{body}"
    );
}

#[tokio::test]
async fn quoted_and_fenced_approvals_do_not_count() {
    let forge = forge();
    say(&forge, "alice", "> /approve\n```\n/approve\n```");
    let actions = forge
        .run(&Approve, &say(&forge, "bob", "/approve"))
        .await
        .unwrap();
    assert!(!adds_label(&actions));
}

#[tokio::test]
async fn gitlab_native_approvals_count_and_the_verb_is_prefixed() {
    let forge = forge();
    forge.with(|s| {
        s.reviews.push(Review {
            author: Login::new("alice"),
            state: ReviewState::Approved,
            body: String::new(),
            submitted_at: String::new(),
        });
    });
    let mut event = crate::testing::pr_event(PrAction::Approved);
    if let Event::PullRequest(pr) = &mut event {
        pr.pr.reference.forge = ForgeKind::GitLab;
        pr.pr.html_url = "https://gitlab.example/org/repo/-/merge_requests/1".into();
    }
    let actions = forge
        .run_with(&Approve, &event, &json!({ "ignore_review_state": true }))
        .await
        .unwrap();
    assert!(adds_label(&actions), "{actions:?}");
    let body = notifier(&actions).unwrap();
    assert!(
        body.contains("https://gitlab.example/org/repo/-/blob/main/a/OWNERS"),
        "{body}"
    );
    assert!(body.contains("`/bosun-approve`"), "{body}");
    // A bare /approve on GitLab is GitLab's own quick action, not bosun's.
    let entries = vec![HistoryEntry {
        author: Login::new("alice"),
        body: "/approve".into(),
        review: None,
        native_approval: false,
    }];
    let settings = ApproveSettings {
        require_self_approval: true,
        ..Default::default()
    };
    let bot = |_: &Login| false;
    assert!(
        replay(
            &Login::new("x"),
            &entries,
            &settings,
            ForgeKind::GitLab,
            &bot
        )
        .is_empty()
    );
    assert_eq!(
        replay(
            &Login::new("x"),
            &entries,
            &settings,
            ForgeKind::GitHub,
            &bot
        )
        .len(),
        1
    );
}
