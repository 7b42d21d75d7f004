//! Issue 16's commit and description plugins end to end on both forges and both databases:
//! dco, invalidcommitmsg and mergecommitblocker read the PR's commits from the fake forge's
//! commit lists (GitHub `pulls/{n}/commits`, GitLab's MR commits, which name no parents), and
//! release-note reads the description; the assertions are the forge's labels, statuses and
//! comments afterwards.

use crate::commands::{Case, GITHUB, GITLAB};
use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef};
use fake_forge::PrCommit;

const PLUGINS: &str = r#"["dco", "invalidcommitmsg", "mergecommitblocker", "release-note"]"#;

fn options(db: Db) -> Options {
    let mut o = Options::new(db);
    o.extra = format!(
        "[plugins.\"kubernetes\"]\nenabled = {PLUGINS}\n[plugins.\"gitlab-org\"]\nenabled = {PLUGINS}\n"
    );
    o
}

async fn deliver(bosun: &TestBosun, case: Case, hook: (&str, Vec<u8>)) {
    bosun.deliver(case.forge, hook).await;
}

fn bot_comments(bosun: &TestBosun, pr: &ItemRef, containing: &str) -> Vec<String> {
    bosun
        .forge
        .comments(pr)
        .into_iter()
        .filter(|c| c.author == BOT && c.body.contains(containing))
        .map(|c| c.body)
        .collect()
}

/// The PR's release-note labels (dco labels the same PR too).
fn release_note_labels(bosun: &TestBosun, pr: &ItemRef) -> Vec<String> {
    bosun
        .forge
        .labels(pr)
        .into_iter()
        .filter(|l| l.contains("release-note"))
        .collect()
}

fn has_label(bosun: &TestBosun, pr: &ItemRef, label: &str) -> bool {
    bosun.forge.labels(pr).iter().any(|l| l == label)
}

/// The latest `dco` status on the PR's head: its state and description.
fn dco_status(bosun: &TestBosun, case: Case, pr: &ItemRef) -> Option<(String, String)> {
    let head = bosun.forge.item(pr).head_sha;
    bosun
        .forge
        .statuses(case.forge, case.repo)
        .into_iter()
        .rev()
        .find(|s| s.sha == head && s.context == "dco")
        .map(|s| (s.state, s.description.unwrap_or_default()))
}

fn signed(login: &str, title: &str) -> PrCommit {
    PrCommit::new(
        login,
        &format!("{title}\n\nSigned-off-by: {login} <{login}@example.com>\n"),
    )
}

fn short(c: &PrCommit) -> String {
    c.sha.chars().take(7).collect()
}

/// Prow dco: a push with an unsigned commit fails the `dco` status, labels `dco-signoff: no`
/// and lists the commit; after the author signs it off, `/check-dco` passes, relabels and
/// deletes the list.
#[tokio::test]
async fn dco_fails_an_unsigned_commit_and_check_dco_passes_it_once_signed() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            let unsigned = PrCommit::new(case.author, "Quick fix without a sign-off");
            bosun.forge.set_pr_commits(
                &pr,
                vec![signed(case.author, "First part"), unsigned.clone()],
            );
            deliver(&bosun, case, case.pushed()).await;

            assert!(
                has_label(&bosun, &pr, "dco-signoff: no"),
                "{:?}",
                case.forge
            );
            assert!(!has_label(&bosun, &pr, "dco-signoff: yes"));
            let failed = match case.forge {
                ForgeKind::GitHub => "failure",
                ForgeKind::GitLab => "failed",
            };
            assert_eq!(
                dco_status(&bosun, case, &pr),
                Some((failed.into(), "Commits in PR missing Signed-off-by".into()))
            );
            let notices = bot_comments(&bosun, &pr, "'DCO signoff'");
            assert_eq!(notices.len(), 1, "{:?}: {notices:?}", case.forge);
            assert!(
                notices[0].contains(&format!("{}](", short(&unsigned)))
                    && notices[0].contains("Quick fix without a sign-off"),
                "{:?}: {}",
                case.forge,
                notices[0]
            );

            bosun.forge.set_pr_commits(
                &pr,
                vec![
                    signed(case.author, "First part"),
                    signed(case.author, "Quick fix"),
                ],
            );
            deliver(&bosun, case, case.comment("someone", "/check-dco")).await;
            assert!(
                has_label(&bosun, &pr, "dco-signoff: yes"),
                "{:?}",
                case.forge
            );
            assert!(!has_label(&bosun, &pr, "dco-signoff: no"));
            assert_eq!(
                dco_status(&bosun, case, &pr),
                Some(("success".into(), "All commits have Signed-off-by".into()))
            );
            assert!(bot_comments(&bosun, &pr, "'DCO signoff'").is_empty());
            bosun.shutdown().await;
        }
    }
}

