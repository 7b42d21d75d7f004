//! `[limits]` end to end: the forge-call timeout and the concurrency cap on both adapters,
//! the comment size and commands-per-comment limits, and the payload size limit under its
//! `[limits]` key.

use crate::support::*;
use bosun_plugins::ForgeKind;
use fake_forge::Fault;
use std::time::Duration;

const HOLD: &str = "do-not-merge/hold";

fn with_limits(db: Db, limits: &str) -> Options {
    let mut o = Options::new(db);
    o.extra.push_str(&format!("[limits]\n{limits}\n"));
    o
}

/// The PR/MR a case comments on, seeded in the fake forge.
fn seed(bosun: &TestBosun, forge: ForgeKind, number: u64) -> fake_forge::ItemRef {
    match forge {
        ForgeKind::GitHub => bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, number, "spxtr"),
        ForgeKind::GitLab => bosun
            .forge
            .seed_pr(ForgeKind::GitLab, GITLAB_REPO, number, "sytses"),
    }
}

/// Posts a comment (a GitHub PR comment or a GitLab MR note) and expects it accepted.
async fn comment(bosun: &TestBosun, forge: ForgeKind, id: &str, number: u64, body: &str) {
    let (status, text) = match forge {
        ForgeKind::GitHub => {
            bosun
                .post(
                    forge,
                    "issue_comment",
                    id,
                    &github_pr_comment(number, "alice", body),
                )
                .await
        }
        ForgeKind::GitLab => {
            bosun
                .post(
                    forge,
                    "Note Hook",
                    id,
                    &gitlab_mr_note(number, "alice", body),
                )
                .await
        }
    };
    assert_eq!(status, 202, "{forge}: {text}");
}

fn delivery_id(forge: ForgeKind, id: &str) -> String {
    format!("{forge}:{id}")
}

/// The path of the labels read of a PR/MR, for faults.
fn labels_path(forge: ForgeKind, number: u64) -> String {
    match forge {
        ForgeKind::GitHub => format!("/repos/{GITHUB_REPO}/issues/{number}/labels"),
        ForgeKind::GitLab => format!("/merge_requests/{number}"),
    }
}

/// A forge call slower than `limits.forge_timeout_seconds` fails as transient and the
/// delivery is retried; the label still lands once.
#[tokio::test]
async fn a_forge_call_slower_than_the_timeout_is_retried() {
    for db in databases() {
        let _combination = Combination::new(db);
        for forge in [ForgeKind::GitHub, ForgeKind::GitLab] {
            let _combination = Combination::new(forge);
            let bosun = spawn_bosun(with_limits(db, "forge_timeout_seconds = 1")).await;
            let pr = seed(&bosun, forge, 7);
            bosun.forge.fail_next(
                &labels_path(forge, 7),
                1,
                Fault::Delay(Duration::from_secs(4)),
            );
            comment(&bosun, forge, "slow-1", 7, "/hold").await;
            bosun.run_until_idle().await;
            assert_eq!(bosun.forge.labels(&pr), vec![HOLD], "{db:?} {forge}");
            let record = bosun
                .store
                .delivery(&delivery_id(forge, "slow-1"))
                .await
                .expect("store")
                .expect("stored");
            assert_eq!(record.status, "done", "{db:?} {forge}: {record:?}");
            assert!(record.attempts >= 2, "{db:?} {forge}: {record:?}");
            assert!(
                record
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("did not answer within 1s")),
                "{db:?} {forge}: {record:?}"
            );
            bosun.shutdown().await;
        }
    }
}

