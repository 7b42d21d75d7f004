//! Merge automation end to end, on both forges and both databases: a PR with `lgtm` and
//! `approved` and green CI merges once, with its head SHA; a hold blocks it and its
//! `bosun/merge` status says why; a red required context blocks, an optional one does not; a
//! method label squashes; a head that moves before the merge call is not merged with the old
//! SHA; a conflicting PR gets `needs-rebase` and loses it once it merges cleanly.

use crate::commands::{self, Case};
use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef};
use fake_forge::Fault;
use std::time::Duration;

pub(crate) fn options(db: Db, extra: &str) -> Options {
    let mut o = Options::new(db);
    o.extra = format!(
        "[plugins.\"kubernetes\"]\nenabled = [\"tide\", \"needs-rebase\"]\n\
         [plugins.\"gitlab-org\"]\nenabled = [\"tide\", \"needs-rebase\"]\n{extra}"
    );
    o
}

/// Delivers a webhook and waits for bosun to finish; a refused merge may end the delivery
/// `failed`, so its status is not checked here.
pub(crate) async fn deliver(bosun: &TestBosun, case: Case, (event, body): (&str, Vec<u8>)) {
    let id = uuid::Uuid::new_v4().to_string();
    let (status, text) = bosun.post(case.forge, event, &id, &body).await;
    assert_eq!(status, 202, "{text}");
    bosun.run_until_idle().await;
}

/// Records a CI context's state on the PR's head in bosun's store, as its event would.
pub(crate) async fn ci(bosun: &TestBosun, case: Case, pr: &ItemRef, context: &str, state: &str) {
    let head = bosun.forge.item(pr).head_sha;
    let (event, body) = match case.forge {
        ForgeKind::GitHub => {
            let mut v = fixture("github/status/payload.json");
            patch(&mut v, "/sha", head.into());
            patch(&mut v, "/state", state.into());
            patch(&mut v, "/context", context.into());
            patch(&mut v, "/repository/full_name", case.repo.into());
            ("status", serde_json::to_vec(&v).expect("json"))
        }
        ForgeKind::GitLab => {
            let status = if state == "failure" { "failed" } else { state };
            ("Pipeline Hook", case.pipeline_hook(None, &head, status))
        }
    };
    deliver(bosun, case, (event, body)).await;
}

/// The context a case's CI reports under (GitLab pipelines are `gitlab-ci`).
pub(crate) fn context(case: Case) -> &'static str {
    match case.forge {
        ForgeKind::GitHub => "ci/unit",
        ForgeKind::GitLab => "gitlab-ci",
    }
}

pub(crate) fn merge_calls(bosun: &TestBosun) -> Vec<fake_forge::RecordedRequest> {
    bosun
        .forge
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/merge"))
        .collect()
}

/// A list of a repository's open PRs (GitHub `GET …/pulls`, GitLab `GET …/merge_requests`).
pub(crate) fn is_list_call(r: &fake_forge::RecordedRequest) -> bool {
    r.method == "GET" && (r.path.ends_with("/pulls") || r.path.ends_with("/merge_requests"))
}

pub(crate) fn merge_status(bosun: &TestBosun, case: Case) -> Option<fake_forge::Status> {
    bosun
        .forge
        .statuses(case.forge, case.repo)
        .into_iter()
        .rev()
        .find(|s| s.context == "bosun/merge")
}

/// Green and approved: one merge call carrying the head SHA, status "In merge pool.".
/// Held first: no merge, and the status says why.
#[tokio::test]
async fn an_approved_green_pr_merges_once_and_a_held_one_says_why() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = commands::setup(&bosun, case).await;
            let head = bosun.forge.item(&pr).head_sha;
            ci(&bosun, case, &pr, context(case), "success").await;

            bosun
                .forge
                .set_labels(&pr, &["lgtm", "approved", "do-not-merge/hold"]);
            deliver(&bosun, case, case.labeled()).await;
            assert!(merge_calls(&bosun).is_empty(), "{:?}", case.forge);
            let status = merge_status(&bosun, case).expect("a merge status");
            assert_eq!(
                status.description.as_deref(),
                Some("Not mergeable. Should not have do-not-merge/hold label.")
            );
            assert_eq!(status.state, "pending");
            let page = bosun.page("/merge").await;
            assert!(
                page.contains("Not mergeable. Should not have do-not-merge/hold label.")
                    && page.contains(case.repo),
                "the merge page says why: {page}"
            );

            bosun.forge.set_labels(&pr, &["lgtm", "approved"]);
            deliver(&bosun, case, case.labeled()).await;
            let merges = merge_calls(&bosun);
            assert_eq!(merges.len(), 1, "{:?}: {merges:?}", case.forge);
            assert!(
                merges[0].body.contains(&head),
                "the merge names the head it was evaluated at: {:?}",
                merges[0]
            );
            assert_eq!(
                bosun.forge.item(&pr).state,
                bosun_plugins::ItemState::Merged
            );
            let status = merge_status(&bosun, case).expect("a merge status");
            assert_eq!(status.description.as_deref(), Some("In merge pool."));
            assert_eq!(status.state, "success");

            // The same event again (a redelivery, a resync) merges nothing more.
            deliver(&bosun, case, case.labeled()).await;
            assert_eq!(merge_calls(&bosun).len(), 1);
            bosun.shutdown().await;
        }
    }
}

