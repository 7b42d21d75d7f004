//! require-matching-label end to end on both forges and both databases: the grace period is a
//! delayed `bosun/resync` delivery in the real queue, and the assertions are the fake forge's
//! labels and comments afterwards.

use crate::commands::{Case, GITHUB, GITLAB};
use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef};
use fake_forge::RepoLabel;
use std::time::Duration;

const PLUGINS: &str = r#"["label", "require-matching-label"]"#;
const COMMENT: &str = "Please add a kind label with `/kind bug` or `/kind feature`.";

fn options(db: Db, grace: &str) -> Options {
    let mut o = Options::new(db);
    let mut extra = String::new();
    for org in ["kubernetes", "gitlab-org"] {
        extra.push_str(&format!(
            "[plugins.\"{org}\"]\nenabled = {PLUGINS}\n\
             [settings.require-matching-label.\"{org}\"]\n\
             rules = [{{ prs = true, issues = true, regexp = \"^kind/\", missing_label = \"needs-kind\", missing_comment = \"{COMMENT}\", grace_period = \"{grace}\" }}]\n"
        ));
    }
    o.extra = extra;
    o
}

async fn post(bosun: &TestBosun, forge: ForgeKind, (event, body): (&str, Vec<u8>)) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let (status, text) = bosun.post(forge, event, &id, &body).await;
    assert_eq!(status, 202, "{text}");
    format!("{}:{id}", forge.as_str())
}

async fn deliver(bosun: &TestBosun, forge: ForgeKind, hook: (&str, Vec<u8>)) {
    let stored = post(bosun, forge, hook).await;
    bosun.run_until_idle().await;
    assert_eq!(
        bosun.status_of(&stored).await.as_deref(),
        Some("done"),
        "{forge:?}"
    );
}

fn notices(bosun: &TestBosun, item: &ItemRef) -> usize {
    bosun
        .forge
        .comments(item)
        .into_iter()
        .filter(|c| c.author == BOT && c.body.starts_with(COMMENT))
        .count()
}

fn sorted_labels(bosun: &TestBosun, item: &ItemRef) -> Vec<String> {
    let mut labels = bosun.forge.labels(item);
    labels.sort();
    labels
}

fn seed_label(bosun: &TestBosun, case: Case, name: &str) {
    bosun.forge.update(|w| {
        let id = w.next_id();
        w.ensure_repo(case.forge, case.repo).labels.push(RepoLabel {
            id,
            name: name.into(),
            color: "ededed".into(),
            description: None,
        });
    });
}

/// The PR opened with `body` as its description.
fn opened_with(case: Case, body: &str) -> (&'static str, Vec<u8>) {
    let (event, raw) = case.opened();
    let mut v: serde_json::Value = serde_json::from_slice(&raw).expect("json");
    match case.forge {
        ForgeKind::GitHub => patch(&mut v, "/pull_request/body", body.into()),
        ForgeKind::GitLab => patch(&mut v, "/object_attributes/description", body.into()),
    }
    (event, serde_json::to_vec(&v).expect("json"))
}

/// Issue `number` opened.
fn issue_opened(case: Case, number: u64) -> (&'static str, Vec<u8>) {
    match case.forge {
        ForgeKind::GitHub => {
            let mut v = fixture("github/issues/opened.json");
            patch(&mut v, "/issue/number", number.into());
            patch(&mut v, "/issue/body", "".into());
            patch(&mut v, "/repository/full_name", case.repo.into());
            ("issues", serde_json::to_vec(&v).expect("json"))
        }
        ForgeKind::GitLab => {
            let mut v = fixture("gitlab/issue/open.json");
            patch(&mut v, "/object_attributes/iid", number.into());
            patch(&mut v, "/object_attributes/description", "".into());
            patch(&mut v, "/project/path_with_namespace", case.repo.into());
            ("Issue Hook", serde_json::to_vec(&v).expect("json"))
        }
    }
}

