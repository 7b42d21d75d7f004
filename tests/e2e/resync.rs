//! Catching up after downtime, on both forges and both databases: `bosun resync org/repo`
//! looks again at the open PRs whose head or labels bosun has not seen, and only at those; a
//! second run finds nothing to do; the PR page's button looks again at one PR.

use crate::commands;
use crate::support::*;
use crate::tide::{deliver, merge_calls, options};
use bosun_plugins::{ItemState, RepoPath};

/// Three PRs opened while bosun was down and a label added to a known one: all four are
/// looked at (one list call), the ready one merges, the conflicting one gets `needs-rebase`;
/// a second run queues nothing.
#[tokio::test]
async fn resync_looks_again_at_what_bosun_missed_and_only_that() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let repo = RepoPath::parse(case.repo).expect("repo");
            let known = commands::setup(&bosun, case).await;
            let _ = bosun
                .resync
                .repo(case.forge, &repo)
                .await
                .expect("first look");
            bosun.run_until_idle().await;
            let nothing = bosun.resync.repo(case.forge, &repo).await.expect("resync");
            assert_eq!((nothing.listed, nothing.queued), (1, 0), "{nothing:?}");

            // bosun is down: three PRs open, and the known one gets its labels.
            let missed: Vec<_> = (1..=3)
                .map(|n| {
                    bosun
                        .forge
                        .seed_pr(case.forge, case.repo, case.number + n, "someone")
                })
                .collect();
            bosun
                .forge
                .update_item(&missed[1], |it| it.mergeable = false);
            bosun.forge.set_labels(&known, &["lgtm", "approved"]);
            bosun.forge.clear_requests();
            let report = bosun.resync.repo(case.forge, &repo).await.expect("resync");
            assert_eq!((report.listed, report.queued), (4, 4), "{report:?}");
            bosun.run_until_idle().await;
            assert_eq!(bosun.forge.item(&known).state, ItemState::Merged);
            assert_eq!(merge_calls(&bosun).len(), 1);
            assert!(
                bosun
                    .forge
                    .labels(&missed[1])
                    .contains(&"needs-rebase".to_string()),
                "{:?}",
                case.forge
            );
            let again = bosun.resync.repo(case.forge, &repo).await.expect("resync");
            assert_eq!((again.listed, again.queued), (3, 0), "{again:?}");
            bosun.shutdown().await;
        }
    }
}

/// The PR page's button (admin token) queues one look at that PR; without the token it is
/// refused and nothing is queued.
#[tokio::test]
async fn the_pr_pages_button_looks_again_at_one_pr() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let mut o = options(db, "");
            o.env
                .push(("BOSUN_ADMIN_TOKEN".into(), "admin-secret".into()));
            let bosun = spawn_bosun(o).await;
            let pr = commands::setup(&bosun, case).await;
            deliver(&bosun, case, case.pushed()).await;
            bosun.forge.set_labels(&pr, &["lgtm", "approved"]);
            let url = bosun.url(&format!(
                "/admin/resync/{}/{}/{}",
                case.forge.as_str(),
                case.repo,
                case.number
            ));
            let refused = bosun.http.post(&url).send().await.expect("post");
            assert_eq!(refused.status(), 401);
            bosun.run_until_idle().await;
            assert!(merge_calls(&bosun).is_empty());
            let ok = bosun
                .http
                .post(&url)
                .bearer_auth("admin-secret")
                .send()
                .await
                .expect("post");
            assert_eq!(ok.status(), 202, "{:?}", ok.text().await);
            bosun.run_until_idle().await;
            assert_eq!(merge_calls(&bosun).len(), 1, "{:?}", case.forge);
            let page = bosun
                .page(&format!(
                    "/pr/{}/{}/{}",
                    case.forge.as_str(),
                    case.repo,
                    case.number
                ))
                .await;
            assert!(page.contains("/admin/resync/"), "the page has the button");
            bosun.shutdown().await;
        }
    }
}
