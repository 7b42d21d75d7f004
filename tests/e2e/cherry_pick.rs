//! `/cherry-pick <branch>` end to end on both forges and both stores: a comment (or a merge)
//! webhook → bosun → the fake forge's git model, which the new branch, the new PR/MR and the
//! replies are asserted on. No clone is made: GitHub goes through its Git Data and merges
//! APIs, GitLab through its cherry-pick endpoint.

use crate::commands::{Case, GITHUB, GITLAB, say, setup};
use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef, ItemState};
use fake_forge::access::DEVELOPER;
use std::collections::BTreeMap;

fn options(db: Db) -> Options {
    let mut o = Options::new(db);
    o.extra = "[plugins.\"kubernetes\"]\nenabled = [\"cherrypick\"]\n[plugins.\"gitlab-org\"]\nenabled = [\"cherrypick\"]\n".to_string();
    o
}

fn org(case: Case) -> &'static str {
    match case.forge {
        ForgeKind::GitHub => "kubernetes",
        ForgeKind::GitLab => "gitlab-org",
    }
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

fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    pairs
        .iter()
        .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
        .collect()
}

/// `main` and three release branches (one whose `src/lib.rs` was patched differently, so the
/// PR's change to it conflicts there), a PR on `main` with two commits, and `alice` in the org.
fn seed(bosun: &TestBosun, case: Case) -> ItemRef {
    let forge = &bosun.forge;
    forge.update(|w| {
        w.seed_branch(
            case.forge,
            case.repo,
            "main",
            &[("README", "hello\n"), ("src/lib.rs", "v1\n")],
        );
        w.seed_branch(
            case.forge,
            case.repo,
            "release-1.2",
            &[
                ("README", "hello\n"),
                ("src/lib.rs", "v1\n"),
                ("RELEASE", "1.2\n"),
            ],
        );
        w.seed_branch(
            case.forge,
            case.repo,
            "release-1.0",
            &[("README", "hello\n"), ("src/lib.rs", "v1-patched\n")],
        );
    });
    forge.add_group_member(case.forge, org(case), "alice", DEVELOPER);
    forge.update(|w| {
        let pr = ItemRef {
            forge: case.forge,
            repo: bosun_plugins::RepoPath::parse(case.repo).expect("repo"),
            number: case.number,
            kind: bosun_plugins::ItemKind::PullRequest,
        };
        w.seed_pr_commits(
            &pr,
            &[
                ("Bump the library", &[("src/lib.rs", Some("v2\n"))]),
                ("Document it", &[("docs/new.md", Some("new\n"))]),
            ],
        );
    });
    ItemRef {
        forge: case.forge,
        repo: bosun_plugins::RepoPath::parse(case.repo).expect("repo"),
        number: case.number,
        kind: bosun_plugins::ItemKind::PullRequest,
    }
}

fn reference(case: Case, n: u64) -> String {
    match case.forge {
        ForgeKind::GitHub => format!("#{n}"),
        ForgeKind::GitLab => format!("!{n}"),
    }
}

/// The PR/MR opened from `branch`, if any.
fn opened_from(bosun: &TestBosun, case: Case, branch: &str) -> Option<fake_forge::Item> {
    bosun.forge.read(|w| {
        w.site(case.forge)
            .repo(case.repo)?
            .items
            .iter()
            .find(|i| i.head_ref == branch)
            .cloned()
    })
}

fn branches(bosun: &TestBosun, case: Case) -> Vec<String> {
    bosun.forge.read(|w| {
        w.site(case.forge)
            .repo(case.repo)
            .map(|r| r.refs.keys().cloned().collect())
            .unwrap_or_default()
    })
}

/// The PR's merge, as each forge's webhook reports it.
fn merged_hook(case: Case, title: &str) -> (&'static str, Vec<u8>) {
    match case.forge {
        ForgeKind::GitHub => {
            let mut v = fixture("github/pull_request/closed.json");
            patch(&mut v, "/number", case.number.into());
            patch(&mut v, "/pull_request/number", case.number.into());
            patch(&mut v, "/pull_request/merged", true.into());
            patch(&mut v, "/pull_request/title", title.into());
            patch(&mut v, "/pull_request/base/ref", "main".into());
            patch(&mut v, "/repository/full_name", case.repo.into());
            patch(
                &mut v,
                "/pull_request/base/repo/full_name",
                case.repo.into(),
            );
            ("pull_request", serde_json::to_vec(&v).expect("json"))
        }
        ForgeKind::GitLab => {
            let mut v = fixture("gitlab/merge_request/merge.json");
            patch(&mut v, "/project/path_with_namespace", case.repo.into());
            patch(&mut v, "/object_attributes/iid", case.number.into());
            patch(&mut v, "/object_attributes/title", title.into());
            ("Merge Request Hook", serde_json::to_vec(&v).expect("json"))
        }
    }
}

