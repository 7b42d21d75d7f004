//! Secrets never leave bosun: the real `bosun serve` binary runs at trace level through a full
//! scenario on both forges — good deliveries, bad signatures and tokens, forge errors that are
//! retried and one that fails for good — and every log line, every answer to a webhook, every
//! page and every stored error is scanned for the webhook secrets, the API tokens, the GitHub
//! App's private key, every credential bosun sent the forge (installation tokens, App JWTs),
//! the admin token (after replays tried with a wrong and the right one) and the database
//! password. `bosun check-config` output is scanned too.

use crate::support::*;
use bosun::cli::{SendForge, signed_request};
use bosun_plugins::ForgeKind;
use fake_forge::{FakeForge, Fault};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const APP_ID: u64 = 4242;
const GITHUB_API_TOKEN: &str = "gh-api-token";
const GITLAB_API_TOKEN: &str = "gl-api-token";
/// Guards replay from the pages.
const ADMIN_TOKEN: &str = "admin-t0ken-5ecret";
/// Sent on Postgres URLs; trust authentication ignores it, so only a leak would show it.
const DB_PASSWORD: &str = "pg-pass-5ecret";

/// How bosun authenticates to GitHub in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GitHubAuth {
    Token,
    App,
}

/// One webhook the scenario sends: what it is, forge, event, secret it is signed with, body,
/// and the status expected.
type Sent = (
    &'static str,
    SendForge,
    &'static str,
    &'static str,
    Vec<u8>,
    u16,
);

/// Everything bosun said or showed in one run, labelled by where it came from.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, place: impl Into<String>, text: impl Into<String>) {
        self.0.push((place.into(), text.into()));
    }
}

