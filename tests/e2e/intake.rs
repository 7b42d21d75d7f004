//! The receiver's answers, from real HTTP requests to a real bosun, on every database.

use crate::support::*;
use bosun_plugins::ForgeKind;

/// What to send and the status bosun must answer.
type RefusalCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);

async fn stored_count(bosun: &TestBosun) -> i64 {
    bosun
        .store
        .status_counts()
        .await
        .expect("counts")
        .values()
        .sum()
}

async fn raw_post(bosun: &TestBosun, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let mut req = bosun.http.post(bosun.hook_url()).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("answer");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

/// Every refusal has its status, a one-line reason without the payload, and stores nothing.
#[tokio::test]
async fn every_status_code_of_the_receiver() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let body = github_pr_comment(947, "alice", "/hold SECRET-PAYLOAD-TEXT");

        let (s, _) = bosun
            .post(ForgeKind::GitHub, "issue_comment", "d-1", &body)
            .await;
        assert_eq!(s, 202, "{db:?}: a signed delivery is accepted");
        let (s, text) = bosun
            .post(ForgeKind::GitHub, "issue_comment", "d-1", &body)
            .await;
        assert_eq!(s, 200, "{db:?}: a redelivery is acknowledged");
        assert!(text.contains("already"), "{text}");
        assert_eq!(stored_count(&bosun).await, 1);

        let sig = |b: &[u8]| {
            let headers = bosun::cli::signed_request(
                bosun::cli::SendForge::Github,
                "issue_comment",
                GITHUB_SECRET,
                "x",
                b,
            );
            headers
                .into_iter()
                .find(|(k, _)| *k == "x-hub-signature-256")
                .map(|(_, v)| v)
                .expect("sig")
        };
        let good_sig = sig(&body);
        let cases: Vec<RefusalCase> = vec![
            (
                "no event header",
                vec![
                    ("content-type", "application/json"),
                    ("x-github-delivery", "d-2"),
                    ("x-hub-signature-256", &good_sig),
                ],
                body.clone(),
                400,
            ),
            (
                "no delivery header",
                vec![
                    ("content-type", "application/json"),
                    ("x-github-event", "issue_comment"),
                    ("x-hub-signature-256", &good_sig),
                ],
                body.clone(),
                400,
            ),
            (
                "no signature",
                vec![
                    ("content-type", "application/json"),
                    ("x-github-event", "issue_comment"),
                    ("x-github-delivery", "d-3"),
                ],
                body.clone(),
                401,
            ),
            (
                "wrong signature",
                vec![
                    ("content-type", "application/json"),
                    ("x-github-event", "issue_comment"),
                    ("x-github-delivery", "d-4"),
                    ("x-hub-signature-256", "sha256=00ff"),
                ],
                body.clone(),
                401,
            ),
            (
                "form content type",
                vec![
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("x-github-event", "issue_comment"),
                    ("x-github-delivery", "d-5"),
                    ("x-hub-signature-256", &good_sig),
                ],
                body.clone(),
                415,
            ),
            (
                "gitlab without token",
                vec![
                    ("content-type", "application/json"),
                    ("x-gitlab-event", "Note Hook"),
                ],
                gitlab_mr_note(1, "a", "/hold"),
                401,
            ),
            (
                "gitlab wrong token",
                vec![
                    ("content-type", "application/json"),
                    ("x-gitlab-event", "Note Hook"),
                    ("x-gitlab-token", "nope"),
                ],
                gitlab_mr_note(1, "a", "/hold"),
                401,
            ),
        ];
        for (what, headers, body, want) in cases {
            let (s, text) = raw_post(&bosun, &headers, body).await;
            assert_eq!(s, want, "{db:?}: {what}: {text}");
            assert_eq!(
                text.trim_end().lines().count(),
                1,
                "{what}: one line: {text:?}"
            );
            assert!(
                !text.contains("SECRET-PAYLOAD-TEXT"),
                "{what}: payload echoed"
            );
        }

        // Signed, so only the body is wrong. JSON text is UTF-8: a byte 0xFF in a string
        // bosun's routing never reads is as invalid as a broken brace.
        let mut not_utf8 = body.clone();
        let at = not_utf8
            .windows(5)
            .position(|w| w == b"SECRE")
            .expect("the comment's text is in the body");
        not_utf8[at] = 0xFF;
        for (what, delivery, bad) in [
            ("invalid JSON", "d-6", b"{not json".to_vec()),
            ("a string that is not UTF-8", "d-6b", not_utf8),
        ] {
            let s = sig(&bad);
            let (status, text) = raw_post(
                &bosun,
                &[
                    ("content-type", "application/json"),
                    ("x-github-event", "issue_comment"),
                    ("x-github-delivery", delivery),
                    ("x-hub-signature-256", &s),
                ],
                bad,
            )
            .await;
            assert_eq!(status, 400, "{db:?}: {what}: {text}");
            assert_eq!(
                text.trim_end(),
                "body is not a valid JSON webhook payload",
                "{db:?}: {what}"
            );
        }

        let huge = vec![b' '; 25 * 1024 * 1024 + 1];
        let (status, _) = raw_post(
            &bosun,
            &[
                ("content-type", "application/json"),
                ("x-github-event", "issue_comment"),
                ("x-github-delivery", "d-7"),
                ("x-hub-signature-256", "sha256=00"),
            ],
            huge,
        )
        .await;
        assert_eq!(status, 413, "{db:?}: body over 25 MiB");

        assert_eq!(
            stored_count(&bosun).await,
            1,
            "{db:?}: rejected requests stored nothing"
        );
        let (s, _) = bosun
            .post(
                ForgeKind::GitLab,
                "Note Hook",
                "g-1",
                &gitlab_mr_note(1, "a", "hi"),
            )
            .await;
        assert_eq!(
            s, 202,
            "{db:?}: a GitLab delivery with its token is accepted"
        );
        bosun.run_until_idle().await;
        bosun.shutdown().await;
    }
}

