//! In-repository configuration end to end on both forges: a `.bosun.toml` on the default
//! branch enables `size` for its repository (read once, read again only when a push to the
//! default branch touches it), a PR that changes the file gets a status and the list of every
//! problem, and the central file reloads without dropping deliveries.

use crate::commands::{Case, GITHUB, GITLAB, say, setup};
use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef};
use fake_forge::ChangedFile;
use std::time::Duration;

/// Repositories may enable `size` and `hold` and set `size`'s settings; `tide` is forbidden.
const POLICY: &str = "[repo_config]\nenabled = true\nmay_enable = [\"size\", \"hold\"]\n\
                      forbidden = [\"tide\"]\nmay_set = [\"size\"]\n";

fn options(db: Db) -> Options {
    let mut o = Options::new(db);
    o.extra.push_str(POLICY);
    o
}

fn changed(path: &str, additions: u64) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        previous_path: None,
        additions,
        deletions: 0,
    }
}

async fn deliver(bosun: &TestBosun, case: Case, hook: (&str, Vec<u8>)) {
    bosun.deliver(case.forge, hook).await;
}

/// A push to `branch` whose commits touched `paths`, on a repository whose default branch is
/// `main`.
fn push(case: Case, branch: &str, after: &str, paths: &[&str]) -> (&'static str, Vec<u8>) {
    let (event, body) = case.branch_pushed(branch, after);
    let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let commits =
        serde_json::json!([{ "id": after, "added": [], "modified": paths, "removed": [] }]);
    match case.forge {
        ForgeKind::GitHub => {
            patch(&mut v, "/repository/default_branch", "main".into());
        }
        ForgeKind::GitLab => {
            patch(&mut v, "/project/default_branch", "main".into());
            patch(&mut v, "/total_commits_count", 1.into());
        }
    }
    patch(&mut v, "/commits", commits);
    (event, serde_json::to_vec(&v).expect("json"))
}

fn size_labels(bosun: &TestBosun, pr: &ItemRef) -> Vec<String> {
    let mut labels: Vec<String> = bosun
        .forge
        .labels(pr)
        .into_iter()
        .filter(|l| l.starts_with("size/"))
        .collect();
    labels.sort();
    labels
}

fn file_reads(bosun: &TestBosun) -> usize {
    bosun.forge.count_requests("GET", "bosun.toml")
}

/// The acceptance: a repo enables `size` in `.bosun.toml` and gets size labels; the file is
/// read once, not again for a push elsewhere, and again after a push to the default branch
/// that changed it (its new thresholds apply at once).
#[tokio::test]
async fn a_repository_enables_size_in_its_own_file() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = setup(&bosun, case).await;
            let main = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[(".bosun.toml", b"plugins = [\"size\"]\n")],
            );
            bosun.forge.set_ref(case.forge, case.repo, "main", &main);
            bosun
                .forge
                .update_item(&pr, |i| i.changed_files = vec![changed("src/main.rs", 5)]);

            deliver(&bosun, case, case.opened()).await;
            assert_eq!(size_labels(&bosun, &pr), ["size/XS"]);
            assert_eq!(file_reads(&bosun), 1, "read once");

            bosun
                .forge
                .update_item(&pr, |i| i.changed_files = vec![changed("src/main.rs", 40)]);
            deliver(&bosun, case, case.pushed()).await;
            assert_eq!(size_labels(&bosun, &pr), ["size/M"]);
            deliver(&bosun, case, push(case, "feature", &main, &["src/x.rs"])).await;
            deliver(&bosun, case, push(case, "main", &main, &["README.md"])).await;
            assert_eq!(file_reads(&bosun), 1, "cached: no push touched the file");

            let changed_main = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[(
                    ".bosun.toml",
                    b"plugins = [\"size\"]\n[size]\ns = 50\nm = 60\n",
                )],
            );
            bosun
                .forge
                .set_ref(case.forge, case.repo, "main", &changed_main);
            deliver(
                &bosun,
                case,
                push(case, "main", &changed_main, &[".bosun.toml"]),
            )
            .await;
            deliver(&bosun, case, case.pushed()).await;
            assert_eq!(
                size_labels(&bosun, &pr),
                ["size/XS"],
                "40 lines are XS under the repository's own s = 50"
            );
            assert_eq!(file_reads(&bosun), 2, "read again once after the push");
            bosun.shutdown().await;
        }
    }
}

