//! Chat notifications end to end: webhooks in, the notify plugin's routes, the outbox and the
//! sender, and the platforms' robots (a fake on loopback that checks signatures) — on both
//! databases.

use crate::fake_chat::FakeChat;
use crate::support::*;
use bosun_plugins::ForgeKind;
use std::time::Duration;

const DINGTALK_SECRET: &str = "SECbosun-test-secret";
const FEISHU_SECRET: &str = "feishu-test-secret";

/// bosun with the notify plugin on for `Codertocat`, routing PR events to the four robots.
async fn bosun_with_chat(db: Db, chat: &FakeChat, dingtalk_limit: &str) -> TestBosun {
    bosun_with_secret(db, chat, dingtalk_limit, DINGTALK_SECRET).await
}

async fn bosun_with_secret(
    db: Db,
    chat: &FakeChat,
    dingtalk_limit: &str,
    dingtalk_secret: &str,
) -> TestBosun {
    let mut options = Options::new(db);
    options.extra = format!(
        r#"[plugins."Codertocat"]
enabled = ["notify"]
[settings.notify."Codertocat"]
routes = [
  {{ channel = "dingtalk", events = ["opened", "merged"], language = "zh" }},
  {{ channel = "feishu", events = ["opened"] }},
  {{ channel = "slack", events = ["opened"] }},
  {{ channel = "wecom", events = ["opened"] }},
]
[chat.channels.dingtalk]
kind = "dingtalk"
url_env = "TEST_DINGTALK_URL"
secret_env = "TEST_DINGTALK_SECRET"
keyword = "bosun"
language = "zh"
{dingtalk_limit}
[chat.channels.feishu]
kind = "feishu"
url_env = "TEST_FEISHU_URL"
secret_env = "TEST_FEISHU_SECRET"
[chat.channels.slack]
kind = "slack"
url_env = "TEST_SLACK_URL"
[chat.channels.wecom]
kind = "wecom"
url_env = "TEST_WECOM_URL"
"#
    );
    options.env = vec![
        ("TEST_DINGTALK_URL".into(), chat.url("dingtalk")),
        ("TEST_DINGTALK_SECRET".into(), dingtalk_secret.into()),
        ("TEST_FEISHU_URL".into(), chat.url("feishu")),
        ("TEST_FEISHU_SECRET".into(), FEISHU_SECRET.into()),
        ("TEST_SLACK_URL".into(), chat.url("slack")),
        ("TEST_WECOM_URL".into(), chat.url("wecom")),
    ];
    spawn_bosun(options).await
}

/// A `pull_request` `opened` delivery for Codertocat/Hello-World#number.
fn pr_opened(number: u64) -> Vec<u8> {
    let mut v = fixture("github/pull_request/opened.json");
    let url = format!("https://github.com/Codertocat/Hello-World/pull/{number}");
    patch(&mut v, "/number", number.into());
    patch(&mut v, "/pull_request/number", number.into());
    patch(&mut v, "/pull_request/html_url", url.into());
    serde_json::to_vec(&v).expect("json")
}

/// A PR opened reaches each routed robot once: DingTalk signed, with the keyword, as an
/// actionCard whose button opens the PR, keyed by the action; Feishu signed; Slack and WeCom.
#[tokio::test]
async fn a_pr_opened_is_announced_once_on_each_routed_robot() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start(DINGTALK_SECRET, "bosun", FEISHU_SECRET);
        let bosun = bosun_with_chat(db, &chat, "").await;
        let (status, _) = bosun
            .post(ForgeKind::GitHub, "pull_request", "c-1", &pr_opened(2))
            .await;
        assert_eq!(status, 202);
        bosun.run_until_idle().await;
        wait_until(
            "four robots got the message",
            Duration::from_secs(15),
            || async { chat.received().len() >= 4 },
        )
        .await;
        assert!(chat.refused().is_empty(), "{db:?}: {:?}", chat.refused());
        let received = chat.received();
        let mut platforms: Vec<&str> = received.iter().map(|r| r.platform.as_str()).collect();
        platforms.sort();
        assert_eq!(
            platforms,
            ["dingtalk", "feishu", "slack", "wecom"],
            "{db:?}"
        );

        let ding = &received
            .iter()
            .find(|r| r.platform == "dingtalk")
            .expect("dingtalk")
            .body;
        assert_eq!(ding["msgtype"], "actionCard", "{db:?}: {ding}");
        assert_eq!(
            ding["actionCard"]["singleURL"],
            "https://github.com/Codertocat/Hello-World/pull/2"
        );
        assert_eq!(
            ding["actionCard"]["title"],
            "Codertocat/Hello-World#2 等待评审"
        );
        let record = bosun
            .store
            .delivery("github:c-1")
            .await
            .expect("store")
            .expect("row");
        let actions = bosun
            .store
            .delivery_actions(record.id)
            .await
            .expect("actions");
        let notify = actions
            .iter()
            .find(|a| a.kind == "notify" && a.target.starts_with("#dingtalk"))
            .expect("the journaled notify action");
        assert_eq!(
            ding["msgUuid"],
            format!("bosun-action-{}", notify.id),
            "{db:?}"
        );
        let slack = &received
            .iter()
            .find(|r| r.platform == "slack")
            .expect("slack")
            .body;
        assert!(
            slack["text"].as_str().unwrap_or("").contains(
                "<https://github.com/Codertocat/Hello-World/pull/2|Codertocat/Hello-World#2>"
            ),
            "{db:?}: {slack}"
        );
        // The same delivery again (a forge redelivery) is not announced twice.
        bosun
            .post(ForgeKind::GitHub, "pull_request", "c-1", &pr_opened(2))
            .await;
        bosun.run_until_idle().await;
        let states = bosun
            .store
            .outbox_states(&actions.iter().map(|a| a.id).collect::<Vec<_>>())
            .await
            .expect("outbox");
        assert_eq!(states.len(), 4, "{db:?}");
        assert!(
            states.iter().all(|s| s.state == "sent"),
            "{db:?}: {states:?}"
        );
        assert_eq!(chat.received().len(), 4, "{db:?}");
        bosun.shutdown().await;
    }
}

