//! The notify plugin's events beyond pull requests, end to end on both databases: CI failing
//! and recovering, Drone builds with a deploy button, review requests that @ the reviewer, and
//! deliveries bosun gave up on — from webhooks in to the fake robots out.

use crate::ci::{DRONE_SECRET, constructed, now_http, post_drone};
use crate::fake_chat::{FakeChat, Received};
use crate::support::*;
use bosun_plugins::ForgeKind;
use serde_json::{Value, json};
use std::time::Duration;

const DINGTALK_SECRET: &str = "SECbosun-events-secret";

/// bosun with `extra` (plugins and routes) and `env`, a signed DingTalk channel `ding` in
/// `language`, and a Slack channel `slack`.
async fn bosun_with_ding(
    db: Db,
    chat: &FakeChat,
    language: &str,
    extra: &str,
    env: &[(&str, &str)],
) -> TestBosun {
    let mut options = Options::new(db);
    options.extra = format!(
        r#"{extra}
[chat.channels.ding]
kind = "dingtalk"
url_env = "TEST_DINGTALK_URL"
secret_env = "TEST_DINGTALK_SECRET"
language = "{language}"
[chat.channels.slack]
kind = "slack"
url_env = "TEST_SLACK_URL"
"#
    );
    options.env = vec![
        ("TEST_DINGTALK_URL".into(), chat.url("dingtalk")),
        ("TEST_DINGTALK_SECRET".into(), DINGTALK_SECRET.into()),
        ("TEST_SLACK_URL".into(), chat.url("slack")),
    ];
    options
        .env
        .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    spawn_bosun(options).await
}

/// The messages one platform's robot took, in order.
fn bodies(chat: &FakeChat, platform: &str) -> Vec<Value> {
    chat.received()
        .into_iter()
        .filter(|r: &Received| r.platform == platform)
        .map(|r| r.body)
        .collect()
}

/// Every `notify` action journaled so far, as `#channel "title"`.
async fn notify_targets(bosun: &TestBosun) -> Vec<String> {
    let mut out = Vec::new();
    for d in bosun
        .store
        .recent_deliveries(100, None)
        .await
        .expect("deliveries")
        .into_iter()
        .rev()
    {
        for a in bosun.store.delivery_actions(d.id).await.expect("actions") {
            if a.kind == "notify" {
                out.push(a.target);
            }
        }
    }
    out
}

/// A GitHub commit status on PR #2's head (`ec26c3e…`).
fn status(context: &str, state: &str) -> Vec<u8> {
    let mut v = fixture("github/status/payload.json");
    patch(
        &mut v,
        "/sha",
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821".into(),
    );
    patch(&mut v, "/context", context.into());
    patch(&mut v, "/state", state.into());
    patch(
        &mut v,
        "/target_url",
        "https://ci.example.com/build/7".into(),
    );
    serde_json::to_vec(&v).expect("json")
}

/// A context fails, is re-run (pending) and passes on the same head: the group hears
/// "failed", then "recovered" — in Chinese, the channel's language — and nothing for the
/// pending state, for a context the route does not ask for, or for the pass told again.
#[tokio::test]
async fn a_failed_then_passing_context_is_told_failed_then_recovered() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start(DINGTALK_SECRET, "", "");
        let bosun = bosun_with_ding(
            db,
            &chat,
            "zh",
            r#"[plugins."Codertocat"]
enabled = ["notify"]
[settings.notify."Codertocat"]
routes = [{ channel = "ding", events = ["ci_failed", "ci_recovered"], contexts = ["ci/*"] }]
"#,
            &[],
        )
        .await;
        let opened = fixture_bytes("github/pull_request/opened.json");
        bosun
            .post(ForgeKind::GitHub, "pull_request", "e-0", &opened)
            .await;
        bosun.run_until_idle().await;
        for (n, (context, state)) in [
            ("ci/test", "failure"),
            ("lint", "failure"),
            ("ci/test", "pending"),
            ("ci/test", "success"),
            ("ci/test", "success"),
        ]
        .into_iter()
        .enumerate()
        {
            let (code, text) = bosun
                .post(
                    ForgeKind::GitHub,
                    "status",
                    &format!("e-{}", n + 1),
                    &status(context, state),
                )
                .await;
            assert_eq!(code, 202, "{db:?}: {text}");
            bosun.run_until_idle().await;
        }
        wait_until("two messages", Duration::from_secs(15), || async {
            bodies(&chat, "dingtalk").len() >= 2
        })
        .await;
        let got = bodies(&chat, "dingtalk");
        let titles: Vec<&str> = got
            .iter()
            .map(|b| b["actionCard"]["title"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            titles,
            [
                "Codertocat/Hello-World#2 的 ci/test 失败",
                "Codertocat/Hello-World#2 的 ci/test 已恢复"
            ],
            "{db:?}: {got:?}"
        );
        assert_eq!(
            got[0]["actionCard"]["singleURL"], "https://ci.example.com/build/7",
            "{db:?}"
        );
        assert_eq!(
            notify_targets(&bosun).await.len(),
            2,
            "{db:?}: nothing else was decided"
        );
        assert!(chat.refused().is_empty(), "{db:?}: {:?}", chat.refused());
        bosun.shutdown().await;
    }
}