/// A failed required context blocks; the same context listed optional does not; a squash label
/// squashes.
#[tokio::test]
async fn red_required_ci_blocks_optional_does_not_and_labels_pick_the_method() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let org = case.repo.split('/').next().expect("org");
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = commands::setup(&bosun, case).await;
            ci(&bosun, case, &pr, context(case), "failure").await;
            bosun.forge.set_labels(&pr, &["lgtm", "approved"]);
            deliver(&bosun, case, case.labeled()).await;
            assert!(merge_calls(&bosun).is_empty());
            assert_eq!(
                merge_status(&bosun, case)
                    .and_then(|s| s.description)
                    .as_deref(),
                Some(format!("Not mergeable. Required context {} failed.", context(case)).as_str())
            );
            bosun.shutdown().await;

            let bosun = spawn_bosun(options(
                db,
                &format!(
                    "[settings.tide.\"{org}\"]\noptional_contexts = [\"{}\"]\n",
                    context(case)
                ),
            ))
            .await;
            let pr = commands::setup(&bosun, case).await;
            ci(&bosun, case, &pr, context(case), "failure").await;
            bosun
                .forge
                .set_labels(&pr, &["lgtm", "approved", "tide/merge-method-squash"]);
            deliver(&bosun, case, case.labeled()).await;
            assert_eq!(merge_calls(&bosun).len(), 1, "{:?}", case.forge);
            let body = merge_calls(&bosun)[0].body.clone();
            match case.forge {
                ForgeKind::GitHub => {
                    assert!(body.contains("\"merge_method\":\"squash\""), "{body}")
                }
                ForgeKind::GitLab => assert!(body.contains("squash=true"), "{body}"),
            }
            bosun.shutdown().await;
        }
    }
}

/// The head moves after bosun evaluated the PR and before its merge call lands: the forge
/// refuses the old SHA and nothing is merged.
#[tokio::test]
async fn a_head_that_moved_is_not_merged_with_the_old_sha() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = commands::setup(&bosun, case).await;
            bosun.forge.set_labels(&pr, &["lgtm", "approved"]);
            bosun.forge.fail_next(
                &format!("/{}/merge", case.number),
                1,
                Fault::Delay(Duration::from_millis(800)),
            );
            let id = uuid::Uuid::new_v4().to_string();
            let (event, body) = case.labeled();
            let (status, _) = bosun.post(case.forge, event, &id, &body).await;
            assert_eq!(status, 202);
            wait_until(
                "the merge call arrives",
                Duration::from_secs(20),
                || async { !merge_calls(&bosun).is_empty() },
            )
            .await;
            bosun
                .forge
                .update_item(&pr, |it| it.head_sha = "f00d".repeat(10));
            bosun.run_until_idle().await;
            assert_eq!(
                merge_calls(&bosun).len(),
                1,
                "tried once, refused, not repeated"
            );
            assert_eq!(
                bosun.forge.item(&pr).state,
                bosun_plugins::ItemState::Open,
                "{:?}",
                case.forge
            );
            bosun.shutdown().await;
        }
    }
}

/// A PR that conflicts with its base gets `needs-rebase` and Prow's comment; after a rebase
/// (it merges cleanly again) both go.
#[tokio::test]
async fn a_conflicting_pr_needs_rebase_until_it_merges_cleanly() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = commands::setup(&bosun, case).await;
            bosun.forge.update_item(&pr, |it| it.mergeable = false);
            deliver(&bosun, case, case.pushed()).await;
            assert!(
                bosun
                    .forge
                    .labels(&pr)
                    .contains(&"needs-rebase".to_string())
            );
            let notices = |bosun: &TestBosun| {
                bosun
                    .forge
                    .comments(&pr)
                    .into_iter()
                    .filter(|c| c.author == BOT && c.body.contains("PR needs rebase."))
                    .count()
            };
            assert_eq!(notices(&bosun), 1);
            deliver(&bosun, case, case.pushed()).await;
            assert_eq!(notices(&bosun), 1, "never two notices");

            bosun.forge.update_item(&pr, |it| it.mergeable = true);
            deliver(&bosun, case, case.pushed()).await;
            assert!(
                !bosun
                    .forge
                    .labels(&pr)
                    .contains(&"needs-rebase".to_string())
            );
            assert_eq!(notices(&bosun), 0);
            bosun.shutdown().await;
        }
    }
}