/// Prow invalidcommitmsg and mergecommitblocker: a closing keyword in a commit message and a
/// merge commit each label the PR with one notice; a clean history removes both. The three
/// commit plugins share one commit listing per delivery, and on GitLab only the merge-looking
/// commit is read again for its parents.
#[tokio::test]
async fn invalid_messages_and_merge_commits_block_until_the_history_is_clean() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            let closing = signed(case.author, "Parser fix\n\nFixes #12");
            let merge = signed(case.author, "Merge branch 'main' into feature").merge();
            bosun.forge.set_pr_commits(
                &pr,
                vec![signed(case.author, "Good work"), closing.clone(), merge],
            );
            bosun.forge.clear_requests();
            deliver(&bosun, case, case.pushed()).await;

            let (list, single) = match case.forge {
                ForgeKind::GitHub => (format!("/pulls/{}/commits", case.number), None),
                ForgeKind::GitLab => (
                    format!("/merge_requests/{}/commits", case.number),
                    Some("/repository/commits/"),
                ),
            };
            assert_eq!(
                bosun.forge.count_requests("GET", &list),
                1,
                "{:?}: one listing for three plugins",
                case.forge
            );
            if let Some(single) = single {
                assert_eq!(
                    bosun.forge.count_requests("GET", single),
                    1,
                    "only the merge-looking commit is read again"
                );
            }
            assert!(has_label(
                &bosun,
                &pr,
                "do-not-merge/invalid-commit-message"
            ));
            assert!(has_label(
                &bosun,
                &pr,
                "do-not-merge/contains-merge-commits"
            ));
            let invalid = bot_comments(&bosun, &pr, "Invalid commit message issues detected");
            assert_eq!(invalid.len(), 1, "{:?}: {invalid:?}", case.forge);
            assert!(invalid[0].contains(&short(&closing)), "{}", invalid[0]);
            assert!(!invalid[0].contains("Good work"), "{}", invalid[0]);
            let merges = bot_comments(&bosun, &pr, "because PR contains merge commits");
            assert_eq!(merges.len(), 1, "{:?}: {merges:?}", case.forge);

            deliver(&bosun, case, case.pushed()).await;
            assert_eq!(
                bot_comments(&bosun, &pr, "Invalid commit message issues detected").len(),
                1,
                "never two notices"
            );

            bosun
                .forge
                .set_pr_commits(&pr, vec![signed(case.author, "Good work, rebased")]);
            deliver(&bosun, case, case.pushed()).await;
            assert!(!has_label(
                &bosun,
                &pr,
                "do-not-merge/invalid-commit-message"
            ));
            assert!(!has_label(
                &bosun,
                &pr,
                "do-not-merge/contains-merge-commits"
            ));
            assert!(bot_comments(&bosun, &pr, "Invalid commit message issues detected").is_empty());
            assert!(bot_comments(&bosun, &pr, "because PR contains merge commits").is_empty());
            bosun.shutdown().await;
        }
    }
}

/// Prow releasenote: a PR without a release-note block gets the needs label and one notice;
/// the author's `/release-note-none` swaps it for `release-note-none` and deletes the notice;
/// a description edited to carry a note then makes it `release-note`.
#[tokio::test]
async fn release_note_labels_follow_the_block_and_release_note_none() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            bosun
                .forge
                .update_item(&pr, |it| it.body = "Fixes the frobnicator.".into());
            deliver(&bosun, case, case.opened()).await;
            let needed = "do-not-merge/release-note-label-needed";
            assert!(has_label(&bosun, &pr, needed), "{:?}", case.forge);
            assert_eq!(bot_comments(&bosun, &pr, "no release-note block").len(), 1);

            bosun
                .forge
                .seed_comment(&pr, case.author, "/release-note-none");
            deliver(
                &bosun,
                case,
                case.comment(case.author, "/release-note-none"),
            )
            .await;
            assert_eq!(
                release_note_labels(&bosun, &pr),
                vec!["release-note-none"],
                "{:?}",
                case.forge
            );
            assert!(bot_comments(&bosun, &pr, "no release-note block").is_empty());

            bosun.forge.update_item(&pr, |it| {
                it.body =
                    "Fixes it.\n\n```release-note\nThe frobnicator no longer crashes.\n```\n".into()
            });
            deliver(&bosun, case, case.edited()).await;
            assert_eq!(
                release_note_labels(&bosun, &pr),
                vec!["release-note"],
                "{:?}",
                case.forge
            );
            bosun.shutdown().await;
        }
    }
}
