//! The merge queue end to end, on both forges and both databases: merges into one branch wait
//! their turn (the second PR's merge call is made only after the first's answer, and the merge
//! page shows who is merging and who is next); with `retest_before_merge`, a ready PR whose
//! base moved is brought up to date first and merges at its new head once CI passes there; a
//! push to a branch looks again at the PRs into it, so one that now conflicts gets
//! `needs-rebase`.

use crate::commands::{self, Case};
use crate::support::*;
use crate::tide::{ci, context, deliver, is_list_call, merge_calls, merge_status, options};
use bosun_plugins::{ForgeKind, ItemState};
use fake_forge::Fault;
use std::time::Duration;

async fn merge_page(bosun: &TestBosun) -> String {
    bosun.page("/merge").await
}

fn pr_href(case: Case, number: u64) -> String {
    format!("/pr/{}/{}/{number}", case.forge.as_str(), case.repo)
}

/// The first PR's merge answer takes 3 s; the second PR, ready meanwhile, waits in line (the
/// page says so, and no second merge call is made) and merges after the first.
#[tokio::test]
async fn merges_into_one_branch_wait_their_turn() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let first = commands::setup(&bosun, case).await;
            let other = Case {
                number: case.number + 1,
                ..case
            };
            let second = bosun
                .forge
                .seed_pr(case.forge, case.repo, other.number, case.author);
            for pr in [&first, &second] {
                bosun.forge.set_labels(pr, &["lgtm", "approved"]);
            }
            bosun.forge.fail_next(
                &format!("/{}/merge", case.number),
                1,
                Fault::Delay(Duration::from_secs(3)),
            );
            let post = |c: Case| {
                let bosun = &bosun;
                async move {
                    let (event, body) = c.labeled();
                    let id = uuid::Uuid::new_v4().to_string();
                    let (status, text) = bosun.post(c.forge, event, &id, &body).await;
                    assert_eq!(status, 202, "{text}");
                }
            };
            post(case).await;
            wait_until(
                "the first merge call arrives",
                Duration::from_secs(20),
                || async { !merge_calls(&bosun).is_empty() },
            )
            .await;
            post(other).await;
            let next = format!("class=\"next\" href=\"{}\"", pr_href(case, other.number));
            let merging = format!("class=\"merging\" href=\"{}\"", pr_href(case, case.number));
            wait_until(
                "the page shows the second PR next in line",
                Duration::from_secs(20),
                || async { merge_page(&bosun).await.contains(&next) },
            )
            .await;
            let page = merge_page(&bosun).await;
            assert!(page.contains(&merging), "the first is merging: {page}");
            assert_eq!(
                merge_calls(&bosun).len(),
                1,
                "{:?}: the second waits for the first's answer",
                case.forge
            );

            bosun.run_until_idle().await;
            let merges = merge_calls(&bosun);
            assert_eq!(merges.len(), 2, "{:?}: {merges:?}", case.forge);
            assert!(merges[0].path.contains(&format!("/{}/merge", case.number)));
            assert!(merges[1].path.contains(&format!("/{}/merge", other.number)));
            for pr in [&first, &second] {
                assert_eq!(bosun.forge.item(pr).state, ItemState::Merged);
            }
            let page = merge_page(&bosun).await;
            assert!(
                !page.contains("class=\"next\"") && !page.contains("class=\"merging\""),
                "the queue is empty again: {page}"
            );
            bosun.shutdown().await;
        }
    }
}

