//! Catching up on missed webhook deliveries, on both forges and both databases: `bosun
//! reconcile` reads the forge's delivery log of the hooks pointing at bosun, has the forge
//! send again the deliveries the journal lacks (each processed exactly once), leaves alone
//! those bosun got, those outside the window and other hooks' deliveries, and a second run
//! asks for nothing.

use crate::commands::{self, Case};
use crate::support::*;
use bosun::forge::github::GitHubForge;
use bosun::forge::gitlab::GitLabForge;
use bosun::forge::hooks::{HookLog, HookOwner, Window};
use bosun::reconcile::{Options, Report};
use bosun::store::{self, NewDelivery};
use bosun_plugins::{ForgeKind, RepoPath};
use fake_forge::Logged;
use std::sync::Arc;

/// The hook log adapter a running bosun would use against its fake forge.
fn hook_log(bosun: &TestBosun, forge: ForgeKind) -> Arc<dyn HookLog> {
    match forge {
        ForgeKind::GitHub => Arc::new(
            GitHubForge::new(&bosun.forge.url(), Some("gh-api-token".into())).expect("client"),
        ),
        ForgeKind::GitLab => Arc::new(
            GitLabForge::new(&bosun.forge.url(), Some("gl-api-token".into()), true)
                .expect("client"),
        ),
    }
}

fn options(bosun: &TestBosun, case: Case) -> Options {
    Options {
        owners: vec![HookOwner::Repo(RepoPath::parse(case.repo).expect("repo"))],
        hook_url: Some(bosun.url("/")),
        window: Window {
            since: chrono::Utc::now() - chrono::Duration::hours(24),
            max: 1000,
        },
        dry_run: false,
    }
}

fn secret(forge: ForgeKind) -> &'static str {
    match forge {
        ForgeKind::GitHub => GITHUB_SECRET,
        ForgeKind::GitLab => GITLAB_TOKEN,
    }
}

/// The id bosun journals a delivery with this guid under.
fn journal_id(forge: ForgeKind, guid: &str) -> String {
    format!("{}:{guid}", forge.as_str())
}

async fn reconcile(bosun: &TestBosun, case: Case, o: &Options) -> Report {
    let log = hook_log(bosun, case.forge);
    bosun::reconcile::run(log.as_ref(), bosun.store.as_ref(), o).await
}

