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

/// bosun with chat commands on (Slack app mentions answered through `chat`'s fake Web API),
/// and the GitHub PR and GitLab MR the tests act on.
async fn bosun_with_chatops(db: Db, chat: &FakeChat) -> (TestBosun, ItemRef, ItemRef) {
    let mut o = options(db, "");
    o.extra.push_str(&format!(
        r#"
[chat.dingtalk]
app_secret_env = "TEST_DINGTALK_APP_SECRET"
session_webhook_hosts = ["127.0.0.1"]
[chat.slack]
signing_secret_env = "TEST_SLACK_SIGNING_SECRET"
bot_token_env = "TEST_SLACK_BOT_TOKEN"
api_url = "{}"
[chat.users."dingtalk:user123"]
gitlab = "alice"
[chat.users."slack:T1/U2"]
github = "alice"
"#,
        chat.slack_api_url()
    ));
    o.env
        .push(("TEST_DINGTALK_APP_SECRET".into(), APP_SECRET.into()));
    o.env
        .push(("TEST_SLACK_SIGNING_SECRET".into(), SLACK_SECRET.into()));
    o.env.push((
        "TEST_SLACK_BOT_TOKEN".into(),
        crate::fake_chat::SLACK_BOT_TOKEN.into(),
    ));
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

/// Unsigned, wrongly signed and stale DingTalk requests, and a signature used again by another
/// message, are refused with 401, and one without a sender's staff id or answering to a host
/// not listed with 400; nothing runs.
#[tokio::test]
async fn dingtalk_requests_must_be_signed_and_fresh() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start("", "", "");
        let (bosun, _, _) = bosun_with_chatops(db, &chat).await;
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
        // Signed, but with no staff id: such senders could not be told apart.
        let anonymous = dingtalk_message(&chat, "u-4", "", "/lgtm gitlab-org/hello-world!1");
        assert_eq!(
            post_dingtalk(&bosun, anonymous, Some((APP_SECRET, now_ms))).await,
            400,
            "{db:?}: no senderStaffId"
        );
        // Signed, but answering to an address that is not the fake DingTalk's host.
        let mut elsewhere: serde_json::Value = serde_json::from_slice(&msg("u-5")).expect("json");
        elsewhere["sessionWebhook"] = "https://169.254.169.254/latest/meta-data".into();
        let elsewhere = serde_json::to_vec(&elsewhere).expect("json");
        assert_eq!(
            post_dingtalk(&bosun, elsewhere, Some((APP_SECRET, now_ms))).await,
            400,
            "{db:?}: a sessionWebhook elsewhere"
        );
        // One signature, two messages: DingTalk signs only the timestamp, so the second is
        // someone replaying the signature with a body of their own.
        let at = now().as_millis();
        let first = dingtalk_message(&chat, "u-6", "user123", "help");
        assert_eq!(
            post_dingtalk(&bosun, first.clone(), Some((APP_SECRET, at))).await,
            200,
            "{db:?}"
        );
        assert_eq!(
            post_dingtalk(&bosun, first, Some((APP_SECRET, at))).await,
            200,
            "{db:?}: the same message again (DingTalk retrying) is answered, and runs once"
        );
        let replayed = dingtalk_message(
            &chat,
            "u-7",
            "manager4711",
            "/lgtm gitlab-org/hello-world!1",
        );
        assert_eq!(
            post_dingtalk(&bosun, replayed, Some((APP_SECRET, at))).await,
            401,
            "{db:?}: a signature already used by another message"
        );
        for id in ["u-1", "u-2", "u-3", "u-4", "u-5", "u-7"] {
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
        let (bosun, _, mr) = bosun_with_chatops(db, &chat).await;

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
        // The delivery's page (public unless `private_pages`) shows neither the command's
        // reply address nor the reply action's: it posts into the conversation as bosun.
        let page = bosun.page("/deliveries/dingtalk:m-1").await;
        assert!(page.contains("chat_reply"), "{db:?}: the reply is listed");
        assert!(
            !page.contains(&chat.url("dingtalk-session")),
            "{db:?}: the sessionWebhook is shown"
        );
        assert!(page.contains("(hidden: it posts into the conversation as bosun)"));
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
        let page = bosun.page("/pr/gitlab/gitlab-org/hello-world/1").await;
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
        let (bosun, pr, _) = bosun_with_chatops(db, &chat).await;
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

/// The code in bosun's answer to `bind …`: the word after `/bosun-bind `.
fn code_in(reply: &str) -> String {
    let (_, rest) = reply
        .split_once("/bosun-bind ")
        .unwrap_or_else(|| panic!("no code in {reply}"));
    rest.chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// Self-service binding: an unbound DingTalk user asks for a code for GitLab's `bob`; alice
/// commenting it on the MR binds nothing, nor does a webhook of a comment of bob's that the
/// forge does not show; bob's comment binds them, once; from then on the chat
/// user's `/lgtm` acts as bob. The code used again, and an expired code, bind nothing.
#[tokio::test]
async fn a_chat_user_binds_themselves_with_a_code_confirmed_on_the_forge() {
    use crate::commands::say;
    use bosun::store::BindingCode;
    use bosun_plugins::ForgeKind;
    use sha2::Digest as _;
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start("", "", "");
        let (bosun, _, mr) = bosun_with_chatops(db, &chat).await;
        let signed = || Some((APP_SECRET, now().as_millis()));
        let ask = dingtalk_message(&chat, "b-1", "newbie", "bind gitlab bob");
        assert_eq!(post_dingtalk(&bosun, ask, signed()).await, 200);
        wait_for_reply(&chat, "dingtalk-session", 1).await;
        let asked = &replies(&chat, "dingtalk-session")[0];
        assert!(
            asked.contains("To act as gitlab user `bob` from chat, comment `/bosun-bind "),
            "{db:?}: {asked}"
        );
        let code = code_in(asked);
        assert_eq!(code.len(), 10, "{db:?}: {code}");
        let bound = || async {
            bosun
                .store
                .chat_binding("dingtalk:newbie", ForgeKind::GitLab)
                .await
                .expect("store")
        };

        say(&bosun, GITLAB, "alice", &format!("/bosun-bind {code}")).await;
        assert_eq!(
            bound().await,
            None,
            "{db:?}: alice cannot confirm bob's code"
        );
        // A webhook about a comment of bob's that the forge does not show: its sender holds
        // this project's secret, which proves nothing about bob.
        say(&bosun, GITLAB, "bob", &format!("/bosun-bind {code}")).await;
        assert_eq!(
            bound().await,
            None,
            "{db:?}: a comment the forge does not show binds nothing"
        );
        let confirm = format!("/bosun-bind {code}");
        bosun.forge.seed_comment(&mr, "bob", &confirm);
        say(&bosun, GITLAB, "bob", &confirm).await;
        assert_eq!(bound().await.as_deref(), Some("bob"), "{db:?}");
        let notes: Vec<String> = bosun
            .forge
            .comments(&mr)
            .into_iter()
            .map(|c| c.body)
            .collect();
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("@alice: that binding code is unknown")),
            "{db:?}: {notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("@bob: your chat account is bound to you")),
            "{db:?}: {notes:?}"
        );

        let lgtm = dingtalk_message(&chat, "b-2", "newbie", "/lgtm gitlab-org/hello-world!1");
        assert_eq!(post_dingtalk(&bosun, lgtm, signed()).await, 200);
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&mr), vec!["lgtm"], "{db:?}");
        assert!(
            bosun
                .forge
                .comments(&mr)
                .iter()
                .any(|c| c.body.contains("@bob sent `/lgtm` from DingTalk")),
            "{db:?}"
        );

        // The code a second time: it was used, so nothing is bound again.
        let bob_notes = |bosun: &TestBosun| {
            bosun
                .forge
                .comments(&mr)
                .into_iter()
                .filter(|c| c.body.starts_with("@bob: "))
                .map(|c| c.body)
                .collect::<Vec<_>>()
        };
        say(&bosun, GITLAB, "bob", &format!("/bosun-bind {code}")).await;
        let notes = bob_notes(&bosun);
        assert!(
            notes
                .last()
                .is_some_and(|n| n.starts_with("@bob: that binding code is unknown, used")),
            "{db:?}: {notes:?}"
        );
        let mut redeemed = 0;
        for d in bosun
            .store
            .recent_deliveries(100, None)
            .await
            .expect("deliveries")
        {
            let actions = bosun.store.delivery_actions(d.id).await.expect("actions");
            redeemed += actions
                .iter()
                .filter(|a| a.kind == "bind_chat_user")
                .count();
        }
        assert_eq!(redeemed, 1, "{db:?}: the code was redeemed once");

        // A code past its 30 minutes, as chat would have issued it.
        let now_ms = now().as_millis() as i64;
        bosun
            .store
            .create_binding_code(&BindingCode {
                code_hash: hex::encode(sha2::Sha256::digest(b"expiredcode")),
                chat_user: "dingtalk:late".into(),
                forge: ForgeKind::GitLab,
                login: "bob".into(),
                created_ms: now_ms - 31 * 60_000,
                expires_ms: now_ms - 60_000,
                used_action: None,
            })
            .await
            .expect("seed a code");
        say(&bosun, GITLAB, "bob", "/bosun-bind expiredcode").await;
        let late = bosun
            .store
            .chat_binding("dingtalk:late", ForgeKind::GitLab)
            .await
            .expect("store");
        assert_eq!(late, None, "{db:?}: an expired code binds no one");
        let before = replies(&chat, "dingtalk-session").len();
        let hold = dingtalk_message(&chat, "b-4", "late", "/hold gitlab-org/hello-world!1");
        assert_eq!(post_dingtalk(&bosun, hold, signed()).await, 200);
        wait_for_reply(&chat, "dingtalk-session", before + 1).await;
        assert!(
            replies(&chat, "dingtalk-session")[before].contains("You are not bound"),
            "{db:?}"
        );
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&mr), vec!["lgtm"], "{db:?}: no hold");
        bosun.shutdown().await;
    }
}

