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
                (1, 4, 1, 3),
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
            assert_eq!(counts.values().sum::<i64>(), 4, "{counts:?}");
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
                (4, 4, 0),
                "{again}"
            );
            assert_eq!(bosun.forge.hook_deliveries(hook).len(), 8);
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
