//! The command line, run as the real binary.

use crate::support::*;
use bosun_plugins::ForgeKind;
use fake_forge::Fault;
use std::process::Command;

fn bosun() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bosun"));
    c.env_remove("RUST_LOG");
    c
}

/// The example config is valid as shipped; unset secret variables are warnings.
#[test]
fn check_config_accepts_the_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let out = bosun()
        .args(["check-config", example])
        .env_remove("BOSUN_GITHUB_WEBHOOK_SECRET")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: github.webhook_secrets"));
}

/// Every problem is reported on its own line with its key path, and the exit code is non-zero.
#[test]
fn check_config_reports_every_problem() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[server]\nlisten = \"x\"\n[queue]\nmax_attempts = 0\n[plugins.\"org\"]\nenabled = [\"nope\"]\n[settings.milestone.\"org\"]\nmaintainers_id = 1\n[settings.milestonestatus.\"org\"]\nmaintainers_team = \"t\"\n").expect("write");
    let out = bosun()
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "server.listen",
        "queue.max_attempts",
        "plugins.\"org\".enabled",
        "settings.milestone.\"org\"",
        "settings.milestonestatus.\"org\"",
    ] {
        assert!(
            err.lines().any(|l| l.contains(key)),
            "{key} missing in:\n{err}"
        );
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// `check-config --repo-file` checks a repository's `.bosun.toml` against the central rules,
/// one problem per line with its key; a good file passes.
#[test]
fn check_config_checks_a_repository_file() {
    let dir = tempfile::tempdir().expect("dir");
    let central = dir.path().join("bosun.toml");
    std::fs::write(&central, "[repo_config]\nenabled = true\nmay_enable = [\"size\"]\nforbidden = [\"tide\"]\nmay_set = [\"size\"]\n").expect("write");
    let bad = dir.path().join("bad.bosun.toml");
    std::fs::write(&bad, "plugins = [\"tide\"]\n[hold]\ncolour = 1\n").expect("write");
    let out = bosun()
        .arg("check-config")
        .arg(&central)
        .args(["--repo", "org/repo", "--repo-file"])
        .arg(&bad)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.bosun.toml: plugins: tide is forbidden"),
        "{err}"
    );
    assert!(
        err.contains("bad.bosun.toml: hold.colour: may not be set here"),
        "{err}"
    );
    let good = dir.path().join("good.bosun.toml");
    std::fs::write(&good, "plugins = [\"size\"]\n[size]\ns = 5\n").expect("write");
    let out = bosun()
        .arg("check-config")
        .arg(&central)
        .args(["--repo", "org/repo", "--repo-file"])
        .arg(&good)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `bosun send` signs a fixture like the forge; a second send with the same id is a duplicate.
#[tokio::test]
async fn send_posts_a_signed_fixture() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun_app = spawn_bosun(Options::new(db)).await;
        let fixture = fixtures().join("github/issue_comment/created.on-pull-request.lgtm.json");
        let url = bosun_app.hook_url();
        let first = tokio::task::spawn_blocking(move || {
            bosun()
                .arg("send")
                .arg(&fixture)
                .args(["--url", &url, "--delivery-id", "cli-1"])
                .env("BOSUN_SEND_SECRET", GITHUB_SECRET)
                .output()
                .expect("runs")
        })
        .await
        .expect("join");
        assert!(
            first.status.success(),
            "{}",
            String::from_utf8_lossy(&first.stderr)
        );
        assert!(String::from_utf8_lossy(&first.stdout).starts_with("202"));
        bosun_app.run_until_idle().await;
        assert_eq!(
            bosun_app.status_of("github:cli-1").await.as_deref(),
            Some("done")
        );
        let gitlab = fixtures().join("gitlab/note/merge_request.json");
        let url = bosun_app.hook_url();
        let out = tokio::task::spawn_blocking(move || {
            bosun()
                .arg("send")
                .arg(&gitlab)
                .args(["--url", &url, "--delivery-id", "cli-2"])
                .env("BOSUN_SEND_SECRET", GITLAB_TOKEN)
                .output()
                .expect("runs")
        })
        .await
        .expect("join");
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("202"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        bosun_app.run_until_idle().await;
        assert!(bosun_app.status_of("gitlab:cli-2").await.is_some());
        bosun_app.shutdown().await;
    }
}

/// `bosun replay --failed` queues failed deliveries again and the running bosun finishes them.
#[tokio::test]
async fn replay_failed_from_the_command_line() {
    for db in databases() {
        let _combination = Combination::new(db);
        let app = spawn_bosun(Options::new(db)).await;
        let pr = app
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        app.forge
            .fail_next("/issues/947/labels", 1000, Fault::Status500);
        app.post(
            ForgeKind::GitHub,
            "issue_comment",
            "rp-1",
            &github_pr_comment(947, "alice", "/hold"),
        )
        .await;
        app.run_until_idle().await;
        assert_eq!(
            app.status_of("github:rp-1").await.as_deref(),
            Some("failed")
        );
        app.forge.clear_faults();
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, format!("[database]\nurl = \"{}\"\n", app.db_url())).expect("write");
        let out = tokio::task::spawn_blocking(move || {
            bosun()
                .args(["replay", "--failed", "--config"])
                .arg(&file)
                .output()
                .expect("runs")
        })
        .await
        .expect("join");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("queued 1"));
        app.run_until_idle().await;
        assert_eq!(app.status_of("github:rp-1").await.as_deref(), Some("done"));
        assert_eq!(app.forge.labels(&pr), vec!["do-not-merge/hold"]);
        app.shutdown().await;
    }
}

/// The README's demo, as a new user runs it: `bosun serve` on the example configuration with no
/// token, `bosun send` of the README's fixture, and the delivery's page shows a dry-run
/// decision (not "No plugin decided anything").
#[tokio::test]
async fn the_readme_demo_shows_a_dry_run_decision() {
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let log = std::fs::File::create(dir.path().join("serve.log")).expect("log");
    let mut serve = bosun()
        .args(["serve", "--config", example])
        .env_clear()
        .env("BOSUN_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "BOSUN_DATABASE__URL",
            format!("sqlite://{}", dir.path().join("demo.db").display()),
        )
        .env("BOSUN_GITHUB_WEBHOOK_SECRET", "s3cret")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until(
        "bosun serve answers",
        std::time::Duration::from_secs(30),
        || {
            let http = http.clone();
            let url = format!("{base}/healthz");
            async move { http.get(url).send().await.is_ok() }
        },
    )
    .await;
    let fixture = fixtures().join("github/pull_request/opened.json");
    let hook = format!("{base}/hook");
    let sent = tokio::task::spawn_blocking(move || {
        bosun()
            .arg("send")
            .arg(&fixture)
            .args(["--url", &hook, "--delivery-id", "demo-1"])
            .env("BOSUN_SEND_SECRET", "s3cret")
            .output()
            .expect("send runs")
    })
    .await
    .expect("join");
    assert!(
        String::from_utf8_lossy(&sent.stdout).starts_with("202"),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let page_url = format!("{base}/deliveries/github:demo-1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let page = loop {
        let text = match http.get(&page_url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains("id=\"status\">done<") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not done in time: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(!page.contains("No plugin decided anything"), "{page}");
    assert!(page.contains("dry-run"), "{page}");
    assert!(
        page.contains("Codertocat/Hello-World#2 opened for review"),
        "{page}"
    );
}
