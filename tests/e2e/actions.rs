//! The executor on every action kind, through the real adapters against the fake forge: each
//! action reaches the forge, leaves the state it names, and records its forge calls; after a
//! crash mid-merge, a merged PR is found merged instead of merged again.

use crate::support::*;
use bosun::chat::Channel;
use bosun::chat::sender::{ChatSender, SenderChannel};
use bosun::executor::{Applied, ExecError, Journaled, Targets, apply_action, message_key};
use bosun::forge::Forges;
use bosun::forge::github::GitHubForge;
use bosun::forge::gitlab::GitLabForge;
use bosun::store::{ActionOutcome, NewDelivery, PlannedAction, Settlement, Store, StoredAction};
use bosun_plugins::{
    Action, CommitStatus, Forge, ForgeError, ForgeKind, ItemRef, ItemState, Login, MergeMethod,
    StatusState,
};
use bosun_plugins::{ChatMessage, MissingUsersReply};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
        payload: actix_web::web::Bytes::from_static(b"{}").into(),
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
        .record_decision(record.id, &planned, false)
        .await
        .expect("decided");
    store.delivery_actions(record.id).await.expect("actions")
}

/// A bosun that only receives (no workers), so the test applies actions itself.
async fn receive_only() -> TestBosun {
    receive_only_on(Db::Sqlite).await
}

/// [`receive_only`] on `db`.
async fn receive_only_on(db: Db) -> TestBosun {
    let mut options = Options::new(db);
    options.env = vec![("BOSUN_QUEUE__WORKERS".into(), "0".into())];
    spawn_bosun(options).await
}

/// The executor's targets with the real adapter of `forge` pointed at the fake forge.
fn adapter(bosun: &TestBosun, forge: ForgeKind) -> Targets {
    let url = bosun.forge.url();
    let adapter: Arc<dyn Forge> = match forge {
        ForgeKind::GitHub => Arc::new(GitHubForge::new(&url, Some("t".into())).expect("client")),
        ForgeKind::GitLab => {
            Arc::new(GitLabForge::new(&url, Some("t".into()), true).expect("client"))
        }
    };
    let forges = match forge {
        ForgeKind::GitHub => Forges::new(Some(adapter), None),
        ForgeKind::GitLab => Forges::new(None, Some(adapter)),
    };
    Targets::new(
        &forges,
        bosun.store.clone(),
        Default::default(),
        Default::default(),
    )
}

/// Applies one journaled action as a worker does, and writes its outcome at once (a worker
/// writes it with its next journal write).
async fn apply_now(
    store: &dyn Store,
    targets: &Targets,
    stored: &StoredAction,
) -> Result<Applied, ExecError> {
    apply_in(store, targets, stored, false).await
}

/// [`apply_now`], in dry-run or not.
async fn apply_in(
    store: &dyn Store,
    targets: &Targets,
    stored: &StoredAction,
    dry_run: bool,
) -> Result<Applied, ExecError> {
    let mut settlement = Settlement::default();
    let result = apply_action(
        store,
        targets,
        stored,
        dry_run,
        Journaled::AsRead,
        &mut settlement,
    )
    .await;
    // What the attempt's end writes: the facts held back, and every outcome.
    for held in &settlement.facts {
        store
            .remember_fact(&held.item, &held.plugin, &held.fact)
            .await
            .expect("fact written");
    }
    store
        .set_action_outcomes(&settlement.end_marks())
        .await
        .expect("outcomes written");
    result
}

/// Applies one journaled action and returns its forge calls as stored.
async fn apply(store: &dyn Store, targets: &Targets, action: &StoredAction) -> i32 {
    match apply_now(store, targets, action).await {
        Ok(Applied::Done { forge_calls }) => forge_calls,
        Ok(Applied::Failed(e)) => panic!("{}: failed: {e}", action.kind),
        Err(e) => panic!("{}: {e}", action.kind),
    }
}