/// With many workers busy on different PRs, the forge never sees more calls at once than
/// `limits.max_concurrent_forge_calls`.
#[tokio::test]
async fn concurrent_forge_calls_stay_under_the_cap() {
    for db in databases() {
        let _combination = Combination::new(db);
        for forge in [ForgeKind::GitHub, ForgeKind::GitLab] {
            let _combination = Combination::new(forge);
            let mut options = with_limits(db, "max_concurrent_forge_calls = 2");
            options
                .env
                .push(("BOSUN_QUEUE__WORKERS".into(), "6".into()));
            let bosun = spawn_bosun(options).await;
            let numbers = [11, 12, 13, 14, 15, 16];
            let prs: Vec<_> = numbers.iter().map(|n| seed(&bosun, forge, *n)).collect();
            // Every call is slow, so calls would pile up without the cap.
            let path = match forge {
                ForgeKind::GitHub => "/repos/",
                ForgeKind::GitLab => "/api/v4/",
            };
            bosun
                .forge
                .fail_every(path, 1, vec![Fault::Delay(Duration::from_millis(150))]);
            for n in numbers {
                comment(&bosun, forge, &format!("cap-{n}"), n, "/hold").await;
            }
            bosun.run_until_idle().await;
            for pr in &prs {
                assert_eq!(bosun.forge.labels(pr), vec![HOLD], "{db:?} {forge}");
            }
            let most = bosun.forge.most_requests_in_flight();
            assert!(most <= 2, "{db:?} {forge}: {most} calls at once");
            bosun.forge.clear_faults();
            bosun.shutdown().await;
        }
    }
}

/// A comment longer than `limits.max_comment_bytes` is not read for commands; one within the
/// limit is.
#[tokio::test]
async fn a_comment_over_the_size_limit_is_not_read() {
    for db in databases() {
        let _combination = Combination::new(db);
        for forge in [ForgeKind::GitHub, ForgeKind::GitLab] {
            let _combination = Combination::new(forge);
            let bosun = spawn_bosun(with_limits(db, "max_comment_bytes = 2048")).await;
            let long = seed(&bosun, forge, 21);
            let short = seed(&bosun, forge, 22);
            let padding = "x".repeat(2100);
            comment(&bosun, forge, "big-1", 21, &format!("/hold\n{padding}")).await;
            comment(
                &bosun,
                forge,
                "big-2",
                22,
                &format!("/hold\n{}", &padding[..1900]),
            )
            .await;
            bosun.run_until_idle().await;
            assert!(bosun.forge.labels(&long).is_empty(), "{db:?} {forge}");
            assert_eq!(bosun.forge.labels(&short), vec![HOLD], "{db:?} {forge}");
            for id in ["big-1", "big-2"] {
                assert_eq!(
                    bosun.status_of(&delivery_id(forge, id)).await.as_deref(),
                    Some("done"),
                    "{db:?} {forge} {id}"
                );
            }
            bosun.shutdown().await;
        }
    }
}

/// Only the first `limits.max_commands_per_comment` command lines of a comment are acted on.
#[tokio::test]
async fn commands_past_the_limit_are_not_acted_on() {
    for db in databases() {
        let _combination = Combination::new(db);
        for forge in [ForgeKind::GitHub, ForgeKind::GitLab] {
            let _combination = Combination::new(forge);
            let bosun = spawn_bosun(with_limits(db, "max_commands_per_comment = 2")).await;
            let third = seed(&bosun, forge, 31);
            let second = seed(&bosun, forge, 32);
            comment(&bosun, forge, "many-1", 31, "/kind bug\n/lgtm\n/hold").await;
            comment(
                &bosun,
                forge,
                "many-2",
                32,
                "/kind bug\n> /quoted\n/hold\n/lgtm",
            )
            .await;
            bosun.run_until_idle().await;
            assert!(
                bosun.forge.labels(&third).is_empty(),
                "{db:?} {forge}: the third command is past the limit"
            );
            assert_eq!(
                bosun.forge.labels(&second),
                vec![HOLD],
                "{db:?} {forge}: quoted lines do not count"
            );
            bosun.shutdown().await;
        }
    }
}

/// `limits.max_body_bytes` answers 413 above it (the older `server.max_body_bytes` is covered
/// by the config tests).
#[tokio::test]
async fn payloads_over_the_limit_get_413() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(with_limits(db, "max_body_bytes = 16384")).await;
        seed(&bosun, ForgeKind::GitHub, 41);
        let padding = "y".repeat(20_000);
        let body = github_pr_comment(41, "alice", &format!("/hold\n{padding}"));
        let (status, text) = bosun
            .post(ForgeKind::GitHub, "issue_comment", "huge-1", &body)
            .await;
        assert_eq!(status, 413, "{db:?}: {text}");
        assert_eq!(text, "payload larger than 16384 bytes\n");
        assert_eq!(bosun.status_of("github:huge-1").await, None);
        bosun.shutdown().await;
    }
}