/// A Drone build fails, then its restart passes on the same head: the DingTalk group gets a
/// card per build (the failed one with a button to the build, the passed one also with a
/// button to the configured deploy URL), and a Slack route asking for recoveries hears the
/// recovery with the deploy link as a button.
#[tokio::test]
async fn a_passed_drone_build_carries_a_deploy_button() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start(DINGTALK_SECRET, "", "");
        let bosun = bosun_with_ding(
            db,
            &chat,
            "zh",
            r#"[plugins."gitlab-org"]
enabled = ["notify"]
[settings.notify."gitlab-org"]
routes = [
  { channel = "ding", events = ["drone_finished"] },
  { channel = "slack", events = ["ci_recovered"], systems = ["drone"] },
]
deploy = { url = "https://drone.example.com/{repo}/{build}/promote?target=production" }
[drone]
url = "http://127.0.0.1:9"
forge = "gitlab"
webhook_secret_env = "TEST_DRONE_SECRET"
"#,
            &[("TEST_DRONE_SECRET", DRONE_SECRET)],
        )
        .await;
        let date = now_http();
        for fixture in [
            "drone/build.updated.pr.failure.json",
            "drone/build.updated.pr.success.json",
        ] {
            assert_eq!(
                post_drone(&bosun, &constructed(fixture), Some(DRONE_SECRET), &date).await,
                202,
                "{db:?}"
            );
            bosun.run_until_idle().await;
        }
        wait_until("three messages", Duration::from_secs(15), || async {
            chat.received().len() >= 3
        })
        .await;
        let ding = bodies(&chat, "dingtalk");
        assert_eq!(ding.len(), 2, "{db:?}: {ding:?}");
        assert_eq!(
            ding[0]["actionCard"]["title"], "Drone #101 失败：gitlab-org/hello-world!1",
            "{db:?}"
        );
        assert_eq!(
            ding[0]["actionCard"]["singleURL"],
            "https://drone.example.com/gitlab-org/hello-world/101"
        );
        assert_eq!(
            ding[1]["actionCard"]["title"], "Drone #102 通过：gitlab-org/hello-world!1",
            "{db:?}"
        );
        assert_eq!(
            ding[1]["actionCard"]["btns"],
            json!([
                {"title": "查看", "actionURL": "https://drone.example.com/gitlab-org/hello-world/102"},
                {"title": "部署", "actionURL": "https://drone.example.com/gitlab-org/hello-world/102/promote?target=production"},
            ]),
            "{db:?}"
        );
        let slack = bodies(&chat, "slack");
        assert_eq!(slack.len(), 1, "{db:?}: {slack:?}");
        let text = slack[0]["text"].as_str().unwrap_or("");
        assert!(
            text.starts_with(
                "*continuous-integration/drone/pr recovered on gitlab-org/hello-world!1*"
            ),
            "{db:?}: {text}"
        );
        assert_eq!(
            slack[0]["blocks"][1]["elements"][0]["url"],
            "https://drone.example.com/gitlab-org/hello-world/102/promote?target=production",
            "{db:?}"
        );
        assert!(chat.refused().is_empty(), "{db:?}: {:?}", chat.refused());
        bosun.shutdown().await;
    }
}