/// A forge's webhook cannot name an event bosun takes only from elsewhere: signed with the
/// forge's own secret, a `chat_command` would run as the chat user it names and a `drone` as a
/// finished build. Refused with 400, nothing stored.
#[tokio::test]
async fn a_webhook_cannot_claim_the_events_bosun_takes_from_elsewhere() {
    let reserved = ["chat_command", "drone", "bosun/resync", "bosun_failed"];
    assert_eq!(
        bosun::webhook::NOT_FROM_FORGE_HOOKS.len(),
        reserved.len(),
        "every name is tried here"
    );
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        for (i, event) in reserved.iter().enumerate() {
            for (forge, body) in [
                (ForgeKind::GitHub, github_pr_comment(947, "alice", "/lgtm")),
                (ForgeKind::GitLab, gitlab_mr_note(1, "alice", "/lgtm")),
            ] {
                let (status, text) = bosun.post(forge, event, &format!("r-{i}"), &body).await;
                assert_eq!(status, 400, "{db:?}: {forge:?} {event}: {text}");
                assert_eq!(
                    text.trim_end(),
                    "this event name is reserved for deliveries bosun does not take from a forge",
                    "{db:?}: {forge:?} {event}"
                );
            }
        }
        assert_eq!(stored_count(&bosun).await, 0, "{db:?}: nothing stored");
        bosun.shutdown().await;
    }
}

/// The receiver checks a webhook's secret for the payload's top-level `repository`; plugins
/// act there and nowhere else. A PR event whose `base.repo` names another repository acts in
/// the top-level one, and one without a top-level repository does nothing and fails.
#[tokio::test]
async fn a_payload_acts_only_in_the_repository_its_webhook_was_checked_for() {
    const OTHER_REPO: &str = "kubernetes/other";
    let review_comment = |repository: Option<&str>| {
        let mut v = fixture("github/pull_request_review_comment/created.json");
        patch(&mut v, "/pull_request/number", 5.into());
        patch(
            &mut v,
            "/pull_request/base/repo/full_name",
            GITHUB_REPO.into(),
        );
        patch(&mut v, "/comment/body", "/hold".into());
        patch(&mut v, "/comment/user/login", "alice".into());
        match repository {
            Some(name) => patch(&mut v, "/repository/full_name", name.into()),
            None => {
                v.as_object_mut().expect("an object").remove("repository");
            }
        }
        serde_json::to_vec(&v).expect("json")
    };
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 5, "spxtr");
        let other = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, OTHER_REPO, 5, "spxtr");
        let event = "pull_request_review_comment";

        let (s, text) = bosun
            .post(ForgeKind::GitHub, event, "s-1", &review_comment(None))
            .await;
        assert_eq!(s, 202, "{db:?}: {text}");
        bosun.run_until_idle().await;
        assert_eq!(
            bosun.status_of("github:s-1").await.as_deref(),
            Some("failed"),
            "{db:?}: no top-level repository"
        );
        assert!(bosun.forge.labels(&pr).is_empty(), "{db:?}: {GITHUB_REPO}");

        let (s, text) = bosun
            .post(
                ForgeKind::GitHub,
                event,
                "s-2",
                &review_comment(Some(OTHER_REPO)),
            )
            .await;
        assert_eq!(s, 202, "{db:?}: {text}");
        bosun.run_until_idle().await;
        assert!(
            bosun.forge.labels(&pr).is_empty(),
            "{db:?}: {GITHUB_REPO} is only the base.repo"
        );
        assert_eq!(
            bosun.forge.labels(&other),
            vec!["do-not-merge/hold"],
            "{db:?}: held where the webhook was checked"
        );

        let (s, text) = bosun
            .post(
                ForgeKind::GitHub,
                event,
                "s-3",
                &review_comment(Some(GITHUB_REPO)),
            )
            .await;
        assert_eq!(s, 202, "{db:?}: {text}");
        bosun.run_until_idle().await;
        assert_eq!(
            bosun.forge.labels(&pr),
            vec!["do-not-merge/hold"],
            "{db:?}: the same payload in its own repository"
        );
        bosun.shutdown().await;
    }
}