/// On a merged PR an org member's `/cherry-pick` opens a PR on the target with the change
/// applied (the target's own files kept), assigned to them; asking again links that PR; a
/// conflicting target, an unknown one and a non-member get Prow's replies and no branch.
#[tokio::test]
async fn a_merged_pr_is_cherry_picked_through_the_api() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            setup(&bosun, case).await;
            let pr = seed(&bosun, case);
            bosun
                .forge
                .update_item(&pr, |i| i.state = ItemState::Merged);
            let title = bosun.forge.item(&pr).title;

            say(&bosun, case, "alice", "/cherry-pick release-1.2").await;
            let branch = format!("cherry-pick-{}-to-release-1.2", case.number);
            assert_eq!(
                bosun
                    .forge
                    .read(|w| w.branch_files(case.forge, case.repo, &branch)),
                Some(files(&[
                    ("README", "hello\n"),
                    ("RELEASE", "1.2\n"),
                    ("docs/new.md", "new\n"),
                    ("src/lib.rs", "v2\n"),
                ])),
                "{:?}",
                case.forge
            );
            let new = opened_from(&bosun, case, &branch).expect("a new PR");
            assert_eq!(new.base_ref, "release-1.2");
            assert_eq!(new.title, format!("[release-1.2] {title}"));
            assert_eq!(
                new.body,
                format!(
                    "This is an automated cherry-pick of {}\n\n/assign alice",
                    reference(case, case.number)
                )
            );
            assert_eq!(new.assignees, vec!["alice".to_string()], "{:?}", case.forge);
            let replies = bot_comments(&bosun, &pr);
            assert_eq!(replies.len(), 1, "{:?}: {replies:?}", case.forge);
            assert!(
                replies[0].starts_with(&format!(
                    "@alice: new pull request created: {}",
                    reference(case, new.number)
                )),
                "{}",
                replies[0]
            );

            say(&bosun, case, "alice", "/cherrypick release-1.2").await;
            let replies = bot_comments(&bosun, &pr);
            assert!(
                replies[1].starts_with(&format!(
                    "@alice: Looks like {} has already been cherry picked in {}",
                    reference(case, case.number),
                    reference(case, new.number)
                )),
                "{}",
                replies[1]
            );

            say(&bosun, case, "alice", "/cherry-pick release-1.0").await;
            let replies = bot_comments(&bosun, &pr);
            let conflict = match case.forge {
                ForgeKind::GitHub => "Merge conflict",
                ForgeKind::GitLab => fake_forge::GITLAB_CHERRY_PICK_CONFLICT,
            };
            assert!(
                replies[2].starts_with(&format!(
                    "@alice: failed to apply {} on top of branch \"release-1.0\":\n```\n",
                    reference(case, case.number)
                )) && replies[2].contains(conflict),
                "{}",
                replies[2]
            );

            say(&bosun, case, "alice", "/cherry-pick release-9").await;
            let replies = bot_comments(&bosun, &pr);
            assert!(
                replies[3].contains("into `release-9`: the branch does not exist."),
                "{}",
                replies[3]
            );

            say(&bosun, case, "bob", "/cherry-pick release-1.0").await;
            let replies = bot_comments(&bosun, &pr);
            assert!(
                replies[4].starts_with("@bob: only ")
                    && replies[4].contains("may request cherry-picks"),
                "{}",
                replies[4]
            );
            assert_eq!(replies.len(), 5);
            // Only the one cherry-pick branch is left: no scratch branch, no failed pick's.
            assert_eq!(
                branches(&bosun, case),
                vec![
                    branch.clone(),
                    "main".to_string(),
                    "release-1.0".to_string(),
                    "release-1.2".to_string()
                ],
                "{:?}",
                case.forge
            );
            let page = bosun
                .http
                .get(bosun.url("/command-help"))
                .send()
                .await
                .expect("bosun answers")
                .text()
                .await
                .unwrap_or_default();
            assert!(
                page.contains("/cherry-pick &#60;branch&#62; (or /cherrypick &#60;branch&#62;)"),
                "the help is missing from /command-help"
            );
            bosun.shutdown().await;
        }
    }
}