#[tokio::test]
async fn every_new_action_kind_changes_the_forge_and_counts_its_calls() {
    for kind in [ForgeKind::GitHub, ForgeKind::GitLab] {
        let _combination = Combination::new(kind);
        let bosun = receive_only().await;
        let (repo, number) = match kind {
            ForgeKind::GitHub => (GITHUB_REPO, 947),
            ForgeKind::GitLab => (GITLAB_REPO, 1),
        };
        let pr: ItemRef = bosun.forge.seed_pr(kind, repo, number, "author");
        for u in ["alice", "bob"] {
            bosun.forge.ensure_user(u);
            // GitHub assigns only people who may be assigned in the repository.
            bosun.forge.add_assignable(repo, u);
        }
        // GitHub asks only collaborators for reviews (it refuses others with 422).
        bosun
            .forge
            .add_member(kind, repo, "alice", fake_forge::access::REPORTER);
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
                report: None,
            },
            Action::Unassign {
                item: pr.clone(),
                users: vec![Login::new("alice")],
            },
            Action::RequestReviewers {
                item: pr.clone(),
                users: users.clone(),
                teams: vec![],
                report: None,
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
                adopt: None,
            },
            Action::DeleteBotComment {
                item: pr.clone(),
                marker: "notice".into(),
                adopt: None,
            },
            Action::Merge {
                item: pr.clone(),
                method: MergeMethod::Squash,
                sha: Some(head.clone()),
                base: None,
                up_to_date: false,
                commit: None,
            },
        ];
        let stored = journal(bosun.store.as_ref(), &format!("{kind}-all"), kind, actions).await;
        let forge = adapter(&bosun, kind);
        let mut calls = Vec::new();
        for action in &stored {
            calls.push((
                action.kind.clone(),
                apply(bosun.store.as_ref(), &forge, action).await,
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
        let _combination = Combination::new(kind);
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
            base: None,
            up_to_date: false,
            commit: None,
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
            apply(bosun.store.as_ref(), &forge, &applying).await,
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

/// Prow assign through the executor (issue 12 item 5): an `Assign` or `RequestReviewers` with a
/// report names the users the forge's answer leaves out in one reply carrying the action's
/// marker (two calls: the write and the reply); without a report nothing is said. The same
/// action found `applying` (a crash after the reply) writes again, finds its reply and posts
/// nothing (two calls: the write and the read).
#[tokio::test]
async fn left_out_users_are_named_once_even_when_the_action_is_applied_again() {
    for db in databases() {
        let _combination = Combination::new(db);
        for kind in [ForgeKind::GitHub, ForgeKind::GitLab] {
            let _combination = Combination::new(kind);
            let bosun = receive_only_on(db).await;
            let (repo, number) = match kind {
                ForgeKind::GitHub => (GITHUB_REPO, 947),
                ForgeKind::GitLab => (GITLAB_REPO, 1),
            };
            let pr = bosun.forge.seed_pr(kind, repo, number, "author");
            for u in ["alice", "bob"] {
                bosun
                    .forge
                    .add_member(kind, repo, u, fake_forge::access::DEVELOPER);
            }
            bosun.forge.drop_at_write(kind, repo, "bob");
            let report = MissingUsersReply {
                before: "@carol: left out: ".into(),
                after: ".".into(),
            };
            let both = vec![Login::new("alice"), Login::new("bob")];
            let actions = vec![
                Action::Assign {
                    item: pr.clone(),
                    users: both.clone(),
                    report: Some(report.clone()),
                },
                Action::RequestReviewers {
                    item: pr.clone(),
                    users: both,
                    teams: vec![],
                    report: Some(report),
                },
                Action::Assign {
                    item: pr.clone(),
                    users: vec![Login::new("bob")],
                    report: None,
                },
            ];
            let id = format!("{kind}-left-out");
            let stored = journal(bosun.store.as_ref(), &id, kind, actions).await;
            let forge = adapter(&bosun, kind);
            let mut calls = Vec::new();
            for action in &stored {
                calls.push(apply(bosun.store.as_ref(), &forge, action).await);
            }
            assert_eq!(calls, [2, 2, 1], "{kind}");
            let item = bosun.forge.item(&pr);
            assert_eq!(item.assignees, ["alice"], "{kind}");
            assert_eq!(item.requested_reviewers, ["alice"], "{kind}");
            let replies = |bosun: &TestBosun| -> Vec<String> {
                bosun
                    .forge
                    .comments(&pr)
                    .into_iter()
                    .map(|c| c.body)
                    .collect()
            };
            let expected: Vec<String> = stored[..2]
                .iter()
                .map(|a| format!("@carol: left out: bob.\n\n<!-- bosun-action:{} -->", a.id))
                .collect();
            assert_eq!(replies(&bosun), expected, "{kind}");

            bosun
                .store
                .set_action_outcome(stored[0].id, ActionOutcome::Applying, None, 2)
                .await
                .expect("outcome");
            let applying = reread(bosun.store.as_ref(), &id).await.remove(0);
            assert_eq!(applying.outcome, ActionOutcome::Applying);
            bosun.forge.clear_requests();
            assert_eq!(
                apply(bosun.store.as_ref(), &forge, &applying).await,
                2,
                "{kind}: the assign and the read"
            );
            assert_eq!(replies(&bosun), expected, "{kind}: nothing posted twice");
            assert!(
                !bosun.forge.requests().iter().any(|r| r.method == "POST"
                    && (r.path.contains("/notes") || r.path.contains("/comments"))),
                "{kind}: no comment posted"
            );
            bosun.shutdown().await;
        }
    }
}

/// A merge the forge refuses (the head moved) fails the action for good, with the reason.
#[tokio::test]
async fn a_refused_merge_fails_the_action() {
    for kind in [ForgeKind::GitHub, ForgeKind::GitLab] {
        let _combination = Combination::new(kind);
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
            base: None,
            up_to_date: false,
            commit: None,
        };
        let stored = journal(
            bosun.store.as_ref(),
            &format!("{kind}-refused"),
            kind,
            vec![merge],
        )
        .await;
        let forge = adapter(&bosun, kind);
        let result = apply_now(bosun.store.as_ref(), &forge, &stored[0]).await;
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

/// A merge of a PR that is merged already (another delivery or process got there first) is
/// refused by the forge but counts as done: one merge on the forge, no failed action.
#[tokio::test]
async fn a_merge_of_a_merged_pr_counts_as_done() {
    for kind in [ForgeKind::GitHub, ForgeKind::GitLab] {
        let _combination = Combination::new(kind);
        let bosun = receive_only().await;
        let repo = if kind == ForgeKind::GitHub {
            GITHUB_REPO
        } else {
            GITLAB_REPO
        };
        let pr = bosun.forge.seed_pr(kind, repo, 4, "author");
        let head = bosun.forge.item(&pr).head_sha;
        let merge = || Action::Merge {
            item: pr.clone(),
            method: MergeMethod::Merge,
            sha: Some(head.clone()),
            base: None,
            up_to_date: false,
            commit: None,
        };
        let forge = adapter(&bosun, kind);
        for n in 0..2 {
            let stored = journal(
                bosun.store.as_ref(),
                &format!("{kind}-merged-{n}"),
                kind,
                vec![merge()],
            )
            .await;
            apply(bosun.store.as_ref(), &forge, &stored[0]).await;
        }
        assert_eq!(bosun.forge.item(&pr).state, ItemState::Merged, "{kind}");
        let merges = bosun
            .forge
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with("/merge"))
            .count();
        assert_eq!(
            merges, 2,
            "{kind}: the second call was refused, and that is fine"
        );
        bosun.shutdown().await;
    }
}

/// A chat channel that records what it is sent, and fails as told: the executor's and the
/// sender's guarantees hold for targets beyond the forge.
#[derive(Default)]
struct SinkChannel {
    sent: std::sync::Mutex<Vec<(String, ChatMessage)>>,
    /// Sends to refuse with a 503 before taking the message.
    refuse: AtomicUsize,
    /// Sends to take and then answer with a 503 (the answer was lost on the way back).
    lose_answer: AtomicUsize,
    /// Whether the platform can say a message with this key was posted.
    can_tell: bool,
}

impl SinkChannel {
    fn sent(&self) -> Vec<(String, ChatMessage)> {
        self.sent.lock().expect("sink").clone()
    }
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[async_trait::async_trait]
impl Channel for SinkChannel {
    async fn send(&self, key: &str, message: &ChatMessage) -> Result<(), ForgeError> {
        let unavailable = || ForgeError::Transient {
            message: "503 from the chat platform".into(),
            retry_after: None,
        };
        if take_one(&self.refuse) {
            return Err(unavailable());
        }
        self.sent
            .lock()
            .expect("sink")
            .push((key.to_string(), message.clone()));
        if take_one(&self.lose_answer) {
            return Err(unavailable());
        }
        Ok(())
    }

    async fn already_sent(&self, key: &str) -> Result<Option<bool>, ForgeError> {
        Ok(self.can_tell.then(|| {
            self.sent
                .lock()
                .expect("sink")
                .iter()
                .any(|(k, _)| k == key)
        }))
    }
}

/// A receiving bosun on `db` (no workers), a sender with one channel, `team`, at most
/// `max_messages` a minute, and the executor's targets for it.
async fn with_sink(
    db: Db,
    sink: Arc<SinkChannel>,
    max_messages: u32,
) -> (TestBosun, ChatSender, Targets) {
    let mut options = Options::new(db);
    options.env = vec![("BOSUN_QUEUE__WORKERS".into(), "0".into())];
    let bosun = spawn_bosun(options).await;
    let mut channels = BTreeMap::new();
    channels.insert(
        "team".to_string(),
        SenderChannel {
            channel: sink as Arc<dyn Channel>,
            max_messages,
            window: std::time::Duration::from_secs(60),
            language: bosun_plugins::notify::Language::En,
        },
    );
    let sender = ChatSender::new(bosun.store.clone(), channels);
    let targets = Targets::new(
        &Forges::new(None, None),
        bosun.store.clone(),
        sender.channel_names(),
        sender.wake(),
    );
    (bosun, sender, targets)
}

fn notify(channel: &str, n: u64) -> Action {
    Action::Notify {
        channel: channel.into(),
        message: ChatMessage {
            title: format!("kubernetes/test-infra#{n} opened for review"),
            text: format!("#{n} needs review"),
            link: Some(format!("https://github.com/kubernetes/test-infra/pull/{n}")),
            mentions: vec![],
            buttons: vec![],
        },
    }
}

/// The journaled actions of a delivery as the store has them now.
async fn reread(store: &dyn Store, delivery_id: &str) -> Vec<StoredAction> {
    let record = store
        .delivery(delivery_id)
        .await
        .expect("store")
        .expect("row");
    store.delivery_actions(record.id).await.expect("actions")
}

/// Runs sender passes until `done` holds, for at most 15 s.
async fn send_until(sender: &ChatSender, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        sender.send_due().await.expect("outbox");
        tokio::task::yield_now().await;
    }
}

/// A Notify is journaled and queued once, however often it is applied; the sender posts it
/// under the action's key, retries a 503 with backoff, and the outbox says it was sent.
#[tokio::test]
async fn a_chat_message_is_queued_once_and_sent_through_a_transient_failure() {
    for db in databases() {
        let _combination = Combination::new(db);
        let sink = Arc::new(SinkChannel::default());
        sink.refuse.store(1, Ordering::SeqCst);
        let (bosun, sender, targets) = with_sink(db, sink.clone(), 20).await;
        let store = bosun.store.as_ref();
        let stored = journal(store, "chat-1", ForgeKind::GitHub, vec![notify("team", 1)]).await;
        for _ in 0..2 {
            // Applied twice, as after a crash between queuing and recording: queued once.
            assert!(matches!(
                apply_now(store, &targets, &stored[0]).await,
                Ok(Applied::Done { forge_calls: 1 })
            ));
        }
        assert_eq!(
            reread(store, "chat-1").await[0].outcome,
            ActionOutcome::Applied,
            "{db:?}"
        );
        assert_eq!(sender.send_due().await.expect("pass"), 0, "{db:?}: the 503");
        let state = store.outbox_states(&[stored[0].id]).await.expect("states");
        assert_eq!(state.len(), 1, "{db:?}: one message, however often applied");
        assert_eq!(state[0].state, "pending", "{db:?}");
        assert!(
            state[0].last_error.as_deref().unwrap_or("").contains("503"),
            "{db:?}: {state:?}"
        );

        send_until(&sender, "the retried send", || !sink.sent().is_empty()).await;
        let sent = sink.sent();
        assert_eq!(sent.len(), 1, "{db:?}");
        assert_eq!(
            sent[0].0,
            message_key(stored[0].id),
            "{db:?}: the action's own key"
        );
        let state = store.outbox_states(&[stored[0].id]).await.expect("states");
        assert_eq!(state[0].state, "sent", "{db:?}");
        assert_eq!(
            sender.send_due().await.expect("pass"),
            0,
            "{db:?}: nothing twice"
        );
        bosun.shutdown().await;
    }
}

/// The platform took a message but its answer was lost: a platform that can tell is asked and
/// the message is not posted again; one that cannot gets it again under the same key (at least
/// once, never lost, as the README says).
#[tokio::test]
async fn a_lost_answer_is_checked_where_the_platform_can_tell() {
    for can_tell in [true, false] {
        let sink = Arc::new(SinkChannel {
            can_tell,
            ..SinkChannel::default()
        });
        sink.lose_answer.store(1, Ordering::SeqCst);
        let (bosun, sender, targets) = with_sink(Db::Sqlite, sink.clone(), 20).await;
        let store = bosun.store.as_ref();
        let stored = journal(store, "chat-2", ForgeKind::GitHub, vec![notify("team", 2)]).await;
        assert!(apply_now(store, &targets, &stored[0]).await.is_ok());
        sender.send_due().await.expect("pass");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let state = store.outbox_states(&[stored[0].id]).await.expect("states");
            if state.first().is_some_and(|s| s.state == "sent") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the message was never sent"
            );
            sender.send_due().await.expect("pass");
            tokio::task::yield_now().await;
        }
        let keys: Vec<String> = sink.sent().into_iter().map(|(k, _)| k).collect();
        let expected = if can_tell { 1 } else { 2 };
        assert_eq!(keys.len(), expected, "can_tell={can_tell}: {keys:?}");
        assert!(keys.iter().all(|k| *k == message_key(stored[0].id)));
        bosun.shutdown().await;
    }
}

/// A backlog beyond what the rate limit has left goes out as one digest carrying every
/// message; once the limit is used up, nothing more is sent in the window and nothing is lost.
#[tokio::test]
async fn a_burst_becomes_a_digest_within_the_rate_limit() {
    for db in databases() {
        let _combination = Combination::new(db);
        let sink = Arc::new(SinkChannel::default());
        let (bosun, sender, targets) = with_sink(db, sink.clone(), 3).await;
        let store = bosun.store.as_ref();
        let burst: Vec<Action> = (1..=10).map(|n| notify("team", n)).collect();
        for a in journal(store, "burst", ForgeKind::GitHub, burst).await {
            apply_now(store, &targets, &a).await.expect("queued");
        }
        assert_eq!(sender.send_due().await.expect("pass"), 10, "{db:?}");
        let sent = sink.sent();
        assert_eq!(sent.len(), 1, "{db:?}: one digest");
        assert_eq!(sent[0].1.title, "10 updates");
        for n in 1..=10 {
            assert!(
                sent[0].1.text.contains(&format!("/pull/{n})")),
                "{db:?}: #{n} in the digest: {}",
                sent[0].1.text
            );
        }
        let two: Vec<Action> = (11..=12).map(|n| notify("team", n)).collect();
        for a in journal(store, "two", ForgeKind::GitHub, two).await {
            apply_now(store, &targets, &a).await.expect("queued");
        }
        assert_eq!(
            sender.send_due().await.expect("pass"),
            2,
            "{db:?}: two fit the limit"
        );
        let late = journal(store, "late", ForgeKind::GitHub, vec![notify("team", 13)]).await;
        apply_now(store, &targets, &late[0]).await.expect("queued");
        assert_eq!(
            sender.send_due().await.expect("pass"),
            0,
            "{db:?}: the window is used up"
        );
        assert_eq!(sink.sent().len(), 3, "{db:?}: 3 sends in the window");
        let state = store.outbox_states(&[late[0].id]).await.expect("states");
        assert_eq!(
            state[0].state, "pending",
            "{db:?}: kept for the next window"
        );
        bosun.shutdown().await;
    }
}

/// Dry-run records the message and queues nothing; a channel that is not configured fails the
/// action for good with a clear error; a fact is recorded in bosun's store like any action.
#[tokio::test]
async fn dry_run_unknown_channels_and_facts() {
    for db in databases() {
        let _combination = Combination::new(db);
        let sink = Arc::new(SinkChannel::default());
        let (bosun, sender, targets) = with_sink(db, sink.clone(), 20).await;
        let store = bosun.store.as_ref();
        let pr = ItemRef {
            forge: ForgeKind::GitHub,
            repo: bosun_plugins::RepoPath::parse(GITHUB_REPO).expect("repo"),
            number: 947,
            kind: bosun_plugins::ItemKind::PullRequest,
        };
        let fact = bosun_plugins::Fact::Lgtm {
            by: vec![Login::new("alice")],
        };
        let stored = journal(
            store,
            "effects-1",
            ForgeKind::GitHub,
            vec![
                notify("team", 1),
                notify("nowhere", 2),
                Action::Remember {
                    item: pr.clone(),
                    fact: fact.clone(),
                },
            ],
        )
        .await;

        assert!(matches!(
            apply_in(store, &targets, &stored[0], true).await,
            Ok(Applied::Done { forge_calls: 0 })
        ));
        assert_eq!(
            reread(store, "effects-1").await[0].outcome,
            ActionOutcome::DryRun
        );
        assert!(
            store
                .outbox_states(&[stored[0].id])
                .await
                .expect("states")
                .is_empty()
        );
        assert_eq!(sender.send_due().await.expect("pass"), 0);
        assert!(sink.sent().is_empty(), "{db:?}: dry-run sends nothing");

        match apply_now(store, &targets, &stored[1]).await {
            Ok(Applied::Failed(e)) => assert!(
                e.to_string().contains("no chat channel named \"nowhere\""),
                "{db:?}: {e}"
            ),
            _ => panic!("{db:?}: an unknown channel fails for good"),
        }
        assert_eq!(
            reread(store, "effects-1").await[1].outcome,
            ActionOutcome::Failed
        );

        for _ in 0..2 {
            assert!(matches!(
                apply_now(store, &targets, &stored[2]).await,
                Ok(Applied::Done { forge_calls: 1 })
            ));
        }
        let facts = store
            .facts(ForgeKind::GitHub, GITHUB_REPO, 947)
            .await
            .expect("facts");
        assert_eq!(
            facts.len(),
            1,
            "{db:?}: applying again replaces, never adds"
        );
        assert_eq!(facts[0].fact, fact, "{db:?}");
        assert_eq!(facts[0].plugin, "test", "{db:?}");
        bosun.shutdown().await;
    }
}