/// Posts a Slack Events API request, signed at `ts` unless `signed` is false.
async fn post_slack_event(
    bosun: &TestBosun,
    body: &serde_json::Value,
    ts: u64,
    signed: bool,
) -> (u16, String) {
    let body = serde_json::to_vec(body).expect("json");
    let mut req = bosun
        .http
        .post(bosun.url("/chat/slack/events"))
        .header("content-type", "application/json")
        .body(body.clone());
    if signed {
        let mut base = format!("v0:{ts}:").into_bytes();
        base.extend_from_slice(&body);
        req = req
            .header("x-slack-request-timestamp", ts.to_string())
            .header(
                "x-slack-signature",
                format!("v0={}", hex::encode(hmac(SLACK_SECRET, &base))),
            );
    }
    let resp = req.send().await.expect("bosun answers");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

/// Slack app mentions: the `url_verification` handshake is answered with its challenge once
/// signed; an unsigned mention is 401 and runs nothing; a signed one from a bound user holds
/// the PR and is answered in its thread through `chat.postMessage` with the bot token, once
/// even when Slack retries the event.
#[tokio::test]
async fn a_slack_app_mention_holds_a_github_pr_and_answers_in_its_thread() {
    for db in databases() {
        let _combination = Combination::new(db);
        let chat = FakeChat::start("", "", "");
        let (bosun, pr, _) = bosun_with_chatops(db, &chat).await;
        let handshake = serde_json::json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"});
        let (status, answer) = post_slack_event(&bosun, &handshake, now().as_secs(), false).await;
        assert_eq!(status, 401, "{db:?}: {answer}");
        let (status, answer) = post_slack_event(&bosun, &handshake, now().as_secs(), true).await;
        assert_eq!(status, 200, "{db:?}: {answer}");
        assert!(
            answer
                .contains("\"challenge\":\"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P\""),
            "{db:?}: {answer}"
        );

        let mention = serde_json::json!({
            "token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
            "event_id": "Ev0PV52K21", "event_time": now().as_secs(),
            "event": {"type": "app_mention", "user": "U2", "channel": "C0LAN2Q65",
                      "text": "<@U0LAN0Z89> hold kubernetes/test-infra#947",
                      "ts": "1515449522.000016", "event_ts": "1515449522000016"},
        });
        let (status, _) = post_slack_event(&bosun, &mention, now().as_secs(), false).await;
        assert_eq!(status, 401, "{db:?}");
        let (status, _) = post_slack_event(&bosun, &mention, now().as_secs() - 600, true).await;
        assert_eq!(status, 401, "{db:?}: stale");
        assert!(
            bosun
                .store
                .delivery("slack:Ev0PV52K21")
                .await
                .expect("store")
                .is_none(),
            "{db:?}: nothing journaled"
        );
        let (status, _) = post_slack_event(&bosun, &mention, now().as_secs(), true).await;
        assert_eq!(status, 200, "{db:?}");
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), vec!["do-not-merge/hold"], "{db:?}");
        wait_for_reply(&chat, "slack-api", 1).await;
        let posted: Vec<serde_json::Value> = chat
            .received()
            .into_iter()
            .filter(|r| r.platform == "slack-api")
            .map(|r| r.body)
            .collect();
        assert_eq!(posted[0]["channel"], "C0LAN2Q65", "{db:?}");
        assert_eq!(posted[0]["thread_ts"], "1515449522.000016", "{db:?}");
        let text = posted[0]["text"].as_str().unwrap_or("");
        assert!(
            text.starts_with("<@U2> Done on kubernetes/test-infra#947"),
            "{db:?}: {text}"
        );
        // Slack retries the event (same event_id): it runs once.
        let (status, _) = post_slack_event(&bosun, &mention, now().as_secs(), true).await;
        assert_eq!(status, 200, "{db:?}");
        bosun.run_until_idle().await;
        assert_eq!(replies(&chat, "slack-api").len(), 1, "{db:?}");
        assert!(chat.refused().is_empty(), "{db:?}: {:?}", chat.refused());
        bosun.shutdown().await;
    }
}