/// A `bosun serve` child logging JSON at trace level to a file; killed when dropped.
struct ServeProcess {
    child: Child,
    port: u16,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bosun_command(env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bosun"));
    cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

async fn start(config: &Path, log: &Path, env: &[(String, String)]) -> ServeProcess {
    let stderr = std::fs::File::create(log).expect("log file");
    let child = bosun_command(env)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "trace")
        .env("BOSUN_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn bosun serve");
    let mut process = ServeProcess { child, port: 0 };
    let deadline = Instant::now() + Duration::from_secs(30);
    process.port = loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let port = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| {
                v.pointer("/fields/message").and_then(Value::as_str) == Some("bosun listening")
            })
            .and_then(|v| v.pointer("/fields/port").and_then(Value::as_u64));
        if let Some(port) = port {
            break port as u16;
        }
        if let Some(status) = process.child.try_wait().expect("try_wait") {
            panic!("bosun exited with {status}:\n{}", tail(&text));
        }
        assert!(
            Instant::now() < deadline,
            "bosun did not listen:\n{}",
            tail(&text)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    process
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Posts `body` with `headers`; the status and the answer's body.
async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&'static str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut req = http.post(url).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.expect("bosun answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// One full scenario; returns what bosun showed and the secrets it must not have shown.
async fn scenario(db: Db, auth: GitHubAuth) -> (Seen, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let test_db = TestDb::new(db).await;
    let db_url = match db {
        Db::Sqlite => test_db.url.clone(),
        Db::Postgres => {
            let mut url = reqwest::Url::parse(&test_db.url).expect("a Postgres URL");
            url.set_password(Some(DB_PASSWORD))
                .expect("a URL with a host");
            url.to_string()
        }
    };
    let forge = FakeForge::start();
    forge.set_bot(ForgeKind::GitHub, BOT);
    forge.set_bot(ForgeKind::GitLab, BOT);
    let mut env = test_env(true);
    env.push(("BOSUN_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
    if auth == GitHubAuth::App {
        forge.enable_github_app(APP_ID, "bosun-app", fake_forge::TEST_APP_PUBLIC_KEY_PEM);
        forge.install_github_app("kubernetes", 31);
        env.push(("BOSUN_GITHUB__APP_ID".into(), APP_ID.to_string()));
        env.push((
            "BOSUN_GITHUB__PRIVATE_KEY_FILE".into(),
            fake_forge::test_app_private_key_path()
                .display()
                .to_string(),
        ));
    }
    let gh_ok = forge.seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
    let gh_flaky = forge.seed_pr(ForgeKind::GitHub, GITHUB_REPO, 948, "spxtr");
    let gl_ok = forge.seed_pr(ForgeKind::GitLab, GITLAB_REPO, 1, "sytses");
    forge.seed_pr(ForgeKind::GitLab, GITLAB_REPO, 2, "sytses");

    let config = dir.path().join("bosun.toml");
    std::fs::write(
        &config,
        config_text(
            &db_url,
            &forge.url(),
            "[plugins.\"kubernetes\"]\nenabled = [\"hold\", \"lgtm\"]\n[plugins.\"gitlab-org\"]\nenabled = [\"hold\", \"lgtm\"]\n",
        ),
    )
    .expect("write config");
    let log = dir.path().join("bosun.log");
    let process = start(&config, &log, &env).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", process.port);
    wait_until(
        "bosun answers /healthz",
        Duration::from_secs(20),
        || async { matches!(http.get(url("/healthz")).send().await, Ok(r) if r.status() == 200) },
    )
    .await;

    let mut seen = Seen::default();
    // Forge errors: two 500s on a GitHub read (retried), a 401 on every GitLab call for MR 2
    // (fails for good).
    forge.fail_next(
        &format!("/repos/{GITHUB_REPO}/issues/948/labels"),
        2,
        Fault::Status500,
    );
    forge.fail_next(
        "/merge_requests/2",
        100,
        Fault::Status {
            status: 401,
            message: "401 Unauthorized".into(),
        },
    );
    let gh = |n: u64, body: &str| github_pr_comment(n, "alice", body);
    let gl = |n: u64, body: &str| gitlab_mr_note(n, "alice", body);
    let deliveries: Vec<Sent> = vec![
        (
            "good github",
            SendForge::Github,
            "issue_comment",
            GITHUB_SECRET,
            gh(947, "/hold"),
            202,
        ),
        (
            "flaky github",
            SendForge::Github,
            "issue_comment",
            GITHUB_SECRET,
            gh(948, "/hold"),
            202,
        ),
        (
            "good gitlab",
            SendForge::Gitlab,
            "Note Hook",
            GITLAB_TOKEN,
            gl(1, "/hold"),
            202,
        ),
        (
            "failing gitlab",
            SendForge::Gitlab,
            "Note Hook",
            GITLAB_TOKEN,
            gl(2, "/hold"),
            202,
        ),
        (
            "bad github signature",
            SendForge::Github,
            "issue_comment",
            "not-the-secret",
            gh(947, "/lgtm"),
            401,
        ),
        (
            "bad gitlab token",
            SendForge::Gitlab,
            "Note Hook",
            "not-the-token",
            gl(1, "/lgtm"),
            401,
        ),
    ];
    for (i, (what, send_forge, event, secret, body, expected)) in deliveries.into_iter().enumerate()
    {
        let headers = signed_request(send_forge, event, secret, &format!("s-{i}"), &body);
        let (status, text) = post(&http, &url("/hook"), &headers, &body).await;
        assert_eq!(status, expected, "{what}: {text}");
        seen.add(format!("answer to {what}"), text);
    }
    // Requests missing the credential, or cut short, or not JSON.
    let body = gh(947, "/hold");
    let mut headers = signed_request(
        SendForge::Github,
        "issue_comment",
        GITHUB_SECRET,
        "s-x",
        &body,
    );
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-hub-signature-256"));
    let (status, text) = post(&http, &url("/hook"), &headers, &body).await;
    assert_eq!(status, 401, "{text}");
    seen.add("answer without a signature", text);
    let garbage = b"{not json".to_vec();
    let headers = signed_request(
        SendForge::Gitlab,
        "Note Hook",
        GITLAB_TOKEN,
        "s-y",
        &garbage,
    );
    let (status, text) = post(&http, &url("/hook"), &headers, &garbage).await;
    assert_eq!(status, 400, "{text}");
    seen.add("answer to invalid JSON", text);

    let store = bosun::store::connect(&test_db.url, 2).await.expect("store");
    wait_until(
        "every delivery finished",
        Duration::from_secs(60),
        || async {
            let counts = store.status_counts().await.expect("counts");
            counts.get("queued").copied().unwrap_or(0) + counts.get("running").copied().unwrap_or(0)
                == 0
        },
    )
    .await;
    assert_eq!(
        forge.labels(&gh_ok),
        ["do-not-merge/hold"],
        "{db:?} {auth:?}"
    );
    assert_eq!(
        forge.labels(&gh_flaky),
        ["do-not-merge/hold"],
        "{db:?} {auth:?}"
    );
    assert_eq!(
        forge.labels(&gl_ok),
        ["do-not-merge/hold"],
        "{db:?} {auth:?}"
    );
    for id in ["github:s-0", "github:s-1", "gitlab:s-2", "gitlab:s-3"] {
        let record = store.delivery(id).await.expect("store").expect("stored");
        seen.add(
            format!("stored error of {id}"),
            record.last_error.unwrap_or_default(),
        );
    }
    let failed = store
        .delivery("gitlab:s-3")
        .await
        .expect("store")
        .expect("stored");
    assert_eq!(failed.status, "failed", "{db:?} {auth:?}: {failed:?}");

    // Replay with a wrong token (header, then form) and with the right one.
    let replay = url("/admin/replay/gitlab%3As-3");
    for (how, req, expected) in [
        (
            "wrong bearer",
            http.post(&replay).bearer_auth("not-the-token"),
            401,
        ),
        (
            "wrong form",
            http.post(&replay)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("token=not-the-token"),
            401,
        ),
        (
            "right bearer",
            http.post(&replay).bearer_auth(ADMIN_TOKEN),
            202,
        ),
    ] {
        let resp = req.send().await.expect("bosun answers");
        let status = resp.status().as_u16();
        assert_eq!(status, expected, "{db:?} {auth:?}: replay with a {how}");
        seen.add(
            format!("replay answer ({how}, {status})"),
            resp.text().await.unwrap_or_default(),
        );
    }
    for page in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/command-help",
        "/plugin-help",
        "/",
        "/?status=failed",
        "/deliveries/github%3As-0",
        "/deliveries/gitlab%3As-3",
        "/pr/github/kubernetes/test-infra/947",
        "/pr/gitlab/gitlab-org/hello-world/1",
        "/login",
        "/no-such-page",
    ] {
        let resp = http.get(url(page)).send().await.expect("bosun answers");
        seen.add(
            format!("page {page}"),
            resp.text().await.unwrap_or_default(),
        );
    }
    drop(process);

    let output = bosun_command(&env)
        .arg("check-config")
        .arg(&config)
        .output()
        .expect("check-config runs");
    seen.add(
        "check-config stdout",
        String::from_utf8_lossy(&output.stdout),
    );
    seen.add(
        "check-config stderr",
        String::from_utf8_lossy(&output.stderr),
    );

    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains("\"level\":\"TRACE\"")),
        "the run logged at trace level"
    );
    for (n, line) in lines.iter().enumerate() {
        seen.add(format!("log line {}", n + 1), *line);
    }

    let mut secrets = vec![
        GITHUB_SECRET.to_string(),
        GITLAB_TOKEN.to_string(),
        GITHUB_API_TOKEN.to_string(),
        GITLAB_API_TOKEN.to_string(),
        DB_PASSWORD.to_string(),
        ADMIN_TOKEN.to_string(),
    ];
    // The private key's body, line by line (any one line of it is a leak).
    secrets.extend(
        fake_forge::TEST_APP_PRIVATE_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
            .map(str::to_string),
    );
    secrets.extend(forge.minted_tokens().into_iter().map(|t| t.token));
    // Every credential bosun presented to the forge: tokens, App JWTs.
    for request in forge.requests() {
        if let Some(credential) = request.auth().and_then(|a| a.split_whitespace().last()) {
            secrets.push(credential.to_string());
        }
    }
    secrets.sort();
    secrets.dedup();
    (seen, secrets)
}

/// Nothing bosun logs, answers or shows contains a secret, on either forge, with a token or
/// as a GitHub App.
#[tokio::test]
async fn no_secret_appears_in_logs_answers_or_pages() {
    for db in databases() {
        let _combination = Combination::new(db);
        for auth in [GitHubAuth::Token, GitHubAuth::App] {
            let (seen, secrets) = scenario(db, auth).await;
            assert!(secrets.len() >= 5, "{secrets:?}");
            assert!(
                seen.0.len() > 50,
                "the run said too little to be a test: {}",
                seen.0.len()
            );
            let leaks: Vec<String> = seen
                .0
                .iter()
                .flat_map(|(place, text)| {
                    secrets
                        .iter()
                        .filter(|s| text.contains(s.as_str()))
                        .map(move |s| format!("{place} shows {s:?}: {}", clip(text)))
                })
                .collect();
            assert!(
                leaks.is_empty(),
                "{db:?} {auth:?}: {} leaks:\n{}",
                leaks.len(),
                leaks.join("\n")
            );
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(400).collect()
}