/// issue 16: three comments bosun never got are redelivered and processed once each; the one
/// it got, one outside the window and another hook's are left alone; a second run asks for
/// nothing.
#[tokio::test]
async fn reconcile_catches_up_on_missed_deliveries_once() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(commands::options(db, "")).await;
            let pr = commands::setup(&bosun, case).await;
            let owner = fake_forge::HookOwner::Repo(case.repo.into());
            let hook = bosun.forge.add_hook(
                case.forge,
                owner.clone(),
                &bosun.hook_url(),
                secret(case.forge),
            );
            let other = bosun.forge.add_hook(
                case.forge,
                owner,
                "http://ci.example.invalid/hook",
                "ci-secret",
            );

            // Got: `/hold`, posted to bosun and logged as answered 202.
            let (event, body) = case.comment("alice", "/hold");
            let (status, text) = bosun.post(case.forge, event, "got-1", &body).await;
            assert_eq!(status, 202, "{text}");
            bosun.run_until_idle().await;
            bosun
                .forge
                .log_delivery(hook, Logged::missed("got-1", event, &body).status(202));
            // Got, though the forge saw it time out: journaled, so not asked for again.
            let (event, body) = case.comment("alice", "thanks!");
            let (status, text) = bosun.post(case.forge, event, "got-2", &body).await;
            assert_eq!(status, 202, "{text}");
            bosun
                .forge
                .log_delivery(hook, Logged::missed("got-2", event, &body));
            // Missed while bosun was down: three commands, oldest first.
            let now = chrono::Utc::now();
            for (i, command) in ["/lgtm", "/assign @bob", "/retitle Caught up"]
                .into_iter()
                .enumerate()
            {
                let (event, body) = case.comment("alice", &case.verb(command));
                bosun.forge.log_delivery(
                    hook,
                    Logged::missed(&format!("missed-{i}"), event, &body)
                        .at(now - chrono::Duration::minutes(30 - i as i64)),
                );
            }
            // Outside the window, and another hook's.
            let (event, body) = case.comment("alice", &case.verb("/lifecycle frozen"));
            bosun.forge.log_delivery(
                hook,
                Logged::missed("too-old", event, &body).at(now - chrono::Duration::days(3)),
            );
            bosun
                .forge
                .log_delivery(other, Logged::missed("ci-only", event, &body));

            let o = options(&bosun, case);
            let report = reconcile(&bosun, case, &o).await;
            let missed: Vec<String> = (0..3)
                .map(|i| journal_id(case.forge, &format!("missed-{i}")))
                .collect();
            assert_eq!(report.missing, missed, "{report}");
            assert_eq!(
                (
                    report.hooks,
                    report.seen,
                    report.journaled,
                    report.failed_at_forge
                ),
                (1, 5, 2, 3),
                "{report}"
            );
            assert!(report.failed.is_empty(), "{report:?}");
            // One list of hooks, one page of deliveries, three redeliveries.
            assert_eq!(report.api_calls, 5, "{report}");
            bosun.run_until_idle().await;

            // Each processed once: the forge's effects, and one journal entry each.
            let item = bosun.forge.item(&pr);
            let mut labels = item.labels.clone();
            labels.sort();
            assert_eq!(
                labels,
                vec!["do-not-merge/hold", "lgtm"],
                "{:?}",
                case.forge
            );
            assert!(item.assignees.contains(&"bob".to_string()), "{item:?}");
            assert_eq!(item.title, "Caught up");
            for id in &missed {
                assert_eq!(bosun.status_of(id).await.as_deref(), Some("done"), "{id}");
            }
            let counts = bosun.store.status_counts().await.expect("counts");
            assert_eq!(counts.values().sum::<i64>(), 5, "{counts:?}");
            assert_eq!(
                bosun.status_of(&journal_id(case.forge, "too-old")).await,
                None
            );
            assert_eq!(
                bosun.status_of(&journal_id(case.forge, "ci-only")).await,
                None
            );

            // The forge logged one redelivery per missed delivery, each answered 202.
            let redelivered: Vec<(String, u16)> = bosun
                .forge
                .hook_deliveries(hook)
                .into_iter()
                .filter(|d| d.redelivery)
                .map(|d| (d.guid, d.status_code))
                .collect();
            assert_eq!(
                redelivered,
                vec![
                    ("missed-2".to_string(), 202),
                    ("missed-1".to_string(), 202),
                    ("missed-0".to_string(), 202)
                ]
            );
            assert!(
                bosun
                    .forge
                    .hook_deliveries(other)
                    .iter()
                    .all(|d| !d.redelivery)
            );

            // A second run finds all of them journaled (redeliveries counted once).
            let again = reconcile(&bosun, case, &o).await;
            assert_eq!(
                (again.seen, again.journaled, again.redelivery_asked),
                (5, 5, 0),
                "{again}"
            );
            assert_eq!(bosun.forge.hook_deliveries(hook).len(), 9);
            bosun.shutdown().await;
        }
    }
}

/// A dry run says what is missing and asks the forge for nothing.
#[tokio::test]
async fn a_dry_run_reports_without_redelivering() {
    let case = commands::GITLAB;
    let bosun = spawn_bosun(commands::options(Db::Sqlite, "")).await;
    commands::setup(&bosun, case).await;
    let owner = fake_forge::HookOwner::Repo(case.repo.into());
    let hook = bosun
        .forge
        .add_hook(case.forge, owner, &bosun.hook_url(), GITLAB_TOKEN);
    let (event, body) = case.comment("alice", "/bosun-lgtm");
    bosun
        .forge
        .log_delivery(hook, Logged::missed("gone", event, &body));
    let mut o = options(&bosun, case);
    o.dry_run = true;
    let report = reconcile(&bosun, case, &o).await;
    assert_eq!(report.missing, vec!["gitlab:gone".to_string()], "{report}");
    assert_eq!(report.redelivery_asked, 1);
    assert_eq!(bosun.forge.hook_deliveries(hook).len(), 1);
    assert_eq!(bosun.status_of("gitlab:gone").await, None);
    bosun.shutdown().await;
}

