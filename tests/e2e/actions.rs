//! The executor on every action kind, through the real adapters against the fake forge: each
//! action reaches the forge, leaves the state it names, and records its forge calls; after a
//! crash mid-merge, a merged PR is found merged instead of merged again.

use crate::support::*;
use bosun::executor::{Applied, apply_action};
use bosun::forge::github::GitHubForge;
use bosun::forge::gitlab::GitLabForge;
use bosun::store::{ActionOutcome, NewDelivery, PlannedAction, Store, StoredAction};
use bosun_plugins::{
    Action, CommitStatus, Forge, ForgeError, ForgeKind, ItemRef, ItemState, Login, MergeMethod,
    StatusState,
};

/// Journals `actions` under a fresh delivery, as the queue does before applying them.
async fn journal(
    store: &dyn Store,
    id: &str,
    forge: ForgeKind,
    actions: Vec<Action>,
) -> Vec<StoredAction> {
    let delivery = NewDelivery {
        delivery_id: id.to_string(),
        forge,
        event: "test".into(),
        repo: None,
        number: None,
        item_key: id.to_string(),
        headers: "{}".into(),
        payload: actix_web::web::Bytes::from_static(b"{}"),
    };
    store
        .insert_deliveries(&[delivery])
        .await
        .expect("journaled");
    let record = store.delivery(id).await.expect("store").expect("stored");
    let planned: Vec<PlannedAction> = actions
        .into_iter()
        .enumerate()
        .map(|(seq, action)| PlannedAction {
            plugin: "test".into(),
            seq: seq as i32,
            action,
        })
        .collect();
    store
        .record_decision(record.id, &planned)
        .await
        .expect("decided");
    store.delivery_actions(record.id).await.expect("actions")
}

/// A bosun that only receives (no workers), so the test applies actions itself.
async fn receive_only() -> TestBosun {
    let mut options = Options::new(Db::Sqlite);
    options.env = vec![("BOSUN_QUEUE__WORKERS".into(), "0".into())];
    spawn_bosun(options).await
}

fn adapter(bosun: &TestBosun, forge: ForgeKind) -> Box<dyn Forge> {
    let url = bosun.forge.url();
    match forge {
        ForgeKind::GitHub => Box::new(GitHubForge::new(&url, Some("t".into())).expect("client")),
        ForgeKind::GitLab => {
            Box::new(GitLabForge::new(&url, Some("t".into()), true).expect("client"))
        }
    }
}

/// Applies one journaled action and returns its forge calls as stored.
async fn apply(store: &dyn Store, forge: &dyn Forge, action: &StoredAction) -> i32 {
    match apply_action(store, forge, action, false).await {
        Ok(Applied::Done { forge_calls }) => forge_calls,
        Ok(Applied::Failed(e)) => panic!("{}: failed: {e}", action.kind),
        Err(e) => panic!("{}: {e}", action.kind),
    }
}

#[tokio::test]
async fn every_new_action_kind_changes_the_forge_and_counts_its_calls() {
    for kind in [ForgeKind::GitHub, ForgeKind::GitLab] {
        let bosun = receive_only().await;
        let (repo, number) = match kind {
            ForgeKind::GitHub => (GITHUB_REPO, 947),
            ForgeKind::GitLab => (GITLAB_REPO, 1),
        };
        let pr: ItemRef = bosun.forge.seed_pr(kind, repo, number, "author");
        for u in ["alice", "bob"] {
            bosun.forge.ensure_user(u);
        }
        let head = bosun.forge.item(&pr).head_sha;
        let users = vec![Login::new("alice"), Login::new("bob")];
        let status = CommitStatus {
            state: StatusState::Success,
            context: "bosun/hold".into(),
            description: "no hold".into(),
            target_url: None,
        };
        let actions = vec![
            Action::CreateLabel {
                forge: kind,
                repo: pr.repo.clone(),
                name: "needs-rebase".into(),
                color: "e11d21".into(),
            },
            Action::Assign {
                item: pr.clone(),
                users: users.clone(),
            },
            Action::Unassign {
                item: pr.clone(),
                users: vec![Login::new("alice")],
            },
            Action::RequestReviewers {
                item: pr.clone(),
                users: users.clone(),
                teams: vec![],
            },
            Action::UnrequestReviewers {
                item: pr.clone(),
                users: vec![Login::new("bob")],
                teams: vec![],
            },
            Action::SetTitle {
                item: pr.clone(),
                title: "New title".into(),
            },
            Action::Close {
                item: pr.clone(),
                reason: None,
            },
            Action::Reopen { item: pr.clone() },
            Action::SetStatus {
                forge: kind,
                repo: pr.repo.clone(),
                sha: head.clone(),
                status,
            },
            Action::UpsertBotComment {
                item: pr.clone(),
                marker: "notice".into(),
                body: "A notice".into(),
            },
            Action::DeleteBotComment {
                item: pr.clone(),
                marker: "notice".into(),
            },
            Action::Merge {
                item: pr.clone(),
                method: MergeMethod::Squash,
                sha: Some(head.clone()),
            },
        ];
        let stored = journal(bosun.store.as_ref(), &format!("{kind}-all"), kind, actions).await;
        let forge = adapter(&bosun, kind);
        let mut calls = Vec::new();
        for action in &stored {
            calls.push((
                action.kind.clone(),
                apply(bosun.store.as_ref(), forge.as_ref(), action).await,
            ));
        }
        let calls: Vec<(&str, i32)> = calls.iter().map(|(k, c)| (k.as_str(), *c)).collect();
        assert_eq!(
            calls,
            [
                ("create_label", 1),
                ("assign", 1),
                ("unassign", 1),
                ("request_reviewers", 1),
                ("unrequest_reviewers", 1),
                ("set_title", 1),
                ("close", 1),
                ("reopen", 1),
                ("set_status", 1),
                ("upsert_bot_comment", 3),
                ("delete_bot_comment", 3),
                ("merge", 1),
            ],
            "{kind}"
        );
        let item = bosun.forge.item(&pr);
        assert_eq!(item.assignees, ["bob"], "{kind}");
        assert_eq!(item.requested_reviewers, ["alice"], "{kind}");
        assert_eq!(item.title, "New title", "{kind}");
        assert_eq!(
            (item.state, item.merged_with.as_deref()),
            (ItemState::Merged, Some("squash")),
            "{kind}"
        );
        assert!(item.comments.is_empty(), "{kind}: the notice was deleted");
        assert!(
            bosun
                .forge
                .repo_labels(kind, repo)
                .iter()
                .any(|l| l.name == "needs-rebase"),
            "{kind}"
        );
        assert_eq!(bosun.forge.statuses(kind, repo).len(), 1, "{kind}");

        let record = bosun
            .store
            .delivery(&format!("{kind}-all"))
            .await
            .expect("store")
            .expect("row");
        let after = bosun
            .store
            .delivery_actions(record.id)
            .await
            .expect("actions");
        assert!(
            after.iter().all(|a| a.outcome == ActionOutcome::Applied),
            "{kind}: {after:?}"
        );
        assert_eq!(
            after.iter().map(|a| a.forge_calls).sum::<i32>(),
            calls.iter().map(|(_, c)| c).sum::<i32>(),
            "{kind}"
        );
        bosun.shutdown().await;
    }
}