/// A review requested of `octocat` @'s the DingTalk account bound to octocat in `[chat.users]`
/// (a markdown message, since cards cannot @), in English, the channel's default.
#[tokio::test]
async fn a_review_request_ats_the_reviewers_chat_account() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start(DINGTALK_SECRET, "", "");
        let bosun = bosun_with_ding(
            db,
            &chat,
            "en",
            r#"[plugins."Codertocat"]
enabled = ["notify"]
[settings.notify."Codertocat"]
routes = [{ channel = "ding", events = ["review_requested"] }]
[chat.users."dingtalk:staff-octo"]
github = "octocat"
"#,
            &[],
        )
        .await;
        let asked = fixture_bytes("github/pull_request/review_requested.json");
        let (code, _) = bosun
            .post(ForgeKind::GitHub, "pull_request", "rr-1", &asked)
            .await;
        assert_eq!(code, 202);
        bosun.run_until_idle().await;
        wait_until("the message", Duration::from_secs(15), || async {
            !bodies(&chat, "dingtalk").is_empty()
        })
        .await;
        let body = &bodies(&chat, "dingtalk")[0];
        assert_eq!(body["msgtype"], "markdown", "{db:?}: {body}");
        assert_eq!(body["at"]["atUserIds"], json!(["staff-octo"]), "{db:?}");
        let text = body["markdown"]["text"].as_str().unwrap_or("");
        assert!(
            text.starts_with("### Review requested on Codertocat/Hello-World#2"),
            "{db:?}: {text}"
        );
        assert!(
            text.contains("asked @octocat to review") && text.ends_with("@staff-octo"),
            "{db:?}: {text}"
        );
        bosun.shutdown().await;
    }
}

/// The forge fails every label write: bosun retries `/hold` until its last attempt and gives
/// up; the ops group hears of it once, with a link to the delivery's page, through the outbox.
#[tokio::test]
async fn a_delivery_bosun_gave_up_on_is_told_once() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start(DINGTALK_SECRET, "", "");
        let bosun = bosun_with_ding(
            db,
            &chat,
            "en",
            r#"[plugins."kubernetes"]
enabled = ["hold", "notify"]
[settings.notify."kubernetes"]
routes = [{ channel = "ding", events = ["bosun_failed"] }]
"#,
            &[],
        )
        .await;
        bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        bosun
            .forge
            .fail_next("/labels", 1000, fake_forge::Fault::Status500);
        let comment = github_pr_comment(947, "spxtr", "/hold");
        let (code, _) = bosun
            .post(ForgeKind::GitHub, "issue_comment", "gu-1", &comment)
            .await;
        assert_eq!(code, 202);
        bosun.run_until_idle().await;
        assert_eq!(
            bosun.status_of("github:gu-1").await.as_deref(),
            Some("failed"),
            "{db:?}"
        );
        assert_eq!(
            bosun.status_of("bosun_failed:github:gu-1").await.as_deref(),
            Some("done"),
            "{db:?}: the notice is a delivery of its own"
        );
        wait_until("the notice", Duration::from_secs(15), || async {
            !bodies(&chat, "dingtalk").is_empty()
        })
        .await;
        let body = &bodies(&chat, "dingtalk")[0];
        assert_eq!(
            body["actionCard"]["title"],
            "bosun gave up on a delivery for kubernetes/test-infra#947",
            "{db:?}: {body}"
        );
        assert_eq!(
            body["actionCard"]["singleURL"], "http://127.0.0.1:8888/deliveries/github:gu-1",
            "{db:?}"
        );
        let text = body["actionCard"]["text"].as_str().unwrap_or("");
        assert!(
            text.contains("`issue_comment` delivery `github:gu-1`")
                && text.contains("after 5 attempts"),
            "{db:?}: {text}"
        );
        // The same delivery again from the forge is a duplicate; nothing more is told.
        bosun
            .post(ForgeKind::GitHub, "issue_comment", "gu-1", &comment)
            .await;
        bosun.run_until_idle().await;
        assert_eq!(notify_targets(&bosun).await.len(), 1, "{db:?}");
        bosun.forge.clear_faults();
        bosun.shutdown().await;
    }
}