/// The same delivery posted 10 times at once: one row, processed once.
#[tokio::test]
async fn concurrent_redeliveries_store_one_row() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        let body = github_pr_comment(947, "alice", "/hold");
        let posts =
            (0..10).map(|_| bosun.post(ForgeKind::GitHub, "issue_comment", "same-id", &body));
        let statuses: Vec<u16> = futures::future::join_all(posts)
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 202).count(),
            1,
            "{db:?}: {statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            9,
            "{db:?}: {statuses:?}"
        );
        bosun.run_until_idle().await;
        assert_eq!(stored_count(&bosun).await, 1);
        assert_eq!(bosun.forge.labels(&pr), vec!["do-not-merge/hold"]);
        assert_eq!(
            bosun.forge.count_requests("POST", "/issues/947/labels"),
            1,
            "{db:?}: processed once"
        );
        bosun.shutdown().await;
    }
}

/// GitLab deliveries without a delivery id header are identified by a hash of the body.
#[tokio::test]
async fn gitlab_delivery_without_id_is_deduplicated_by_body() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let body = gitlab_mr_note(1, "alice", "hello");
        let headers = [
            ("content-type", "application/json"),
            ("x-gitlab-event", "Note Hook"),
            ("x-gitlab-token", GITLAB_TOKEN),
        ];
        assert_eq!(raw_post(&bosun, &headers, body.clone()).await.0, 202);
        assert_eq!(raw_post(&bosun, &headers, body).await.0, 200);
        bosun.run_until_idle().await;
        bosun.shutdown().await;
    }
}

/// Health, readiness and metrics answer; metrics count what was received.
#[tokio::test]
async fn operational_endpoints_answer() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db).without_poll()).await;
        let get = |p: &str| bosun.http.get(bosun.url(p)).send();
        assert_eq!(
            get("/healthz").await.expect("healthz").status().as_u16(),
            200
        );
        assert_eq!(get("/readyz").await.expect("readyz").status().as_u16(), 200);
        // Handed to a waiting worker, and counted.
        bosun.all_workers_waiting().await;
        let (s, _) = bosun
            .post(
                ForgeKind::GitHub,
                "ping",
                "p-1",
                &fixture_bytes("github/ping/payload.json"),
            )
            .await;
        assert_eq!(s, 202);
        bosun.run_until_idle().await;
        let text = get("/metrics")
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(text.contains("bosun_webhooks_total"), "{text}");
        assert!(text.contains("bosun_ack_latency_seconds"), "{text}");
        assert!(text.contains("bosun_queue_depth"), "{text}");
        assert!(text.contains("bosun_deliveries_total"), "{text}");
        assert!(text.contains("bosun_deliveries_handed_total"), "{text}");
        bosun.shutdown().await;
    }
}

/// A webhook is journaled compressed (a fraction of its bytes) and read back as received by
/// the delivery page and by the worker, which acts on it, on every database.
#[tokio::test]
async fn webhooks_are_journaled_compressed_and_read_back_as_received() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        let body = github_pr_comment(947, "alice", "/hold");
        let (s, _) = bosun
            .post(ForgeKind::GitHub, "issue_comment", "lz4-1", &body)
            .await;
        assert_eq!(s, 202, "{db:?}");
        let sql = "SELECT payload_encoding, CAST(length(payload) AS BIGINT) FROM deliveries WHERE delivery_id = 'github:lz4-1'";
        let (encoding, stored): (String, i64) = match db {
            Db::Sqlite => {
                let pool = sqlx::SqlitePool::connect(bosun.db_url())
                    .await
                    .expect("open");
                sqlx::query_as(sql).fetch_one(&pool).await.expect("row")
            }
            Db::Postgres => {
                let pool = sqlx::PgPool::connect(bosun.db_url()).await.expect("open");
                sqlx::query_as(sql).fetch_one(&pool).await.expect("row")
            }
        };
        assert_eq!(encoding, "zstd-d1", "{db:?}");
        assert!(
            stored * 4 < body.len() as i64,
            "{db:?}: {stored} bytes stored for {}",
            body.len()
        );
        let detail = bosun
            .store
            .delivery_detail("github:lz4-1")
            .await
            .expect("read")
            .expect("row");
        assert!(detail.payload == body, "{db:?}: read back as received");
        bosun.run_until_idle().await;
        assert_eq!(
            bosun.forge.labels(&pr),
            vec!["do-not-merge/hold"],
            "{db:?}: the worker read it"
        );
        bosun.shutdown().await;
    }
}
