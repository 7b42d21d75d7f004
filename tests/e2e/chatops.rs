//! Commands from chat end to end, on both databases: DingTalk (app robot, HTTP mode) and Slack
//! (slash command) requests are verified, journaled, run as the bound forge user's comment
//! through the same plugins, and answered in the conversation; the forge gets the effect.

use crate::commands::{GITHUB, GITLAB, options, setup};
use crate::fake_chat::FakeChat;
use crate::support::*;
use base64::Engine;
use bosun_plugins::ItemRef;
use hmac::{Hmac, KeyInit, Mac};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const APP_SECRET: &str = "dingtalk-app-secret";
const SLACK_SECRET: &str = "slack-signing-secret";

fn hmac(key: &str, message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock")
}

/// bosun with chat commands on, and the GitHub PR and GitLab MR the tests act on.
async fn bosun_with_chatops(db: Db) -> (TestBosun, ItemRef, ItemRef) {
    let mut o = options(db, "");
    o.extra.push_str(
        r#"
[chat.dingtalk]
app_secret_env = "TEST_DINGTALK_APP_SECRET"
[chat.slack]
signing_secret_env = "TEST_SLACK_SIGNING_SECRET"
[chat.users."dingtalk:user123"]
gitlab = "alice"
[chat.users."slack:T1/U2"]
github = "alice"
"#,
    );
    o.env
        .push(("TEST_DINGTALK_APP_SECRET".into(), APP_SECRET.into()));
    o.env
        .push(("TEST_SLACK_SIGNING_SECRET".into(), SLACK_SECRET.into()));
    let bosun = spawn_bosun(o).await;
    let pr = setup(&bosun, GITHUB).await;
    let mr = setup(&bosun, GITLAB).await;
    (bosun, pr, mr)
}

/// A DingTalk robot message from `staff_id` saying `text`, replying to the fake's session URL.
fn dingtalk_message(chat: &FakeChat, msg_id: &str, staff_id: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "msgtype": "text",
        "text": {"content": format!(" {text}")},
        "msgId": msg_id,
        "createAt": now().as_millis() as u64,
        "conversationType": "2",
        "conversationId": "cidAsXSBLnA==",
        "senderId": "$:LWCP_v1:$Ff09GIxxxxx",
        "senderNick": "杨xx",
        "senderStaffId": staff_id,
        "isInAtList": true,
        "sessionWebhook": chat.url("dingtalk-session"),
        "sessionWebhookExpiredTime": now().as_millis() as u64 + 5_400_000,
        "robotCode": "dingxxxx",
    }))
    .expect("json")
}

