//! CI state end to end, on both databases: GitHub check runs and statuses and Drone's signed
//! build webhooks are journaled, normalized, kept per commit, mapped to their PR, and shown on
//! the PR page; Drone's unsigned, forged, tampered or stale webhooks are refused.

use crate::support::*;
use base64::Engine;
use bosun_plugins::{CiState, ForgeKind};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest as _;

pub(crate) const DRONE_SECRET: &str = "drone-webhook-secret";
const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

async fn bosun_with_drone(db: Db) -> TestBosun {
    let mut o = Options::new(db);
    o.extra.push_str(
        "[drone]\nurl = \"http://127.0.0.1:9\"\nforge = \"gitlab\"\nwebhook_secret_env = \"TEST_DRONE_SECRET\"\n",
    );
    o.env
        .push(("TEST_DRONE_SECRET".into(), DRONE_SECRET.into()));
    spawn_bosun(o).await
}

pub(crate) fn constructed(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("constructed").join(rel)).expect("fixture")
}

/// Posts a Drone webhook signed as Drone signs (or not, or with `secret`), dated `date`.
pub(crate) async fn post_drone(
    bosun: &TestBosun,
    body: &[u8],
    secret: Option<&str>,
    date: &str,
) -> u16 {
    let digest = format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body))
    );
    let mut req = bosun
        .http
        .post(bosun.url("/hook/drone"))
        .header("content-type", "application/json")
        .header("x-drone-event", "build")
        .header("date", date)
        .header("digest", &digest)
        .body(body.to_vec());
    if let Some(secret) = secret {
        let mut mac =
            <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("date: {date}\ndigest: {digest}").as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        req = req.header(
            "signature",
            format!(r#"keyId="hmac-key",algorithm="hmac-sha256",signature="{signature}",headers="date digest""#),
        );
    }
    req.send().await.expect("bosun answers").status().as_u16()
}

pub(crate) fn now_http() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// A check run and a status on a PR's head show on its page; the status, which names no PR,
/// is mapped to the PR by its head.
#[tokio::test]
async fn github_check_runs_and_statuses_are_kept_per_pr_head() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let opened = fixture_bytes("github/pull_request/opened.json");
        bosun
            .post(ForgeKind::GitHub, "pull_request", "ci-0", &opened)
            .await;
        bosun.run_until_idle().await;
        let check = fixture_bytes("github/check_run/completed.json");
        assert_eq!(
            bosun
                .post(ForgeKind::GitHub, "check_run", "ci-1", &check)
                .await
                .0,
            202
        );
        let mut status = fixture("github/status/payload.json");
        patch(&mut status, "/sha", HEAD.into());
        patch(&mut status, "/state", "failure".into());
        patch(
            &mut status,
            "/target_url",
            "https://ci.example.com/build/7".into(),
        );
        let status = serde_json::to_vec(&status).expect("json");
        assert_eq!(
            bosun
                .post(ForgeKind::GitHub, "status", "ci-2", &status)
                .await
                .0,
            202
        );
        bosun.run_until_idle().await;

        let contexts = bosun
            .store
            .ci_contexts(ForgeKind::GitHub, "Codertocat/Hello-World", HEAD)
            .await
            .expect("contexts");
        let states: Vec<(&str, CiState)> = contexts
            .iter()
            .map(|c| (c.context.as_str(), c.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("Octocoders-linter", CiState::Success),
                ("default", CiState::Failure)
            ]
        );
        let page = bosun.page("/pr/github/Codertocat/Hello-World/2").await;
        assert!(
            page.contains(r#"<a href="https://ci.example.com/build/7">default</a>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<span class="badge failure">failure</span>"#),
            "{page}"
        );
        assert!(page.contains("Octocoders-linter"), "{page}");
        bosun.shutdown().await;
    }
}

