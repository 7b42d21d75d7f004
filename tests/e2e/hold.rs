//! `/hold` end to end on both forges: webhook → bosun → label in the fake forge's state.

use crate::support::*;
use bosun::store::DeliveryRecord;
use bosun_plugins::ForgeKind;
use fake_forge::Fault;
use std::time::Duration;

const HOLD: &str = "do-not-merge/hold";

/// Prow hold: `/hold` on a PR adds `do-not-merge/hold`; `/hold cancel` removes it (GitHub).
#[tokio::test]
async fn hold_and_cancel_on_github() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        let (s, _) = bosun
            .post(
                ForgeKind::GitHub,
                "issue_comment",
                "h-1",
                &github_pr_comment(947, "alice", "/hold"),
            )
            .await;
        assert_eq!(s, 202);
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), vec![HOLD], "{db:?}");
        assert_eq!(bosun.status_of("github:h-1").await.as_deref(), Some("done"));
        let state = bosun
            .store
            .pull_request(ForgeKind::GitHub, GITHUB_REPO, 947)
            .await
            .expect("store")
            .expect("pr row");
        assert!(state.labels.iter().any(|l| l == HOLD), "{state:?}");

        bosun
            .post(
                ForgeKind::GitHub,
                "issue_comment",
                "h-2",
                &github_pr_comment(947, "alice", "/hold cancel"),
            )
            .await;
        bosun.run_until_idle().await;
        assert!(bosun.forge.labels(&pr).is_empty(), "{db:?}");
        bosun.shutdown().await;
    }
}

/// The same on GitLab, through the gitlab crate's client.
#[tokio::test]
async fn hold_and_cancel_on_gitlab() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let mr = bosun
            .forge
            .seed_pr(ForgeKind::GitLab, GITLAB_REPO, 1, "sytses");
        bosun
            .post(
                ForgeKind::GitLab,
                "Note Hook",
                "gh-1",
                &gitlab_mr_note(1, "alice", "/hold"),
            )
            .await;
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&mr), vec![HOLD], "{db:?}");
        bosun
            .post(
                ForgeKind::GitLab,
                "Note Hook",
                "gh-2",
                &gitlab_mr_note(1, "alice", "/unhold"),
            )
            .await;
        bosun.run_until_idle().await;
        assert!(bosun.forge.labels(&mr).is_empty(), "{db:?}");
        bosun.shutdown().await;
    }
}

/// A comment by bosun itself changes nothing.
#[tokio::test]
async fn the_bots_own_comment_is_ignored() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        bosun
            .post(
                ForgeKind::GitHub,
                "issue_comment",
                "b-1",
                &github_pr_comment(947, BOT, "/hold"),
            )
            .await;
        bosun.run_until_idle().await;
        assert!(bosun.forge.labels(&pr).is_empty());
        assert_eq!(bosun.status_of("github:b-1").await.as_deref(), Some("done"));
        bosun.shutdown().await;
    }
}

/// Dry-run (no API token): plugins decide from the webhook, the action is recorded as
/// `dry-run`, and the forge is not called at all.
#[tokio::test]
async fn dry_run_records_without_applying() {
    for db in databases() {
        let _combination = Combination::new(db);
        let mut options = Options::new(db);
        options.tokens = false;
        let bosun = spawn_bosun(options).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        bosun
            .post(
                ForgeKind::GitHub,
                "issue_comment",
                "dr-1",
                &github_pr_comment(947, "alice", "/hold"),
            )
            .await;
        bosun.run_until_idle().await;
        assert!(bosun.forge.labels(&pr).is_empty());
        assert!(
            bosun.forge.requests().is_empty(),
            "no token: the forge is neither read nor written"
        );
        let record = bosun
            .store
            .delivery("github:dr-1")
            .await
            .expect("store")
            .expect("row");
        let actions = bosun
            .store
            .delivery_actions(record.id)
            .await
            .expect("actions");
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].outcome, bosun::store::ActionOutcome::DryRun);
        bosun.shutdown().await;
    }
}

/// Transient forge errors are retried with backoff; the label is added exactly once.
#[tokio::test]
async fn transient_forge_errors_are_retried() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        bosun
            .forge
            .fail_next("/issues/947/labels", 2, Fault::Status500);
        bosun
            .post(
                ForgeKind::GitHub,
                "issue_comment",
                "t-1",
                &github_pr_comment(947, "alice", "/hold"),
            )
            .await;
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), vec![HOLD]);
        let record = bosun
            .store
            .delivery("github:t-1")
            .await
            .expect("store")
            .expect("row");
        assert_eq!(record.status, "done");
        assert!(record.attempts >= 2, "{record:?}");
        bosun.shutdown().await;
    }
}

