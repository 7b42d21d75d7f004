//! `sigmention` end to end on both forges: a comment or a new PR's description mentioning a SIG
//! team → bosun → `sig/…` and `kind/…` labels (and, on GitHub, the repeated mention) in the fake
//! forge's state.

use crate::commands::{Case, GITHUB, GITLAB, say, setup};
use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef};
use fake_forge::RepoLabel;
use fake_forge::access::REPORTER;

/// GitLab groups are not `kubernetes`: the GitLab org configures its own `regexp`.
fn options(db: Db) -> Options {
    let mut o = Options::new(db);
    o.extra = "[plugins.\"kubernetes\"]\nenabled = [\"sigmention\"]\n\
               [plugins.\"gitlab-org\"]\nenabled = [\"sigmention\"]\n\
               [settings.sigmention.\"gitlab-org\"]\n\
               regexp = '(?m)@gitlab-org/sig-([\\w-]*)-(misc|bugs|feature-requests)'\n"
        .into();
    o
}

fn mention(case: Case, team: &str) -> String {
    match case.forge {
        ForgeKind::GitHub => format!("@kubernetes/sig-{team}"),
        ForgeKind::GitLab => format!("@gitlab-org/sig-{team}"),
    }
}

fn seed_labels(bosun: &TestBosun, case: Case, names: &[&str]) {
    bosun.forge.update(|w| {
        for name in names {
            let id = w.next_id();
            w.ensure_repo(case.forge, case.repo).labels.push(RepoLabel {
                id,
                name: name.to_string(),
                color: "ededed".into(),
                description: None,
            });
        }
    });
}

fn bot_comments(bosun: &TestBosun, item: &ItemRef) -> Vec<String> {
    bosun
        .forge
        .comments(item)
        .into_iter()
        .filter(|c| c.author == BOT)
        .map(|c| c.body)
        .collect()
}

/// Prow sigmention: a mention of a bugs team adds `sig/<name>` (as the repository spells it)
/// and `kind/bug`; a SIG without a label in the repository adds nothing. An org member's
/// mention gets no reply.
#[tokio::test]
async fn a_members_team_mention_adds_sig_and_kind_labels() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = setup(&bosun, case).await;
            seed_labels(&bosun, case, &["SIG/Testing", "kind/bug"]);
            bosun
                .forge
                .add_group_member(case.forge, org(case), "member", REPORTER);
            let text = format!(
                "cc {} and {}",
                mention(case, "testing-bugs"),
                mention(case, "apps-bugs")
            );
            say(&bosun, case, "member", &text).await;
            assert_eq!(
                bosun.forge.labels(&pr),
                vec!["SIG/Testing", "kind/bug"],
                "{:?}",
                case.forge
            );
            assert!(bot_comments(&bosun, &pr).is_empty(), "{:?}", case.forge);
            bosun.shutdown().await;
        }
    }
}

/// Prow sigmention on GitHub: an outsider's team mention is repeated by the bot, since GitHub
/// does not notify a team for someone outside the org; GitLab notifies a group mention by
/// anyone, so there bosun only labels.
#[tokio::test]
async fn an_outsiders_mention_is_repeated_on_github_only() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = setup(&bosun, case).await;
            seed_labels(&bosun, case, &["sig/node"]);
            say(&bosun, case, "outsider", &mention(case, "node-misc")).await;
            assert_eq!(
                bosun.forge.labels(&pr),
                vec!["sig/node"],
                "{:?}",
                case.forge
            );
            let replies = bot_comments(&bosun, &pr);
            match case.forge {
                ForgeKind::GitHub => assert!(
                    replies.len() == 1
                        && replies[0].starts_with(
                            "@outsider: Reiterating the mentions to trigger a notification: \n@kubernetes/sig-node-misc\n"
                        ),
                    "{replies:?}"
                ),
                ForgeKind::GitLab => assert!(replies.is_empty(), "{replies:?}"),
            }
            bosun.shutdown().await;
        }
    }
}

/// Prow sigmention reads the description of a PR when it is opened, too.
#[tokio::test]
async fn a_new_pull_requests_description_is_read() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = setup(&bosun, case).await;
            seed_labels(&bosun, case, &["sig/storage", "kind/feature"]);
            bosun
                .forge
                .add_group_member(case.forge, org(case), case.author, REPORTER);
            let (event, body) = case.opened();
            let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json");
            let text = format!(
                "Adds a thing.\n\n{}",
                mention(case, "storage-feature-requests")
            );
            match case.forge {
                ForgeKind::GitHub => patch(&mut v, "/pull_request/body", text.into()),
                ForgeKind::GitLab => patch(&mut v, "/object_attributes/description", text.into()),
            }
            bosun
                .deliver(case.forge, (event, serde_json::to_vec(&v).expect("json")))
                .await;
            assert_eq!(
                bosun.forge.labels(&pr),
                vec!["sig/storage", "kind/feature"],
                "{:?}",
                case.forge
            );
            bosun.shutdown().await;
        }
    }
}

fn org(case: Case) -> &'static str {
    match case.forge {
        ForgeKind::GitHub => "kubernetes",
        ForgeKind::GitLab => "gitlab-org",
    }
}

/// `bosun check-config` refuses a `regexp` that does not compile or has no group for the SIG
/// name, and accepts a GitLab group's.
#[test]
fn check_config_validates_the_regexp() {
    let dir = tempfile::tempdir().expect("dir");
    let check = |settings: &str| {
        let file = dir.path().join("sigmention.toml");
        std::fs::write(
            &file,
            format!("[plugins.\"org\"]\nenabled = [\"sigmention\"]\n[settings.sigmention.\"org\"]\n{settings}\n"),
        )
        .expect("write");
        std::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
            .env_remove("RUST_LOG")
            .arg("check-config")
            .arg(&file)
            .output()
            .expect("runs")
    };
    let good = check(r"regexp = '(?m)@my-group/sig-([\w-]*)-(bugs|misc)'");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    for bad in ["regexp = '(unclosed'", "regexp = '@my-group/sig-'"] {
        let out = check(bad);
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.lines()
                .any(|l| l.contains("settings.sigmention.\"org\"") && l.contains("regexp")),
            "{err}"
        );
    }
}