fn stored(id: &str) -> NewDelivery {
    NewDelivery {
        delivery_id: id.into(),
        forge: ForgeKind::GitHub,
        event: "issue_comment".into(),
        repo: Some("o/r".into()),
        number: Some(1),
        item_key: "github:o/r#1".into(),
        headers: "{}".into(),
        payload: actix_web::web::Bytes::from_static(b"{}").into(),
    }
}

/// The journal lookup answers which of a batch of ids it holds, past one query's worth.
#[tokio::test]
async fn the_journal_says_which_ids_it_holds() {
    for db in databases() {
        let _combination = Combination::new(db);
        let test_db = TestDb::new(db).await;
        let s = store::connect(&test_db.url, 2).await.expect("connect");
        s.migrate().await.expect("migrate");
        s.insert_deliveries(&[stored("github:a"), stored("github:b")])
            .await
            .expect("insert");
        let mut asked: Vec<String> = (0..1200).map(|i| format!("github:n{i}")).collect();
        asked.push("github:b".into());
        asked.insert(0, "github:a".into());
        let found = s.journaled_ids(&asked).await.expect("lookup");
        let mut found: Vec<String> = found.into_iter().collect();
        found.sort();
        assert_eq!(found, vec!["github:a", "github:b"], "{db:?}");
        assert!(s.journaled_ids(&[]).await.expect("empty").is_empty());
    }
}

const APP_ID: u64 = 4343;

/// The GitHub App's own hook (read with the App's JWT) and an organisation's hook are caught
/// up alike; without the App's credentials the App's hook is reported, not guessed at.
#[tokio::test]
async fn the_github_apps_hook_and_an_orgs_hook_are_caught_up() {
    for db in databases() {
        let _combination = Combination::new(db);
        let mut o = commands::options(db, "");
        o.env = vec![
            ("BOSUN_GITHUB__APP_ID".into(), APP_ID.to_string()),
            (
                "BOSUN_GITHUB__PRIVATE_KEY_FILE".into(),
                fake_forge::test_app_private_key_path()
                    .display()
                    .to_string(),
            ),
        ];
        let bosun = spawn_bosun(o).await;
        bosun
            .forge
            .enable_github_app(APP_ID, "bosun-app", fake_forge::TEST_APP_PUBLIC_KEY_PEM);
        bosun.forge.install_github_app("kubernetes", 32);
        let case = commands::GITHUB;
        let pr = commands::setup(&bosun, case).await;
        let app_hook = bosun.forge.add_hook(
            case.forge,
            fake_forge::HookOwner::App,
            &bosun.hook_url(),
            GITHUB_SECRET,
        );
        let org_hook = bosun.forge.add_hook(
            case.forge,
            fake_forge::HookOwner::Org("kubernetes".into()),
            &bosun.hook_url(),
            GITHUB_SECRET,
        );
        let (event, body) = case.comment("alice", "/hold");
        bosun
            .forge
            .log_delivery(app_hook, Logged::missed("app-missed", event, &body));
        let (event, body) = case.comment("alice", "/lgtm");
        bosun
            .forge
            .log_delivery(org_hook, Logged::missed("org-missed", event, &body));

        let app = GitHubForge::new_app(
            &bosun.forge.url(),
            APP_ID,
            fake_forge::TEST_APP_PRIVATE_KEY_PEM.as_bytes(),
        )
        .expect("app client");
        let mut o = options(&bosun, case);
        o.owners = vec![HookOwner::App, HookOwner::Org("kubernetes".into())];
        let report = bosun::reconcile::run(&app, bosun.store.as_ref(), &o).await;
        assert!(report.failed.is_empty(), "{report:?}");
        assert_eq!(
            report.missing,
            vec!["github:app-missed", "github:org-missed"],
            "{report}"
        );
        bosun.run_until_idle().await;
        let mut labels = bosun.forge.labels(&pr);
        labels.sort();
        assert_eq!(labels, vec!["do-not-merge/hold", "lgtm"]);
        let again = bosun::reconcile::run(&app, bosun.store.as_ref(), &o).await;
        assert_eq!((again.seen, again.redelivery_asked), (2, 0), "{again}");

        // A token cannot read the App's hook: said so, and the org's hook is still read.
        let token =
            GitHubForge::new(&bosun.forge.url(), Some("gh-api-token".into())).expect("client");
        let report = bosun::reconcile::run(&token, bosun.store.as_ref(), &o).await;
        assert_eq!(report.failed.len(), 1, "{report:?}");
        assert!(report.failed[0].contains("[github] app_id"), "{report:?}");
        assert_eq!((report.seen, report.redelivery_asked), (1, 0), "{report}");
        bosun.shutdown().await;
    }
}