/// Prow require-matching-label: `/kind bug` in a new PR's description is labelled by the label
/// plugin within the grace period, so no `needs-kind`; removing the kind adds `needs-kind` with
/// one comment; a kind label again removes `needs-kind`, and the comment is never repeated.
#[tokio::test]
async fn prs_need_a_kind_label_after_the_grace_period() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "1s")).await;
            let pr = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            seed_label(&bosun, case, "kind/bug");

            deliver(&bosun, case.forge, opened_with(case, "/kind bug")).await;
            assert_eq!(sorted_labels(&bosun, &pr), ["kind/bug"], "{:?}", case.forge);
            assert_eq!(notices(&bosun, &pr), 0);
            let looks: Vec<(String, bool)> = bosun
                .store
                .recent_deliveries(50, None)
                .await
                .expect("deliveries")
                .into_iter()
                .filter(|d| d.event == "bosun/resync" && d.delivery_id.starts_with("look:"))
                .map(|d| {
                    let waited = d.started_at.map(|s| s - d.received_at);
                    (
                        d.status,
                        waited.is_some_and(|w| w.num_milliseconds() >= 1000),
                    )
                })
                .collect();
            assert_eq!(
                looks,
                [("done".to_string(), true)],
                "one look, run after the grace period: {:?}",
                case.forge
            );

            bosun.forge.set_labels(&pr, &[]);
            deliver(&bosun, case.forge, case.labeled()).await;
            assert_eq!(
                sorted_labels(&bosun, &pr),
                ["needs-kind"],
                "{:?}",
                case.forge
            );
            assert_eq!(notices(&bosun, &pr), 1, "{:?}", case.forge);

            bosun.forge.set_labels(&pr, &["kind/bug", "needs-kind"]);
            deliver(&bosun, case.forge, case.labeled()).await;
            assert_eq!(sorted_labels(&bosun, &pr), ["kind/bug"], "{:?}", case.forge);

            bosun.forge.set_labels(&pr, &[]);
            deliver(&bosun, case.forge, case.labeled()).await;
            assert_eq!(sorted_labels(&bosun, &pr), ["needs-kind"]);
            assert_eq!(
                notices(&bosun, &pr),
                1,
                "one notice, edited, never repeated"
            );
            bosun.shutdown().await;
        }
    }
}

/// The grace period is real: a label another tool adds after the issue was opened but before
/// the grace period ends satisfies the rule; an issue still without one then gets `needs-kind`
/// and the comment.
#[tokio::test]
async fn issues_are_decided_after_the_grace_period() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "2s")).await;
            let labelled = bosun
                .forge
                .seed_issue(case.forge, case.repo, 11, case.author);
            let bare = bosun
                .forge
                .seed_issue(case.forge, case.repo, 12, case.author);

            let opened = post(&bosun, case.forge, issue_opened(case, 11)).await;
            wait_until(
                "the opened delivery is done",
                Duration::from_secs(10),
                || async { bosun.status_of(&opened).await.as_deref() == Some("done") },
            )
            .await;
            assert!(
                bosun.forge.labels(&labelled).is_empty(),
                "nothing decided yet"
            );
            bosun.forge.set_labels(&labelled, &["kind/feature"]);
            deliver(&bosun, case.forge, issue_opened(case, 12)).await;

            assert_eq!(sorted_labels(&bosun, &labelled), ["kind/feature"]);
            assert_eq!(notices(&bosun, &labelled), 0, "{:?}", case.forge);
            assert_eq!(
                sorted_labels(&bosun, &bare),
                ["needs-kind"],
                "{:?}",
                case.forge
            );
            assert_eq!(notices(&bosun, &bare), 1, "{:?}", case.forge);
            bosun.shutdown().await;
        }
    }
}

/// `bosun check-config` refuses a rule whose regex does not compile, a grace period that is not
/// a duration, and a verify-owners denylist that is not a list, each under its key path.
#[test]
fn check_config_validates_both_plugins_settings() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[settings.require-matching-label.\"org\"]\n\
         rules = [{ prs = true, regexp = \"(\", missing_label = \"needs-kind\" }]\n\
         [settings.require-matching-label.\"org/repo\"]\n\
         rules = [{ issues = true, regexp = \"^kind/\", missing_label = \"needs-kind\", grace_period = \"soon\" }]\n\
         [settings.verify-owners.\"org\"]\nlabels_denylist = \"lgtm\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
        .env_remove("RUST_LOG")
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for (key, says) in [
        (
            "settings.require-matching-label.\"org\"",
            "rules[0]: regexp",
        ),
        (
            "settings.require-matching-label.\"org/repo\"",
            "\"soon\" is not a duration",
        ),
        ("settings.verify-owners.\"org\"", "expected a sequence"),
    ] {
        assert!(
            err.lines().any(|l| l.contains(key) && l.contains(says)),
            "{key}: {says} missing in:\n{err}"
        );
    }
}