/// The process died after GitHub/GitLab merged but before bosun recorded it: the action is
/// still `applying`, and applying it again finds the PR merged and merges nothing.
#[tokio::test]
async fn a_merge_left_applying_is_checked_before_it_is_repeated() {
    for kind in [ForgeKind::GitHub, ForgeKind::GitLab] {
        let bosun = receive_only().await;
        let (repo, number) = match kind {
            ForgeKind::GitHub => (GITHUB_REPO, 947),
            ForgeKind::GitLab => (GITLAB_REPO, 1),
        };
        let pr = bosun.forge.seed_pr(kind, repo, number, "author");
        let merge = Action::Merge {
            item: pr.clone(),
            method: MergeMethod::Merge,
            sha: None,
        };
        let stored = journal(
            bosun.store.as_ref(),
            &format!("{kind}-crash"),
            kind,
            vec![merge],
        )
        .await;
        bosun
            .store
            .set_action_outcome(stored[0].id, ActionOutcome::Applying, None, 1)
            .await
            .expect("outcome");
        bosun
            .forge
            .update_item(&pr, |i| i.state = ItemState::Merged);
        let record = bosun
            .store
            .delivery(&format!("{kind}-crash"))
            .await
            .expect("store")
            .expect("row");
        let applying = bosun
            .store
            .delivery_actions(record.id)
            .await
            .expect("actions")
            .remove(0);
        assert_eq!(applying.outcome, ActionOutcome::Applying);

        bosun.forge.clear_requests();
        let forge = adapter(&bosun, kind);
        assert_eq!(
            apply(bosun.store.as_ref(), forge.as_ref(), &applying).await,
            1,
            "{kind}: one read"
        );
        assert!(
            bosun.forge.requests().iter().all(|r| r.method == "GET"),
            "{kind}: no merge call"
        );
        bosun.shutdown().await;
    }
}

/// A merge the forge refuses (the head moved) fails the action for good, with the reason.
#[tokio::test]
async fn a_refused_merge_fails_the_action() {
    for kind in [ForgeKind::GitHub, ForgeKind::GitLab] {
        let bosun = receive_only().await;
        let repo = if kind == ForgeKind::GitHub {
            GITHUB_REPO
        } else {
            GITLAB_REPO
        };
        let pr = bosun.forge.seed_pr(kind, repo, 3, "author");
        let merge = Action::Merge {
            item: pr.clone(),
            method: MergeMethod::Merge,
            sha: Some("0".repeat(40)),
        };
        let stored = journal(
            bosun.store.as_ref(),
            &format!("{kind}-refused"),
            kind,
            vec![merge],
        )
        .await;
        let forge = adapter(&bosun, kind);
        let result = apply_action(bosun.store.as_ref(), forge.as_ref(), &stored[0], false).await;
        assert!(
            matches!(result, Ok(Applied::Failed(ForgeError::Conflict(_)))),
            "{kind}"
        );
        let record = bosun
            .store
            .delivery(&format!("{kind}-refused"))
            .await
            .expect("store")
            .expect("row");
        let failed = bosun
            .store
            .delivery_actions(record.id)
            .await
            .expect("actions")
            .remove(0);
        assert_eq!(failed.outcome, ActionOutcome::Failed, "{kind}");
        assert!(
            failed.error.as_deref().unwrap_or("").contains("409"),
            "{kind}: {failed:?}"
        );
        assert_eq!(bosun.forge.item(&pr).state, ItemState::Open, "{kind}");
        bosun.shutdown().await;
    }
}