/// bosun knew the PR (it saw it opened) but missed the webhook that made it ready; the forge's
/// list fails once (the resync skips the repository and tries again next period), then the
/// resync finds the PR ready and it merges once; a second pass in the same period queues
/// nothing more.
#[tokio::test]
async fn the_resync_merges_what_events_missed_and_survives_a_forge_outage() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let mut o = options(db, "");
            o.env
                .push(("BOSUN_MERGE__RESYNC_SECONDS".into(), "0".into()));
            let bosun = spawn_bosun(o).await;
            let pr = commands::setup(&bosun, case).await;
            ci(&bosun, case, &pr, context(case), "success").await;
            deliver(&bosun, case, case.labeled()).await;
            assert!(merge_calls(&bosun).is_empty(), "not ready yet");
            // The labels change on the forge; their webhook never arrives.
            bosun.forge.set_labels(&pr, &["lgtm", "approved"]);
            let list = match case.forge {
                ForgeKind::GitHub => format!("/repos/{}/pulls", case.repo),
                ForgeKind::GitLab => "/merge_requests".to_string(),
            };
            bosun.forge.fail_next(&list, 1, Fault::Status500);
            let period = Duration::from_secs(3600);
            let down = bosun.resync.run_once(period).await;
            assert_eq!((down.unreachable, down.queued), (1, 0), "{down:?}");
            let up = bosun.resync.run_once(period).await;
            assert_eq!((up.repos, up.pull_requests, up.queued), (1, 1, 1), "{up:?}");
            bosun.run_until_idle().await;
            let merges = merge_calls(&bosun);
            assert_eq!(merges.len(), 1, "{:?}: {merges:?}", case.forge);
            assert_eq!(
                bosun.forge.item(&pr).state,
                bosun_plugins::ItemState::Merged
            );
            let again = bosun.resync.run_once(period).await;
            assert_eq!(again.queued, 0, "{again:?}");
            bosun.shutdown().await;
        }
    }
}

/// What the merge controller costs on a repository with 500 open PRs, none ready: the first
/// resync lists them (5 pages) and queues each once to set its status; the next resync lists
/// them again and queues nothing. Printed for BENCHMARKS.md
/// (`cargo test --test e2e resync_costs -- --nocapture`).
#[tokio::test]
async fn resync_costs_list_calls_not_calls_per_pr() {
    let db = databases()[0];
    let _combination = Combination::new(db);
    for case in [commands::GITHUB, commands::GITLAB] {
        let _combination = Combination::new(case.forge);
        let mut o = options(db, "");
        o.env
            .push(("BOSUN_MERGE__RESYNC_SECONDS".into(), "0".into()));
        let bosun = spawn_bosun(o).await;
        let pr = commands::setup(&bosun, case).await;
        deliver(&bosun, case, case.labeled()).await;
        for n in 2..=500 {
            bosun.forge.seed_pr(case.forge, case.repo, n, "someone");
        }
        let period = Duration::from_secs(3600);
        // The list calls only: workers start on the queued PRs while the pass runs.
        let lists = |bosun: &TestBosun| {
            bosun
                .forge
                .requests()
                .iter()
                .filter(|r| is_list_call(r))
                .count()
        };
        bosun.forge.clear_requests();
        let first = bosun.resync.run_once(period).await;
        assert_eq!(first.pull_requests, 500);
        bosun.run_until_idle().await;
        let first_calls = lists(&bosun);
        let evaluations = bosun.forge.requests().len() - first_calls;
        bosun.forge.clear_requests();
        let second = bosun.resync.run_once(period).await;
        bosun.run_until_idle().await;
        let second_calls = lists(&bosun);
        assert_eq!(
            bosun.forge.requests().len(),
            second_calls,
            "the second pass queued nothing, so made no other call"
        );
        println!(
            "{:?}: resync of 500 open PRs: {first_calls} list calls, {} queued; {} requests to evaluate and set those statuses ({:.1} per PR); next resync: {second_calls} list calls, {} queued",
            case.forge,
            first.queued,
            evaluations,
            evaluations as f64 / first.queued.max(1) as f64,
            second.queued
        );
        // One list call per 100 PRs; GitLab's pager asks once more when a page is full.
        assert!((5..=6).contains(&first_calls), "{first_calls}");
        assert_eq!(second_calls, first_calls);
        assert_eq!(second.queued, 0, "{second:?}");
        assert!(
            evaluations <= 2 * first.queued + 2,
            "an evaluation is one read and, when it changed, one status write: {evaluations}"
        );
        let _ = pr;
        bosun.shutdown().await;
    }
}