/// A long log is read page by page (100 a page) and no further than `max` entries.
#[tokio::test]
async fn long_logs_are_paged_and_bounded() {
    for case in [commands::GITHUB, commands::GITLAB] {
        let _combination = Combination::new(case.forge);
        let bosun = spawn_bosun(commands::options(Db::Sqlite, "")).await;
        let owner = fake_forge::HookOwner::Repo(case.repo.into());
        let hook = bosun
            .forge
            .add_hook(case.forge, owner, &bosun.hook_url(), secret(case.forge));
        let (event, body) = case.comment("alice", "/hold");
        let now = chrono::Utc::now();
        for i in 0..150 {
            bosun.forge.log_delivery(
                hook,
                Logged::missed(&format!("n{i}"), event, &body)
                    .at(now - chrono::Duration::seconds(i)),
            );
        }
        let mut o = options(&bosun, case);
        o.dry_run = true;
        let all = reconcile(&bosun, case, &o).await;
        assert_eq!(
            (all.seen, all.redelivery_asked, all.api_calls),
            (150, 150, 3),
            "{all}"
        );
        // Oldest first.
        assert_eq!(all.missing.first(), Some(&journal_id(case.forge, "n149")));
        o.window.max = 120;
        let bounded = reconcile(&bosun, case, &o).await;
        assert_eq!((bounded.seen, bounded.api_calls), (120, 3), "{bounded}");
        o.window.max = 50;
        let one_page = reconcile(&bosun, case, &o).await;
        assert_eq!((one_page.seen, one_page.api_calls), (50, 2), "{one_page}");
        bosun.shutdown().await;
    }
}

/// `bosun reconcile` as the real binary: hooks are matched on `[server] public_url`, the
/// report is printed, and the running bosun processes what was redelivered.
#[tokio::test]
async fn reconcile_from_the_command_line() {
    for db in databases() {
        let _combination = Combination::new(db);
        let case = commands::GITHUB;
        let bosun = spawn_bosun(commands::options(db, "")).await;
        let pr = commands::setup(&bosun, case).await;
        let owner = fake_forge::HookOwner::Repo(case.repo.into());
        let hook = bosun
            .forge
            .add_hook(case.forge, owner, &bosun.hook_url(), GITHUB_SECRET);
        let (event, body) = case.comment("alice", "/hold");
        bosun
            .forge
            .log_delivery(hook, Logged::missed("cli-missed", event, &body));
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            format!(
                "[server]\npublic_url = \"{}\"\n[database]\nurl = \"{}\"\n[github]\napi_url = \"{}\"\n",
                bosun.url(""),
                bosun.db_url(),
                bosun.forge.url()
            ),
        )
        .expect("write");
        let run = |extra: &'static [&'static str]| {
            let file = file.clone();
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
                    .args(["reconcile", "--config"])
                    .arg(&file)
                    .args(["github", GITHUB_REPO, "--since", "2h"])
                    .args(extra)
                    .env_remove("RUST_LOG")
                    .env("BOSUN_GITHUB_TOKEN", "gh-api-token")
                    .output()
                    .expect("runs")
            })
        };
        let dry = run(&["--dry-run"]).await.expect("join");
        let stdout = String::from_utf8_lossy(&dry.stdout);
        assert!(
            dry.status.success(),
            "{}",
            String::from_utf8_lossy(&dry.stderr)
        );
        assert!(stdout.contains("missing: github:cli-missed"), "{stdout}");
        assert_eq!(bosun.status_of("github:cli-missed").await, None);
        let out = run(&[]).await.expect("join");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("redelivery asked: github:cli-missed"),
            "{stdout}"
        );
        assert!(stdout.contains("1 redelivery asked"), "{stdout}");
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), vec!["do-not-merge/hold"]);
        bosun.shutdown().await;
    }
}