/// A delivery that keeps failing ends `failed` with its error kept, and replay runs it again.
#[tokio::test]
async fn exhausted_retries_fail_and_replay_recovers() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        bosun
            .forge
            .fail_next("/issues/947/labels", 100, Fault::Status500);
        bosun
            .post(
                ForgeKind::GitHub,
                "issue_comment",
                "f-1",
                &github_pr_comment(947, "alice", "/hold"),
            )
            .await;
        bosun.run_until_idle().await;
        let record = bosun
            .store
            .delivery("github:f-1")
            .await
            .expect("store")
            .expect("row");
        assert_eq!(record.status, "failed");
        assert!(
            record
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("attempts"),
            "{record:?}"
        );
        bosun.forge.clear_faults();
        assert!(bosun.store.requeue("github:f-1").await.expect("requeue"));
        bosun.run_until_idle().await;
        assert_eq!(bosun.status_of("github:f-1").await.as_deref(), Some("done"));
        assert_eq!(bosun.forge.labels(&pr), vec![HOLD]);
        bosun.shutdown().await;
    }
}

/// Comments that come in a burst on one PR run one after another, each woken by the one before
/// it, not by the queue's poll (set here to ten minutes): a delivery behind a running one
/// wakes no worker when it is journaled, and the worker that ends the running one claims it.
/// The forge takes 150 ms per call, so the burst is journaled while the first still runs. (On
/// SQLite the store also knows that deliveries were queued since its last empty claim, so a
/// worker would claim again anyway; on Postgres only when its last claim saw more due, which
/// none did.) The first, arriving while every worker waits, is handed to one as it is
/// journaled, with no claim; each of the rest is claimed, on Postgres by the statement that
/// finishes the one before it, since the worker knows it waits.
#[tokio::test]
async fn a_burst_on_one_pr_runs_through_without_waiting_for_the_poll() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db).without_poll()).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        bosun.forge.fail_every(
            "/issues/947",
            1,
            vec![Fault::Delay(Duration::from_millis(150))],
        );
        let burst = [
            "/hold",
            "Looks fine to me.",
            "/hold cancel",
            "One nit, no need to block.",
            "/hold",
        ];
        let posts = burst.iter().enumerate().map(|(i, body)| {
            let bosun = &bosun;
            async move {
                let body = github_pr_comment(947, "alice", body);
                bosun
                    .post(
                        ForgeKind::GitHub,
                        "issue_comment",
                        &format!("burst-{i}"),
                        &body,
                    )
                    .await
            }
        });
        // Posted in order, each once the one before is journaled; the rest once the first runs,
        // so that its claim saw nothing behind it.
        bosun.all_workers_waiting().await;
        for (i, post) in posts.enumerate() {
            assert_eq!(post.await.0, 202, "{db:?}");
            if i == 0 {
                wait_until("the first is running", Duration::from_secs(10), || async {
                    bosun.status_of("github:burst-0").await.as_deref() == Some("running")
                })
                .await;
            }
        }
        bosun.run_until_idle().await;
        for i in 0..burst.len() {
            assert_eq!(
                bosun
                    .status_of(&format!("github:burst-{i}"))
                    .await
                    .as_deref(),
                Some("done"),
                "{db:?} burst-{i}"
            );
        }
        assert_eq!(
            bosun.forge.labels(&pr),
            vec![HOLD],
            "{db:?}: the last word was /hold"
        );
        let started_as_received = |record: Option<DeliveryRecord>| {
            record.is_some_and(|r| r.attempts == 1 && r.started_at == Some(r.received_at))
        };
        assert!(
            started_as_received(bosun.store.delivery("github:burst-0").await.expect("read")),
            "{db:?}: handed over in its insert"
        );
        for i in 1..burst.len() {
            let record = bosun
                .store
                .delivery(&format!("github:burst-{i}"))
                .await
                .expect("read");
            let before = bosun
                .store
                .delivery(&format!("github:burst-{}", i - 1))
                .await
                .expect("read")
                .expect("stored");
            let record = record.expect("stored");
            assert!(
                !started_as_received(Some(record.clone())),
                "{db:?}: burst-{i} waited, and was claimed"
            );
            if db == Db::Postgres {
                // Claimed by the statement that finished the one before (one transaction, one
                // `now()`), as the worker knew it waited.
                assert_eq!(
                    record.started_at,
                    before.finished_at,
                    "{db:?}: burst-{i} claimed with burst-{}'s finish",
                    i - 1
                );
            }
        }
        bosun.shutdown().await;
    }
}