/// `/cherrypick` on an open PR is promised and carried out when the PR merges; a non-member's
/// request in the same PR is not.
#[tokio::test]
async fn a_request_before_the_merge_runs_after_it() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            setup(&bosun, case).await;
            let pr = seed(&bosun, case);

            for (who, command) in [
                ("alice", "/cherrypick release-1.2"),
                ("bob", "/cherrypick release-1.0"),
            ] {
                bosun.forge.update(|w| w.seed_comment(&pr, who, command));
                say(&bosun, case, who, command).await;
            }
            let replies = bot_comments(&bosun, &pr);
            assert_eq!(replies.len(), 2, "{:?}: {replies:?}", case.forge);
            assert!(
                replies[0].starts_with("@alice: once the present PR merges, I will cherry-pick it on top of release-1.2 in a new PR and assign it to you."),
                "{}",
                replies[0]
            );
            assert!(replies[1].starts_with("@bob: only "), "{}", replies[1]);
            assert!(
                opened_from(
                    &bosun,
                    case,
                    &format!("cherry-pick-{}-to-release-1.2", case.number)
                )
                .is_none()
            );

            let title = bosun.forge.item(&pr).title;
            bosun
                .forge
                .update_item(&pr, |i| i.state = ItemState::Merged);
            let (event, payload) = merged_hook(case, &title);
            let id = uuid::Uuid::new_v4().to_string();
            let (status, text) = bosun.post(case.forge, event, &id, &payload).await;
            assert_eq!(status, 202, "{text}");
            bosun.run_until_idle().await;

            let branch = format!("cherry-pick-{}-to-release-1.2", case.number);
            let new = opened_from(&bosun, case, &branch).expect("a new PR after the merge");
            assert_eq!(new.title, format!("[release-1.2] {title}"));
            assert_eq!(
                bosun
                    .forge
                    .read(|w| w.branch_files(case.forge, case.repo, &branch))
                    .and_then(|f| f.get("src/lib.rs").cloned()),
                Some(b"v2\n".to_vec())
            );
            let replies = bot_comments(&bosun, &pr);
            assert_eq!(replies.len(), 3, "{:?}: {replies:?}", case.forge);
            assert!(
                replies[2].starts_with(&format!(
                    "@alice: new pull request created: {}",
                    reference(case, new.number)
                )),
                "{}",
                replies[2]
            );
            assert!(
                opened_from(
                    &bosun,
                    case,
                    &format!("cherry-pick-{}-to-release-1.0", case.number)
                )
                .is_none(),
                "a non-member's request is not carried out"
            );
            bosun.shutdown().await;
        }
    }
}

/// `bosun check-config` refuses an unknown cherrypick setting and accepts `allow_all`.
#[test]
fn check_config_validates_the_settings() {
    let dir = tempfile::tempdir().expect("dir");
    let check = |settings: &str| {
        let file = dir.path().join("cherry.toml");
        std::fs::write(
            &file,
            format!("[plugins.\"org\"]\nenabled = [\"cherrypick\"]\n[settings.cherrypick.\"org\"]\n{settings}\n"),
        )
        .expect("write");
        std::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
            .env_remove("RUST_LOG")
            .arg("check-config")
            .arg(&file)
            .output()
            .expect("runs")
    };
    let good = check("allow_all = true");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let bad = check("allow = true");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.lines()
            .any(|l| l.contains("settings.cherrypick.\"org\"")),
        "{err}"
    );
}

/// The answer to assigning the new PR is lost (502) after the PR was opened: the retried
/// action finds that PR, opens no second one, and says once that it created it.
#[tokio::test]
async fn a_retried_pick_finds_the_pr_it_opened() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            setup(&bosun, case).await;
            let pr = seed(&bosun, case);
            bosun
                .forge
                .update_item(&pr, |i| i.state = ItemState::Merged);
            let (new_number, new_path, create) = match case.forge {
                ForgeKind::GitHub => (
                    case.number + 1,
                    format!("/issues/{}/assignees", case.number + 1),
                    "/pulls",
                ),
                ForgeKind::GitLab => (
                    case.number + 1,
                    format!("/merge_requests/{}", case.number + 1),
                    "/merge_requests",
                ),
            };
            bosun
                .forge
                .fail_next(&new_path, 1, fake_forge::Fault::LostResponse);
            say(&bosun, case, "alice", "/cherry-pick release-1.2").await;

            let branch = format!("cherry-pick-{}-to-release-1.2", case.number);
            let new = opened_from(&bosun, case, &branch).expect("a new PR");
            assert_eq!(new.number, new_number);
            assert_eq!(new.assignees, vec!["alice".to_string()], "{:?}", case.forge);
            let creates = bosun
                .forge
                .requests()
                .iter()
                .filter(|r| r.method == "POST" && r.path.ends_with(create))
                .count();
            assert_eq!(creates, 1, "{:?}: one PR opened", case.forge);
            let replies = bot_comments(&bosun, &pr);
            assert_eq!(replies.len(), 1, "{:?}: {replies:?}", case.forge);
            assert!(
                replies[0].starts_with(&format!(
                    "@alice: new pull request created: {}",
                    reference(case, new_number)
                )),
                "{}",
                replies[0]
            );
            let lost = bosun
                .forge
                .requests()
                .iter()
                .any(|r| r.path.contains(&new_path) && r.status == Some(502));
            assert!(lost, "{:?}: the fault fired", case.forge);
            let counts = bosun.store.status_counts().await.expect("counts");
            assert_eq!(counts.get("failed").copied().unwrap_or(0), 0, "{counts:?}");
            bosun.shutdown().await;
        }
    }
}