/// A signed Drone build webhook is kept as its MR's `continuous-integration/drone/pr`; the same
/// state reported again (Drone reports every step) does not run plugins again; a restart's new
/// build replaces the state; unsigned, forged, tampered and stale webhooks are 401 and stored
/// nowhere.
#[tokio::test]
async fn drone_webhooks_are_verified_and_kept() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = bosun_with_drone(db).await;
        let failed = constructed("drone/build.updated.pr.failure.json");
        let date = now_http();

        assert_eq!(
            post_drone(&bosun, &failed, None, &date).await,
            401,
            "unsigned"
        );
        assert_eq!(
            post_drone(&bosun, &failed, Some("forged"), &date).await,
            401,
            "forged"
        );
        let stale = (chrono::Utc::now() - chrono::Duration::minutes(10))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        assert_eq!(
            post_drone(&bosun, &failed, Some(DRONE_SECRET), &stale).await,
            401,
            "stale"
        );
        let tampered = {
            // Signed for one body, sent with another.
            let digest = format!(
                "SHA-256={}",
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&failed))
            );
            let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(DRONE_SECRET.as_bytes())
                .expect("key");
            mac.update(format!("date: {date}\ndigest: {digest}").as_bytes());
            let signature =
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            bosun
                .http
                .post(bosun.url("/hook/drone"))
                .header("content-type", "application/json")
                .header("date", &date)
                .header("digest", digest)
                .header("signature", format!(r#"keyId="k",algorithm="hmac-sha256",signature="{signature}",headers="date digest""#))
                .body(constructed("drone/build.updated.pr.success.json"))
                .send()
                .await
                .expect("answers")
                .status()
                .as_u16()
        };
        assert_eq!(tampered, 401, "tampered body");
        assert_eq!(
            bosun
                .store
                .status_counts()
                .await
                .expect("counts")
                .values()
                .sum::<i64>(),
            0
        );

        assert_eq!(
            post_drone(&bosun, &failed, Some(DRONE_SECRET), &date).await,
            202
        );
        assert_eq!(
            post_drone(&bosun, &failed, Some(DRONE_SECRET), &date).await,
            200,
            "same body"
        );
        bosun.run_until_idle().await;
        let sha = "c0ffee0000000000000000000000000000000001";
        let contexts = bosun
            .store
            .ci_contexts(ForgeKind::GitLab, "gitlab-org/hello-world", sha)
            .await
            .expect("contexts");
        assert_eq!(contexts.len(), 1);
        assert_eq!(contexts[0].context, "continuous-integration/drone/pr");
        assert_eq!(contexts[0].state, CiState::Failure);
        assert_eq!(contexts[0].run_id.as_deref(), Some("101"));

        // The same state again in another update (a step finishing): recorded, not re-run.
        let mut again: serde_json::Value = serde_json::from_slice(&failed).expect("json");
        again["build"]["updated"] = 1700000300.into();
        let again = serde_json::to_vec(&again).expect("json");
        assert_eq!(
            post_drone(&bosun, &again, Some(DRONE_SECRET), &date).await,
            202
        );
        bosun.run_until_idle().await;
        let deliveries = bosun
            .store
            .recent_deliveries(10, None)
            .await
            .expect("deliveries");
        let notes: Vec<String> = deliveries
            .iter()
            .filter_map(|d| d.last_error.clone())
            .collect();
        assert!(
            notes.iter().any(|n| n.starts_with("CI state unchanged")),
            "{notes:?}"
        );

        let passed = constructed("drone/build.updated.pr.success.json");
        assert_eq!(
            post_drone(&bosun, &passed, Some(DRONE_SECRET), &date).await,
            202
        );
        bosun.run_until_idle().await;
        let contexts = bosun
            .store
            .ci_contexts(ForgeKind::GitLab, "gitlab-org/hello-world", sha)
            .await
            .expect("contexts");
        assert_eq!(contexts[0].state, CiState::Success);
        assert_eq!(
            contexts[0].run_id.as_deref(),
            Some("102"),
            "the restart's build"
        );
        bosun.shutdown().await;
    }
}

/// A Drone build fails on an MR's head; a member's `/retest` restarts exactly that build on the
/// fake Drone, through a 503 (retried, checked first, restarted once).
#[tokio::test]
async fn retest_restarts_the_failed_drone_build_once() {
    use crate::fake_drone::FakeDrone;
    for db in databases() {
        let _combination = Combination::new(db);
        let drone = FakeDrone::start("drone-token");
        let mut o = Options::new(db);
        o.extra = format!(
            "[plugins.\"gitlab-org\"]\nenabled = [\"trigger\"]\n[drone]\nurl = \"{}\"\nforge = \"gitlab\"\nwebhook_secret_env = \"TEST_DRONE_SECRET\"\ntoken_env = \"TEST_DRONE_TOKEN\"\n",
            drone.url()
        );
        o.env
            .push(("TEST_DRONE_SECRET".into(), DRONE_SECRET.into()));
        o.env
            .push(("TEST_DRONE_TOKEN".into(), "drone-token".into()));
        let bosun = spawn_bosun(o).await;
        let mr = bosun
            .forge
            .seed_pr(ForgeKind::GitLab, GITLAB_REPO, 1, "mr-author");
        bosun.forge.add_member(
            ForgeKind::GitLab,
            GITLAB_REPO,
            "alice",
            fake_forge::access::DEVELOPER,
        );
        let head = bosun.forge.item(&mr).head_sha;
        let mut failed: serde_json::Value =
            serde_json::from_slice(&constructed("drone/build.updated.pr.failure.json"))
                .expect("json");
        failed["build"]["after"] = head.clone().into();
        let failed = serde_json::to_vec(&failed).expect("json");
        assert_eq!(
            post_drone(&bosun, &failed, Some(DRONE_SECRET), &now_http()).await,
            202
        );
        bosun.run_until_idle().await;

        drone.fail_next(1);
        let mut note = fixture("gitlab/note/merge_request.json");
        patch(&mut note, "/object_attributes/note", "/retest".into());
        patch(&mut note, "/user/username", "alice".into());
        patch(&mut note, "/merge_request/iid", 1.into());
        let note = serde_json::to_vec(&note).expect("json");
        assert_eq!(
            bosun
                .post(ForgeKind::GitLab, "Note Hook", "rt-1", &note)
                .await
                .0,
            202
        );
        bosun.run_until_idle().await;

        let restart = "POST /api/repos/gitlab-org/hello-world/builds/101";
        let requests = drone.requests();
        let restarts = requests.iter().filter(|r| r.as_str() == restart).count();
        assert_eq!(restarts, 2, "the 503, then the restart: {requests:?}");
        assert!(
            requests
                .iter()
                .any(|r| r.starts_with("GET /api/repos/gitlab-org/hello-world/builds")),
            "checked before repeating: {requests:?}"
        );
        assert_eq!(
            bosun.status_of("gitlab:rt-1").await.as_deref(),
            Some("done")
        );
        let page = bosun.page("/pr/gitlab/gitlab-org/hello-world/1").await;
        assert!(page.contains("continuous-integration/drone/pr"), "{page}");
        assert!(
            page.contains("CI continuous-integration/drone/pr is failure"),
            "the Drone delivery reads as what it is on the timeline: {page}"
        );
        bosun.shutdown().await;
    }
}