/// `retest_before_merge`: the base moved after the head was pushed, so the ready PR is first
/// brought up to date (one update call, no merge); CI passes on the new head and it merges
/// with that head.
#[tokio::test]
async fn a_ready_pr_behind_its_base_is_updated_and_merges_after_ci_passes_again() {
    let extra = "[settings.tide.\"kubernetes\"]\nretest_before_merge = true\n\
                 [settings.tide.\"gitlab-org\"]\nretest_before_merge = true\n";
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, extra)).await;
            let pr = commands::setup(&bosun, case).await;
            let (kind, repo) = (case.forge, case.repo);
            let base = bosun.forge.seed_commit(kind, repo, &[("README", b"one")]);
            bosun.forge.set_ref(kind, repo, "main", &base);
            let head = bosun.forge.seed_child_commit(
                kind,
                repo,
                &base,
                &[("README", b"one"), ("feature", b"x")],
            );
            bosun
                .forge
                .update_item(&pr, |it| it.head_sha = head.clone());
            let moved = bosun
                .forge
                .seed_child_commit(kind, repo, &base, &[("README", b"two")]);
            bosun.forge.set_ref(kind, repo, "main", &moved);

            ci(&bosun, case, &pr, context(case), "success").await;
            bosun.forge.set_labels(&pr, &["lgtm", "approved"]);
            deliver(&bosun, case, case.labeled()).await;
            let update = match kind {
                ForgeKind::GitHub => "/update-branch",
                ForgeKind::GitLab => "/rebase",
            };
            assert_eq!(bosun.forge.count_requests("PUT", update), 1, "{kind:?}");
            assert!(
                merge_calls(&bosun).is_empty(),
                "{kind:?}: not merged behind"
            );
            let status = merge_status(&bosun, case).expect("a merge status");
            assert!(
                status
                    .description
                    .as_deref()
                    .is_some_and(|d| d.starts_with("In merge pool. Its base moved")),
                "{status:?}"
            );
            let updated = bosun.forge.item(&pr).head_sha;
            assert_ne!(updated, head, "the head moved onto the new base");

            // The forge's push event for the new head, then CI on it.
            deliver(&bosun, case, case.pushed_at(&updated)).await;
            assert!(
                merge_calls(&bosun).is_empty(),
                "{kind:?}: CI has not passed"
            );
            let waiting = merge_status(&bosun, case).and_then(|s| s.description);
            assert_eq!(
                waiting.as_deref(),
                Some("Not mergeable. Waiting for CI to report on this head.")
            );
            ci(&bosun, case, &pr, context(case), "success").await;
            let merges = merge_calls(&bosun);
            assert_eq!(
                merges.len(),
                1,
                "{kind:?}: {merges:?} {:?}",
                merge_status(&bosun, case)
            );
            assert!(merges[0].body.contains(&updated), "{:?}", merges[0]);
            assert_eq!(bosun.forge.item(&pr).state, ItemState::Merged);
            assert_eq!(bosun.forge.count_requests("PUT", update), 1);
            bosun.shutdown().await;
        }
    }
}

/// A push to `main` looks again at the PRs into it: the one that now conflicts gets
/// `needs-rebase`. A push to a branch no PR merges into then costs no forge call.
#[tokio::test]
async fn a_push_to_the_base_labels_the_prs_it_made_conflict() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = commands::setup(&bosun, case).await;
            deliver(&bosun, case, case.pushed()).await;
            assert!(!bosun.forge.labels(&pr).contains(&"needs-rebase".into()));

            bosun.forge.update_item(&pr, |it| it.mergeable = false);
            deliver(&bosun, case, case.branch_pushed("main", &"a1".repeat(20))).await;
            assert!(
                bosun.forge.labels(&pr).contains(&"needs-rebase".into()),
                "{:?}",
                case.forge
            );
            let lists = |bosun: &TestBosun| {
                bosun
                    .forge
                    .requests()
                    .iter()
                    .filter(|r| is_list_call(r))
                    .count()
            };
            assert_eq!(
                lists(&bosun),
                1,
                "{:?}: tide and needs-rebase both ask; one list",
                case.forge
            );

            bosun.forge.clear_requests();
            deliver(
                &bosun,
                case,
                case.branch_pushed("feature-elsewhere", &"b2".repeat(20)),
            )
            .await;
            assert_eq!(lists(&bosun), 0, "{:?}", case.forge);
            bosun.shutdown().await;
        }
    }
}

