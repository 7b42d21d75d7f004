//! Comments that must do nothing, on both forges: an edited comment replays none of its old
//! commands, a deleted one runs nothing, a quoted or fenced command is only shown, and bot
//! accounts (configured, GitHub Apps, GitLab access-token users) are never obeyed.

use crate::support::*;
use bosun_plugins::ForgeKind;
use serde_json::{Value, json};

const HOLD: &str = "do-not-merge/hold";
const FORGES: [ForgeKind; 2] = [ForgeKind::GitHub, ForgeKind::GitLab];

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

/// A new comment by `author`, as the forge sends it.
fn created(forge: ForgeKind, number: u64, author: &str, body: &str) -> Value {
    let bytes = match forge {
        ForgeKind::GitHub => github_pr_comment(number, author, body),
        ForgeKind::GitLab => gitlab_mr_note(number, author, body),
    };
    serde_json::from_slice(&bytes).expect("json")
}

/// The same comment edited from `old` to `new`: GitHub sends the old body under
/// `changes.body.from`; GitLab sends a note `update` without it.
fn edited(forge: ForgeKind, number: u64, author: &str, old: &str, new: &str) -> Value {
    let mut v = created(forge, number, author, new);
    match forge {
        ForgeKind::GitHub => {
            v["action"] = "edited".into();
            v["changes"] = json!({ "body": { "from": old } });
        }
        ForgeKind::GitLab => v["object_attributes"]["action"] = "update".into(),
    }
    v
}

async fn send(bosun: &TestBosun, forge: ForgeKind, id: &str, payload: &Value) {
    let event = match forge {
        ForgeKind::GitHub => "issue_comment",
        ForgeKind::GitLab => "Note Hook",
    };
    let body = serde_json::to_vec(payload).expect("json");
    let (status, text) = bosun.post(forge, event, id, &body).await;
    assert_eq!(status, 202, "{forge} {id}: {text}");
    bosun.run_until_idle().await;
    assert_eq!(
        bosun.status_of(&format!("{forge}:{id}")).await.as_deref(),
        Some("done"),
        "{forge} {id}"
    );
}

/// Editing a comment does not run its old commands again: the `/hold` that was acted on (and
/// whose label someone removed since) is not re-applied by an edit that keeps it. On GitHub a
/// line the edit adds does run; GitLab sends no previous text, so an edited note runs nothing.
#[tokio::test]
async fn an_edited_comment_replays_nothing_old() {
    for db in databases() {
        let _combination = Combination::new(db);
        for forge in FORGES {
            let _combination = Combination::new(forge);
            let bosun = spawn_bosun(Options::new(db)).await;
            let pr = seed(&bosun, forge, 5);
            send(&bosun, forge, "e-1", &created(forge, 5, "alice", "/hold")).await;
            assert_eq!(bosun.forge.labels(&pr), vec![HOLD], "{db:?} {forge}");
            bosun.forge.set_labels(&pr, &[]);

            let keep = edited(forge, 5, "alice", "/hold", "/hold\nthanks, fixed a typo");
            send(&bosun, forge, "e-2", &keep).await;
            assert!(
                bosun.forge.labels(&pr).is_empty(),
                "{db:?} {forge}: the old /hold ran again"
            );

            let add = edited(forge, 5, "alice", "thanks", "thanks\n/hold");
            send(&bosun, forge, "e-3", &add).await;
            let expected: Vec<&str> = match forge {
                ForgeKind::GitHub => vec![HOLD],
                ForgeKind::GitLab => vec![],
            };
            assert_eq!(bosun.forge.labels(&pr), expected, "{db:?} {forge}");
            bosun.shutdown().await;
        }
    }
}

/// A deleted comment runs nothing, whatever it said (GitHub; GitLab sends no note deletions).
#[tokio::test]
async fn a_deleted_comment_runs_nothing() {
    for db in databases() {
        let _combination = Combination::new(db);
        let forge = ForgeKind::GitHub;
        let bosun = spawn_bosun(Options::new(db)).await;
        let pr = seed(&bosun, forge, 6);
        let mut deleted = created(forge, 6, "alice", "/hold");
        deleted["action"] = "deleted".into();
        send(&bosun, forge, "d-1", &deleted).await;
        assert!(bosun.forge.labels(&pr).is_empty(), "{db:?}");
        bosun.shutdown().await;
    }
}

/// Quoting someone's `/hold` (or showing it in a code block) in a reply does not hold.
#[tokio::test]
async fn quoting_another_users_command_does_nothing() {
    for db in databases() {
        let _combination = Combination::new(db);
        for forge in FORGES {
            let _combination = Combination::new(forge);
            let bosun = spawn_bosun(Options::new(db)).await;
            let pr = seed(&bosun, forge, 8);
            let replies = [
                "> /hold\n\nI'd rather not hold this.",
                "@bob said\n>/hold\n> please\nbut I disagree",
                "To hold, write:\n```\n/hold\n```\nor\n\n    /hold\n",
                "Use `/hold` to hold.",
            ];
            for (i, reply) in replies.iter().enumerate() {
                send(
                    &bosun,
                    forge,
                    &format!("q-{i}"),
                    &created(forge, 8, "carol", reply),
                )
                .await;
            }
            assert!(bosun.forge.labels(&pr).is_empty(), "{db:?} {forge}");
            // The same person's own /hold works, so the replies were read and refused.
            send(&bosun, forge, "q-own", &created(forge, 8, "carol", "/hold")).await;
            assert_eq!(bosun.forge.labels(&pr), vec![HOLD], "{db:?} {forge}");
            bosun.shutdown().await;
        }
    }
}

/// Comments from bot accounts do nothing: accounts listed in `bot_accounts`, GitHub App
/// accounts (`name[bot]`) and GitLab project/group access-token users.
#[tokio::test]
async fn comments_from_bot_accounts_do_nothing() {
    for db in databases() {
        let _combination = Combination::new(db);
        for forge in FORGES {
            let _combination = Combination::new(forge);
            let mut options = Options::new(db);
            options.top = "bot_accounts = [\"ci-robot\"]".into();
            let bosun = spawn_bosun(options).await;
            let pr = seed(&bosun, forge, 9);
            let machine = match forge {
                ForgeKind::GitHub => "dependabot[bot]",
                ForgeKind::GitLab => "project_278964_bot_2f4c1d9e",
            };
            for (i, author) in ["ci-robot", "CI-Robot", machine, BOT].iter().enumerate() {
                send(
                    &bosun,
                    forge,
                    &format!("b-{i}"),
                    &created(forge, 9, author, "/hold"),
                )
                .await;
                assert!(
                    bosun.forge.labels(&pr).is_empty(),
                    "{db:?} {forge} {author}"
                );
            }
            send(
                &bosun,
                forge,
                "b-human",
                &created(forge, 9, "alice", "/hold"),
            )
            .await;
            assert_eq!(bosun.forge.labels(&pr), vec![HOLD], "{db:?} {forge}");
            bosun.shutdown().await;
        }
    }
}