/// Posts to `/chat/dingtalk`, signed with `secret` at `timestamp_ms` (unsigned when `None`).
async fn post_dingtalk(bosun: &TestBosun, body: Vec<u8>, signed: Option<(&str, u128)>) -> u16 {
    let mut req = bosun
        .http
        .post(bosun.url("/chat/dingtalk"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body);
    if let Some((secret, ts)) = signed {
        let sign = base64::engine::general_purpose::STANDARD
            .encode(hmac(secret, format!("{ts}\n{secret}").as_bytes()));
        req = req.header("timestamp", ts.to_string()).header("sign", sign);
    }
    req.send().await.expect("bosun answers").status().as_u16()
}

async fn post_slack(bosun: &TestBosun, chat: &FakeChat, text: &str, ts: u64) -> (u16, String) {
    let body = serde_urlencoded::to_string([
        ("token", "x"),
        ("team_id", "T1"),
        ("user_id", "U2"),
        ("user_name", "alice"),
        ("command", "/bosun"),
        ("text", text),
        ("response_url", &chat.url("slack-response")),
        ("trigger_id", &format!("trig-{}", uuid::Uuid::new_v4())),
    ])
    .expect("form");
    let mut base = format!("v0:{ts}:").into_bytes();
    base.extend_from_slice(body.as_bytes());
    let signature = format!("v0={}", hex::encode(hmac(SLACK_SECRET, &base)));
    let resp = bosun
        .http
        .post(bosun.url("/chat/slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .expect("bosun answers");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

/// The replies a platform's reply URL got, as text.
fn replies(chat: &FakeChat, platform: &str) -> Vec<String> {
    chat.received()
        .into_iter()
        .filter(|r| r.platform == platform)
        .map(|r| r.body.to_string())
        .collect()
}

async fn wait_for_reply(chat: &FakeChat, platform: &str, n: usize) {
    wait_until("a reply in chat", Duration::from_secs(15), || async {
        replies(chat, platform).len() >= n
    })
    .await;
}

/// Unsigned, wrongly signed and stale DingTalk requests are refused with 401 and nothing runs.
#[tokio::test]
async fn dingtalk_requests_must_be_signed_and_fresh() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start("", "", "");
        let (bosun, _, _) = bosun_with_chatops(db).await;
        let msg =
            |id: &str| dingtalk_message(&chat, id, "user123", "/lgtm gitlab-org/hello-world!1");
        let now_ms = now().as_millis();
        assert_eq!(post_dingtalk(&bosun, msg("u-1"), None).await, 401, "{db:?}");
        assert_eq!(
            post_dingtalk(&bosun, msg("u-2"), Some(("wrong", now_ms))).await,
            401,
            "{db:?}"
        );
        let stale = now_ms - 2 * 3_600_000;
        assert_eq!(
            post_dingtalk(&bosun, msg("u-3"), Some((APP_SECRET, stale))).await,
            401,
            "{db:?}"
        );
        for id in ["u-1", "u-2", "u-3"] {
            let stored = bosun
                .store
                .delivery(&format!("dingtalk:{id}"))
                .await
                .expect("store");
            assert!(stored.is_none(), "{db:?}: {id} was journaled");
        }
        let bad = post_dingtalk(
            &bosun,
            b"{\"not\":\"dingtalk\"}".to_vec(),
            Some((APP_SECRET, now_ms)),
        )
        .await;
        assert_eq!(bad, 400, "{db:?}");
        bosun.shutdown().await;
    }
}

/// A bound user's `/lgtm grp/proj!12` from DingTalk: `lgtm` on the MR, the answer in the
/// conversation, a note on the MR; an unbound user is told how to bind and nothing changes;
/// `status` reads back labels and who LGTM'd.
#[tokio::test]
async fn a_bound_dingtalk_user_lgtms_a_gitlab_mr() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start("", "", "");
        let (bosun, _, mr) = bosun_with_chatops(db).await;

        let unbound = dingtalk_message(
            &chat,
            "m-0",
            "someone-else",
            "/lgtm gitlab-org/hello-world!1",
        );
        assert_eq!(
            post_dingtalk(&bosun, unbound, Some((APP_SECRET, now().as_millis()))).await,
            200
        );
        wait_for_reply(&chat, "dingtalk-session", 1).await;
        assert!(
            replies(&chat, "dingtalk-session")[0].contains("You are not bound to a gitlab account"),
            "{db:?}: {:?}",
            replies(&chat, "dingtalk-session")
        );
        bosun.run_until_idle().await;
        assert!(
            bosun.forge.labels(&mr).is_empty(),
            "{db:?}: an unbound user changes nothing"
        );

        let body = dingtalk_message(&chat, "m-1", "user123", "/lgtm gitlab-org/hello-world!1");
        assert_eq!(
            post_dingtalk(&bosun, body.clone(), Some((APP_SECRET, now().as_millis()))).await,
            200
        );
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&mr), vec!["lgtm"], "{db:?}");
        wait_for_reply(&chat, "dingtalk-session", 2).await;
        let answer = &replies(&chat, "dingtalk-session")[1];
        assert!(
            answer.contains("Done on gitlab-org/hello-world!1"),
            "{db:?}: {answer}"
        );
        assert!(
            answer.contains("\"atUserIds\":[\"user123\"]"),
            "{db:?}: {answer}"
        );
        let notes: Vec<String> = bosun
            .forge
            .comments(&mr)
            .into_iter()
            .map(|c| c.body)
            .collect();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("@alice sent `/lgtm` from DingTalk")),
            "{db:?}: {notes:?}"
        );
        // DingTalk retrying the same message runs nothing again.
        assert_eq!(
            post_dingtalk(&bosun, body, Some((APP_SECRET, now().as_millis()))).await,
            200
        );
        bosun.run_until_idle().await;
        assert_eq!(replies(&chat, "dingtalk-session").len(), 2, "{db:?}");

        let status = dingtalk_message(&chat, "m-2", "user123", "status gitlab-org/hello-world!1");
        assert_eq!(
            post_dingtalk(&bosun, status, Some((APP_SECRET, now().as_millis()))).await,
            200
        );
        wait_for_reply(&chat, "dingtalk-session", 3).await;
        let answer = &replies(&chat, "dingtalk-session")[2];
        assert!(answer.contains("Labels: lgtm"), "{db:?}: {answer}");
        assert!(answer.contains("LGTM: alice"), "{db:?}: {answer}");
        let page = bosun
            .http
            .get(bosun.url("/pr/gitlab/gitlab-org/hello-world/1"))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("text");
        assert!(
            page.contains("a command from dingtalk by"),
            "{db:?}: chat commands read as such on the timeline: {page}"
        );
        bosun.shutdown().await;
    }
}

/// The same from a Slack slash command on a GitHub PR; a stale or forged signature is 401.
#[tokio::test]
async fn a_slack_slash_command_holds_a_github_pr() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start("", "", "");
        let (bosun, pr, _) = bosun_with_chatops(db).await;
        let (stale, _) = post_slack(
            &bosun,
            &chat,
            "hold kubernetes/test-infra#947",
            now().as_secs() - 600,
        )
        .await;
        assert_eq!(stale, 401, "{db:?}");
        let (status, ack) = post_slack(
            &bosun,
            &chat,
            "hold kubernetes/test-infra#947",
            now().as_secs(),
        )
        .await;
        assert_eq!(status, 200, "{db:?}: {ack}");
        assert!(ack.contains("ephemeral"), "{db:?}: {ack}");
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), vec!["do-not-merge/hold"], "{db:?}");
        wait_for_reply(&chat, "slack-response", 1).await;
        let answer = &replies(&chat, "slack-response")[0];
        assert!(answer.contains("in_channel"), "{db:?}: {answer}");
        assert!(
            answer.contains("Done on kubernetes/test-infra#947"),
            "{db:?}: {answer}"
        );
        bosun.shutdown().await;
    }
}