/// Fifty PRs opened within a second, on a robot allowed 5 messages per 2 seconds: no window
/// ever holds more than 5 messages, and every PR is announced (the backlog as digests).
#[tokio::test]
async fn a_burst_stays_within_the_robots_rate_limit_and_loses_nothing() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start(DINGTALK_SECRET, "bosun", FEISHU_SECRET);
        let bosun = bosun_with_chat(db, &chat, "max_messages = 5\nper_seconds = 2").await;
        for n in 1..=50u64 {
            let (status, _) = bosun
                .post(
                    ForgeKind::GitHub,
                    "pull_request",
                    &format!("b-{n}"),
                    &pr_opened(n),
                )
                .await;
            assert_eq!(status, 202);
        }
        let announced = |n: u64| {
            let link = format!("/Hello-World/pull/{n})");
            let card = format!("/Hello-World/pull/{n}\"");
            chat.received().iter().any(|r| {
                r.platform == "dingtalk" && {
                    let text = r.body.to_string();
                    text.contains(&link) || text.contains(&card)
                }
            })
        };
        wait_until(
            "every PR announced on DingTalk",
            Duration::from_secs(40),
            || async { (1..=50).all(announced) },
        )
        .await;
        let times: Vec<_> = chat
            .received()
            .iter()
            .filter(|r| r.platform == "dingtalk")
            .map(|r| r.at)
            .collect();
        for (i, start) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|t| t.duration_since(*start) < Duration::from_secs(2))
                .count();
            assert!(in_window <= 5, "{db:?}: {in_window} messages within 2 s");
        }
        assert!(
            times.len() < 50,
            "{db:?}: the burst was coalesced ({} messages)",
            times.len()
        );
        assert!(chat.refused().is_empty(), "{db:?}: {:?}", chat.refused());
        bosun.shutdown().await;
    }
}

/// A robot that refuses the signature fails the message for good, and the delivery page says
/// why in DingTalk's words; the other robots still get theirs.
#[tokio::test]
async fn a_refused_signature_is_a_clear_failure_on_the_delivery_page() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start(DINGTALK_SECRET, "bosun", FEISHU_SECRET);
        let bosun = bosun_with_secret(db, &chat, "", "SECwrong").await;
        bosun
            .post(ForgeKind::GitHub, "pull_request", "s-1", &pr_opened(3))
            .await;
        bosun.run_until_idle().await;
        wait_until("the refusal", Duration::from_secs(15), || async {
            !chat.refused().is_empty() && chat.received().len() == 3
        })
        .await;
        let record = bosun
            .store
            .delivery("github:s-1")
            .await
            .expect("store")
            .expect("row");
        let actions = bosun
            .store
            .delivery_actions(record.id)
            .await
            .expect("actions");
        let ids: Vec<i64> = actions.iter().map(|a| a.id).collect();
        wait_until(
            "the message marked failed",
            Duration::from_secs(15),
            || async {
                let states = bosun.store.outbox_states(&ids).await.expect("outbox");
                states.iter().any(|s| s.state == "failed")
            },
        )
        .await;
        assert_eq!(chat.refused().len(), 1, "{db:?}: tried once, not retried");
        let page = bosun.page("/deliveries/github:s-1").await;
        assert!(
            page.contains(
                "failed: invalid request: DingTalk refused the message (310000): sign not match"
            ),
            "{db:?}: {page}"
        );
        assert!(
            page.contains("Chat message: <span class=\"chat-state\">sent</span>"),
            "{db:?}"
        );
        bosun.shutdown().await;
    }
}