/// A PR that changes `.bosun.toml` gets a failing `bosun/config` status and one comment with
/// every problem — a forbidden plugin, a key the central file does not allow, a bad value —
/// and, once fixed, a passing status and no comment.
#[tokio::test]
async fn a_pr_changing_the_file_gets_every_problem_then_a_pass() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = setup(&bosun, case).await;
            let bad = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[(
                    ".bosun.toml",
                    b"plugins = [\"size\", \"tide\"]\n[hold]\ncolour = 1\n[size]\ns = \"big\"\n",
                )],
            );
            bosun.forge.update_item(&pr, |i| {
                i.head_sha = bad.clone();
                i.changed_files = vec![changed(".bosun.toml", 4)];
            });
            deliver(&bosun, case, case.pushed_at(&bad)).await;

            let status = |sha: &str| {
                bosun
                    .forge
                    .statuses(case.forge, case.repo)
                    .into_iter()
                    .filter(|s| s.sha == sha && s.context == "bosun/config")
                    .map(|s| s.state)
                    .collect::<Vec<_>>()
            };
            let failed = match case.forge {
                ForgeKind::GitHub => "failure",
                ForgeKind::GitLab => "failed",
            };
            assert_eq!(status(&bad), [failed]);
            let notices: Vec<String> = bosun
                .forge
                .comments(&pr)
                .into_iter()
                .filter(|c| c.author == BOT)
                .map(|c| c.body)
                .collect();
            assert_eq!(notices.len(), 1, "{notices:?}");
            let notice = &notices[0];
            assert!(notice.contains("has 3 problems"), "{notice}");
            assert!(
                notice.contains(
                    "- `plugins`: tide is forbidden for repositories by the central configuration"
                ),
                "{notice}"
            );
            assert!(
                notice.contains(
                    "- `hold.colour`: may not be set here; the central configuration allows size"
                ),
                "{notice}"
            );
            assert!(notice.contains("- `size`: "), "{notice}");

            let good = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[(".bosun.toml", b"plugins = [\"size\"]\n[size]\ns = 5\n")],
            );
            bosun.forge.update_item(&pr, |i| i.head_sha = good.clone());
            deliver(&bosun, case, case.pushed_at(&good)).await;
            assert_eq!(status(&good), ["success"]);
            let left = bosun
                .forge
                .comments(&pr)
                .into_iter()
                .filter(|c| c.author == BOT && c.body.contains("problem"))
                .count();
            assert_eq!(left, 0, "the problem list is gone once the file is fixed");
            bosun.shutdown().await;
        }
    }
}

/// An invalid file on the default branch is ignored (the central configuration alone
/// applies) and the delivery says why.
#[tokio::test]
async fn an_invalid_file_on_the_default_branch_is_ignored_and_named() {
    for db in databases() {
        let _combination = Combination::new(db);
        let case = GITHUB;
        let bosun = spawn_bosun(options(db)).await;
        let pr = setup(&bosun, case).await;
        let main = bosun.forge.seed_commit(
            case.forge,
            case.repo,
            &[(".bosun.toml", b"plugins = [\"size\", \"tide\"]\n")],
        );
        bosun.forge.set_ref(case.forge, case.repo, "main", &main);
        bosun
            .forge
            .update_item(&pr, |i| i.changed_files = vec![changed("src/main.rs", 5)]);
        say(&bosun, case, "alice", "/hold").await;
        assert!(
            bosun
                .forge
                .labels(&pr)
                .contains(&"do-not-merge/hold".to_string()),
            "the central configuration still applies"
        );
        assert!(size_labels(&bosun, &pr).is_empty());
        let notes: Vec<String> = bosun
            .store
            .recent_deliveries(10, None)
            .await
            .expect("deliveries")
            .into_iter()
            .filter_map(|d| d.last_error)
            .collect();
        assert!(
            notes
                .iter()
                .any(|n| n.contains(".bosun.toml on the default branch has 1 problem(s)")),
            "{notes:?}"
        );
        bosun.shutdown().await;
    }
}

/// The central file changes under a running bosun while deliveries arrive: every delivery is
/// processed, the new plugins apply from then on, and a broken file is refused whole.
#[tokio::test]
async fn the_central_file_reloads_without_dropping_deliveries() {
    for db in databases() {
        let _combination = Combination::new(db);
        let case = GITHUB;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bosun.toml");
        let mut o = Options::new(db);
        o.extra = String::new();
        o.config_file = Some(path.clone());
        let bosun = spawn_bosun(o).await;
        let pr = setup(&bosun, case).await;

        say(&bosun, case, "alice", "/hold").await;
        assert!(
            bosun.forge.labels(&pr).is_empty(),
            "hold is not enabled yet"
        );

        let mut ids = Vec::new();
        for n in 0..20 {
            if n == 10 {
                let text = config_text(
                    bosun.db_url(),
                    &bosun.forge.url(),
                    "[plugins.\"kubernetes\"]\nenabled = [\"hold\"]\n",
                );
                std::fs::write(&path, text).expect("config rewritten");
            }
            let (event, body) = case.comment("alice", &format!("note {n}"));
            let id = uuid::Uuid::new_v4().to_string();
            let (status, text) = bosun.post(case.forge, event, &id, &body).await;
            assert_eq!(status, 202, "{text}");
            ids.push(format!("github:{id}"));
        }
        wait_until("the reload", Duration::from_secs(10), || async {
            bosun.live.generation() == 1
        })
        .await;
        bosun.run_until_idle().await;
        for id in &ids {
            assert_eq!(bosun.status_of(id).await.as_deref(), Some("done"), "{id}");
        }
        say(&bosun, case, "alice", "/hold").await;
        assert_eq!(bosun.forge.labels(&pr), ["do-not-merge/hold"]);

        std::fs::write(&path, "[plugins.\"kubernetes\"]\nenabled = [\"nope\"]\n")
            .expect("config rewritten");
        let source = bosun::reload::ConfigSource {
            path: path.clone(),
            env: Some(test_env(true)),
        };
        assert!(!bosun::reload::reload(&source, &bosun.live), "refused");
        assert_eq!(bosun.live.generation(), 1, "the settings in force stay");
        say(&bosun, case, "alice", "/hold cancel").await;
        assert!(bosun.forge.labels(&pr).is_empty(), "hold still works");
        bosun.shutdown().await;
    }
}