/// GitLab with `merge_when_pipeline_succeeds`: an approved MR whose pipeline still runs is
/// handed to GitLab's merge-when-pipeline-succeeds with its head SHA, once; it is not merged
/// yet, and its status says GitLab will.
#[tokio::test]
async fn gitlab_merge_when_pipeline_succeeds() {
    for db in databases() {
        let _combination = Combination::new(db);
        let case = commands::GITLAB;
        let bosun = spawn_bosun(options(
            db,
            "[settings.tide.\"gitlab-org\"]\nmerge_when_pipeline_succeeds = true\n",
        ))
        .await;
        let pr = commands::setup(&bosun, case).await;
        let head = bosun.forge.item(&pr).head_sha;
        bosun.forge.add_ci_run(
            ForgeKind::GitLab,
            case.repo,
            fake_forge::CiRun {
                id: 0,
                kind: fake_forge::CiRunKind::Pipeline {
                    mr: Some(case.number),
                },
                name: String::new(),
                sha: head.clone(),
                status: "running".into(),
                conclusion: None,
                attempt: 1,
                jobs: vec![],
            },
        );
        ci(&bosun, case, &pr, "gitlab-ci", "running").await;
        bosun.forge.set_labels(&pr, &["lgtm", "approved"]);
        deliver(&bosun, case, case.labeled()).await;
        deliver(&bosun, case, case.labeled()).await;
        let merges = merge_calls(&bosun);
        assert_eq!(merges.len(), 1, "asked once per head: {merges:?}");
        assert!(
            merges[0].body.contains("merge_when_pipeline_succeeds=true")
                && merges[0].body.contains(&head),
            "{:?}",
            merges[0]
        );
        let item = bosun.forge.item(&pr);
        assert!(item.auto_merge);
        assert_eq!(item.state, bosun_plugins::ItemState::Open);
        assert_eq!(
            merge_status(&bosun, case)
                .and_then(|s| s.description)
                .as_deref(),
            Some("In merge pool. GitLab merges it when its pipeline succeeds.")
        );
        bosun.shutdown().await;
    }
}

/// Two ready PRs on one branch: each merges, once, one after the other.
#[tokio::test]
async fn two_ready_prs_on_one_branch_each_merge_once() {
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
            deliver(&bosun, case, case.labeled()).await;
            deliver(&bosun, other, other.labeled()).await;
            let merges = merge_calls(&bosun);
            assert_eq!(merges.len(), 2, "{:?}: {merges:?}", case.forge);
            assert!(merges[0].path.contains(&format!("/{}/merge", case.number)));
            assert!(merges[1].path.contains(&format!("/{}/merge", other.number)));
            for pr in [&first, &second] {
                assert_eq!(bosun.forge.item(pr).state, bosun_plugins::ItemState::Merged);
            }
            bosun.shutdown().await;
        }
    }
}

/// The forge refuses the merge for good (405: not mergeable): the PR's status says so, the
/// same head is not tried again, and a new head is.
#[tokio::test]
async fn a_refused_merge_is_said_and_that_head_is_not_tried_again() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = commands::setup(&bosun, case).await;
            bosun.forge.set_labels(&pr, &["lgtm", "approved"]);
            bosun.forge.fail_next(
                &format!("/{}/merge", case.number),
                1,
                Fault::Status {
                    status: 405,
                    message: "Pull Request is not mergeable".into(),
                },
            );
            deliver(&bosun, case, case.labeled()).await;
            deliver(&bosun, case, case.labeled()).await;
            assert_eq!(merge_calls(&bosun).len(), 1, "{:?}", case.forge);
            let said = merge_status(&bosun, case)
                .and_then(|s| s.description)
                .unwrap_or_default();
            assert!(
                said.starts_with("Not mergeable. The forge refused the merge:")
                    && said.contains("405"),
                "{said}"
            );
            bosun
                .forge
                .update_item(&pr, |it| it.head_sha = "beef".repeat(10));
            deliver(&bosun, case, case.pushed()).await;
            deliver(&bosun, case, case.labeled()).await;
            assert_eq!(merge_calls(&bosun).len(), 2, "the new head is tried");
            assert_eq!(
                bosun.forge.item(&pr).state,
                bosun_plugins::ItemState::Merged
            );
            bosun.shutdown().await;
        }
    }
}