/// `[reconcile] interval_seconds`: bosun catches up by itself, and processes what it missed.
#[tokio::test]
async fn the_periodic_pass_catches_up_by_itself() {
    for case in [commands::GITHUB, commands::GITLAB] {
        let _combination = Combination::new(case.forge);
        let mut o = commands::options(Db::Sqlite, "");
        let key = match case.forge {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
        };
        o.extra.push_str(&format!(
            "[reconcile]\ninterval_seconds = 1\n{key} = [\"{}\"]\nhook_url = \"http://127.0.0.1:\"\n",
            case.repo
        ));
        let bosun = spawn_bosun(o).await;
        let pr = commands::setup(&bosun, case).await;
        let owner = fake_forge::HookOwner::Repo(case.repo.into());
        let hook = bosun
            .forge
            .add_hook(case.forge, owner, &bosun.hook_url(), secret(case.forge));
        let (event, body) = case.comment("alice", &case.verb("/lgtm"));
        bosun
            .forge
            .log_delivery(hook, Logged::missed("periodic", event, &body));
        let id = journal_id(case.forge, "periodic");
        wait_until(
            "the periodic pass redelivered the missed comment",
            std::time::Duration::from_secs(20),
            || async { bosun.status_of(&id).await.is_some() },
        )
        .await;
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), vec!["lgtm"]);
        bosun.shutdown().await;
    }
}

/// A redelivery the forge refuses, or a hook list it cannot give, is reported; the next run
/// asks again.
#[tokio::test]
async fn refusals_are_reported_and_the_next_run_asks_again() {
    let case = commands::GITHUB;
    let bosun = spawn_bosun(commands::options(Db::Sqlite, "")).await;
    let pr = commands::setup(&bosun, case).await;
    let owner = fake_forge::HookOwner::Repo(case.repo.into());
    let hook = bosun
        .forge
        .add_hook(case.forge, owner, &bosun.hook_url(), GITHUB_SECRET);
    let (event, body) = case.comment("alice", "/hold");
    bosun
        .forge
        .log_delivery(hook, Logged::missed("refused", event, &body));
    let mut o = options(&bosun, case);
    o.owners.push(HookOwner::Repo(
        RepoPath::parse("kubernetes/gone").expect("repo"),
    ));
    bosun.forge.fail_next(
        "/attempts",
        1,
        fake_forge::Fault::Status {
            status: 422,
            message: "Validation Failed".into(),
        },
    );
    let report = reconcile(&bosun, case, &o).await;
    assert_eq!(report.redelivery_asked, 0, "{report}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].starts_with("redelivering github:refused"),
        "{report:?}"
    );
    bosun.forge.fail_next(
        "/repos/kubernetes/gone/hooks",
        1,
        fake_forge::Fault::Status {
            status: 404,
            message: "Not Found".into(),
        },
    );
    let again = reconcile(&bosun, case, &o).await;
    assert_eq!(again.missing, vec!["github:refused"], "{again:?}");
    assert_eq!(again.failed.len(), 1, "{again:?}");
    assert!(again.failed[0].contains("kubernetes/gone"), "{again:?}");
    bosun.run_until_idle().await;
    assert_eq!(bosun.forge.labels(&pr), vec!["do-not-merge/hold"]);
    bosun.shutdown().await;
}