/// The merge call fails with a 5xx: the merge is tried again (it is the same call, with the
/// same head), the PR merges once, and its branch's queue is free again afterwards.
#[tokio::test]
async fn a_merge_that_fails_for_now_is_tried_again_and_frees_its_queue() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = commands::setup(&bosun, case).await;
            let head = bosun.forge.item(&pr).head_sha;
            bosun.forge.set_labels(&pr, &["lgtm", "approved"]);
            bosun
                .forge
                .fail_next(&format!("/{}/merge", case.number), 1, Fault::Status500);
            deliver(&bosun, case, case.labeled()).await;
            let merges = merge_calls(&bosun);
            assert_eq!(merges.len(), 2, "{:?}: {merges:?}", case.forge);
            assert!(merges.iter().all(|m| m.body.contains(&head)));
            assert_eq!(bosun.forge.item(&pr).state, ItemState::Merged);
            let page = merge_page(&bosun).await;
            assert!(!page.contains("class=\"merging\""), "{page}");
            bosun.shutdown().await;
        }
    }
}

/// What a push to a base branch costs with 500 open PRs into it: one list call per 100 PRs,
/// then one read per PR looked at again, at most `[merge] recheck_limit` (default 100), plus a
/// status write where the verdict changed. Printed for BENCHMARKS.md
/// (`cargo test --test e2e recheck_costs -- --nocapture`).
#[tokio::test]
async fn recheck_costs_are_bounded_by_the_limit() {
    let db = databases()[0];
    let _combination = Combination::new(db);
    for case in [commands::GITHUB, commands::GITLAB] {
        let _combination = Combination::new(case.forge);
        let mut o = options(db, "");
        o.env
            .push(("BOSUN_MERGE__RESYNC_SECONDS".into(), "0".into()));
        let bosun = spawn_bosun(o).await;
        commands::setup(&bosun, case).await;
        for n in 2..=500 {
            bosun.forge.seed_pr(case.forge, case.repo, n, "someone");
        }
        bosun.forge.clear_requests();
        deliver(&bosun, case, case.branch_pushed("main", &"c3".repeat(20))).await;
        let requests = bosun.forge.requests();
        let lists = requests.iter().filter(|r| is_list_call(r)).count();
        let reads = requests
            .iter()
            .filter(|r| r.method == "GET" && !is_list_call(r))
            .count();
        let writes = requests.len() - lists - reads;
        println!(
            "{:?}: push to main with 500 open PRs into it: {lists} list calls, {reads} reads, {writes} writes ({} requests)",
            case.forge,
            requests.len()
        );
        assert!((5..=6).contains(&lists), "{lists}");
        assert!(
            reads <= 100 + 2,
            "one read per PR looked at, at most 100: {reads}"
        );
        assert!(writes <= 100, "at most a status per PR looked at: {writes}");
        bosun.shutdown().await;
    }
}

/// GitLab's own approval rules are read, not bypassed: an MR with `lgtm` and `approved` that
/// GitLab still wants approvals for is not merged, and its status says why; once approved in
/// GitLab it merges.
#[tokio::test]
async fn gitlab_approvals_its_rules_require_are_read_not_bypassed() {
    for db in databases() {
        let _combination = Combination::new(db);
        let case = commands::GITLAB;
        let bosun = spawn_bosun(options(db, "")).await;
        let pr = commands::setup(&bosun, case).await;
        bosun.forge.update_item(&pr, |it| it.approvals_left = 1);
        bosun.forge.set_labels(&pr, &["lgtm", "approved"]);
        deliver(&bosun, case, case.labeled()).await;
        assert!(merge_calls(&bosun).is_empty());
        assert_eq!(
            merge_status(&bosun, case)
                .and_then(|s| s.description)
                .as_deref(),
            Some("Not mergeable. Needs the approvals GitLab's rules require.")
        );
        bosun.forge.update_item(&pr, |it| it.approvals_left = 0);
        deliver(&bosun, case, case.labeled()).await;
        assert_eq!(merge_calls(&bosun).len(), 1);
        assert_eq!(bosun.forge.item(&pr).state, ItemState::Merged);
        bosun.shutdown().await;
    }
}
