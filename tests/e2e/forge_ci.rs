//! The forges' own CI driven from comments, end to end on both databases: `/retest` re-runs
//! exactly the failed GitHub Actions jobs and retries the failed GitLab pipeline (once, even
//! when the forge's answer is lost); CI state is read from the forge when bosun heard none;
//! `/ok-to-test` on an untrusted PR approves the waiting Actions runs or creates an MR
//! pipeline; `/override` by an admin sets the status, by others is refused in Prow's words.

use crate::commands::{self, say};
use crate::support::*;
use bosun_plugins::{CiState, ForgeKind};
use fake_forge::access::{DEVELOPER, MAINTAINER};
use fake_forge::{CiJob, CiRun, CiRunKind, Fault};

fn run(kind: CiRunKind, name: &str, sha: &str, conclusion: &str, jobs: Vec<CiJob>) -> CiRun {
    CiRun {
        id: 0,
        kind,
        name: name.into(),
        sha: sha.into(),
        status: "completed".into(),
        conclusion: Some(conclusion.into()),
        attempt: 1,
        jobs,
    }
}

fn pipeline(mr: u64, sha: &str, status: &str, jobs: Vec<CiJob>) -> CiRun {
    CiRun {
        id: 0,
        kind: CiRunKind::Pipeline { mr: Some(mr) },
        name: String::new(),
        sha: sha.into(),
        status: status.into(),
        conclusion: None,
        attempt: 1,
        jobs,
    }
}

fn trigger_options(db: Db, extra: &str) -> Options {
    let mut o = Options::new(db);
    o.extra = format!(
        "[plugins.\"kubernetes\"]\nenabled = [\"trigger\", \"override\", \"skip\"]\n\
         [plugins.\"gitlab-org\"]\nenabled = [\"trigger\", \"override\", \"skip\"]\n\
         [plugins.\"Codertocat\"]\nenabled = [\"trigger\"]\n\
         [plugins.\"demoaccount2-commits-group\"]\nenabled = [\"trigger\"]\n{extra}"
    );
    o
}

fn job_attempts(bosun: &TestBosun, forge: ForgeKind, repo: &str, id: u64) -> Vec<(String, u32)> {
    bosun
        .forge
        .ci_runs(forge, repo)
        .into_iter()
        .find(|r| r.id == id)
        .expect("the run")
        .jobs
        .into_iter()
        .map(|j| (j.name, j.attempts))
        .collect()
}

/// bosun heard nothing of the head's CI (it was down): `/retest` reads it from GitHub (runs,
/// check runs, statuses), keeps it, re-runs only the failed jobs of the failed workflow run
/// and re-requests the other app's failed check, and leaves the passing run alone. GitHub
/// answers the re-run with a 429 (retried after `Retry-After`), then the answer is lost:
/// bosun checks, sees the run queued, and does not re-run it twice.
#[tokio::test]
async fn retest_reruns_exactly_the_failed_actions_jobs() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(trigger_options(db, "")).await;
        let case = commands::GITHUB;
        let pr = commands::setup(&bosun, case).await;
        let head = bosun.forge.item(&pr).head_sha;
        let repo = case.repo;
        let build = bosun.forge.add_ci_run(
            ForgeKind::GitHub,
            repo,
            run(
                CiRunKind::WorkflowRun,
                "build",
                &head,
                "success",
                vec![CiJob::github("compile", "success")],
            ),
        );
        let test = bosun.forge.add_ci_run(
            ForgeKind::GitHub,
            repo,
            run(
                CiRunKind::WorkflowRun,
                "test",
                &head,
                "failure",
                vec![
                    CiJob::github("unit", "success"),
                    CiJob::github("e2e", "failure"),
                ],
            ),
        );
        let lint = bosun.forge.add_ci_run(
            ForgeKind::GitHub,
            repo,
            run(
                CiRunKind::CheckRun {
                    app: "lint-bot".into(),
                },
                "lint",
                &head,
                "failure",
                vec![],
            ),
        );
        bosun.forge.fail_next(
            "rerun-failed-jobs",
            1,
            Fault::TooManyRequests {
                retry_after_secs: 1,
            },
        );
        bosun
            .forge
            .fail_next("rerun-failed-jobs", 1, Fault::LostResponse);
        bosun.forge.clear_requests();
        say(&bosun, case, "alice", "/retest").await;

        assert_eq!(
            job_attempts(&bosun, ForgeKind::GitHub, repo, test),
            vec![("unit".into(), 1), ("e2e".into(), 2)],
            "only the failed job ran again, once"
        );
        assert_eq!(
            job_attempts(&bosun, ForgeKind::GitHub, repo, build),
            vec![("compile".into(), 1)]
        );
        let rerun = format!("actions/runs/{test}/rerun-failed-jobs");
        assert_eq!(
            bosun.forge.count_requests("POST", &rerun),
            2,
            "the 429, then the call whose answer was lost; never a third"
        );
        assert_eq!(
            bosun
                .forge
                .count_requests("GET", &format!("actions/runs/{test}")),
            2,
            "checked before each repeat"
        );
        assert_eq!(
            bosun
                .forge
                .count_requests("POST", &format!("actions/runs/{build}/")),
            0
        );
        assert_eq!(
            bosun
                .forge
                .count_requests("POST", &format!("check-runs/{lint}/rerequest")),
            1
        );
        assert!(bosun.forge.unrouted_requests().is_empty());
        let kept = bosun
            .store
            .ci_contexts(ForgeKind::GitHub, repo, &head)
            .await
            .expect("contexts");
        let states: Vec<(&str, CiState)> =
            kept.iter().map(|c| (c.context.as_str(), c.state)).collect();
        assert_eq!(
            states,
            vec![
                ("build", CiState::Success),
                ("lint", CiState::Failure),
                ("test", CiState::Failure)
            ],
            "what the forge said is kept"
        );
        bosun.shutdown().await;
    }
}

/// A failed MR pipeline arrives as a Pipeline Hook; `/retest` retries that pipeline, through
/// a 500 (retried after checking it is not running again): its failed job runs again once,
/// the passed one does not.
#[tokio::test]
async fn retest_retries_the_failed_gitlab_pipeline() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(trigger_options(db, "")).await;
        let case = commands::GITLAB;
        let pr = commands::setup(&bosun, case).await;
        let head = bosun.forge.item(&pr).head_sha;
        let id = bosun.forge.add_ci_run(
            ForgeKind::GitLab,
            case.repo,
            pipeline(
                case.number,
                &head,
                "failed",
                vec![
                    CiJob::gitlab("build", "success"),
                    CiJob::gitlab("test", "failed"),
                ],
            ),
        );
        let hook = case.pipeline_hook(Some(id), &head, "failed");
        let (status, text) = bosun
            .post(ForgeKind::GitLab, "Pipeline Hook", "pl-1", &hook)
            .await;
        assert_eq!(status, 202, "{text}");
        bosun.run_until_idle().await;

        bosun
            .forge
            .fail_next(&format!("pipelines/{id}/retry"), 1, Fault::Status500);
        say(&bosun, case, "alice", "/retest").await;
        assert_eq!(
            job_attempts(&bosun, ForgeKind::GitLab, case.repo, id),
            vec![("build".into(), 1), ("test".into(), 2)]
        );
        assert_eq!(
            bosun
                .forge
                .count_requests("POST", &format!("pipelines/{id}/retry")),
            2,
            "the 500, then the retry that took"
        );
        assert_eq!(
            bosun
                .forge
                .count_requests("GET", &format!("pipelines/{id}")),
            1,
            "checked whether the pipeline runs again before retrying"
        );
        assert!(bosun.forge.unrouted_requests().is_empty());
        bosun.shutdown().await;
    }
}

/// An untrusted author's PR gets `needs-ok-to-test` and Prow's welcome; an untrusted
/// commenter cannot vouch for it; a collaborator's `/ok-to-test` swaps the labels and starts
/// CI: GitHub approves the Actions run waiting for approval, GitLab creates an MR pipeline.
#[tokio::test]
async fn ok_to_test_by_a_member_clears_the_label_and_starts_ci() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [crate::owners::GITHUB, crate::owners::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(trigger_options(
                db,
                "[settings.trigger.\"demoaccount2-commits-group\"]\nsystems = [\"gitlab_ci\"]\n",
            ))
            .await;
            let pr = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            bosun
                .forge
                .add_member(case.forge, case.repo, "alice", DEVELOPER);
            let head = bosun.forge.item(&pr).head_sha;
            let waiting = bosun.forge.add_ci_run(
                ForgeKind::GitHub,
                case.repo,
                run(
                    CiRunKind::WorkflowRun,
                    "CI",
                    &head,
                    "action_required",
                    vec![CiJob::github("test", "action_required")],
                ),
            );
            crate::owners::deliver(&bosun, case.forge, case.opened(case.number, "base")).await;
            assert_eq!(bosun.forge.labels(&pr), vec!["needs-ok-to-test"]);
            let comments = bosun.forge.comments(&pr);
            assert!(
                comments
                    .iter()
                    .any(|c| c.body.contains("Thanks for your PR.")),
                "{comments:?}"
            );

            crate::owners::deliver(&bosun, case.forge, case.comment("mallory", "/ok-to-test"))
                .await;
            assert!(
                bosun.forge.comments(&pr).iter().any(|c| c.body.contains(
                    "Cannot trigger testing until a trusted user reviews the PR and leaves an `/ok-to-test` message."
                )),
                "{:?}",
                case.forge
            );
            assert_eq!(bosun.forge.labels(&pr), vec!["needs-ok-to-test"]);

            crate::owners::deliver(&bosun, case.forge, case.comment("alice", "/ok-to-test")).await;
            assert_eq!(
                bosun.forge.labels(&pr),
                vec!["ok-to-test"],
                "{:?}",
                case.forge
            );
            match case.forge {
                ForgeKind::GitHub => {
                    assert_eq!(
                        bosun
                            .forge
                            .count_requests("POST", &format!("actions/runs/{waiting}/approve")),
                        1
                    );
                    let runs = bosun.forge.ci_runs(ForgeKind::GitHub, case.repo);
                    assert_eq!(runs[0].status, "queued", "approved: {runs:?}");
                }
                ForgeKind::GitLab => {
                    let created: Vec<CiRun> = bosun
                        .forge
                        .ci_runs(ForgeKind::GitLab, case.repo)
                        .into_iter()
                        .filter(|r| {
                            r.kind
                                == CiRunKind::Pipeline {
                                    mr: Some(case.number),
                                }
                        })
                        .collect();
                    assert_eq!(created.len(), 1, "one MR pipeline: {created:?}");
                    assert_eq!(created[0].sha, head);
                }
            }
            assert!(bosun.forge.unrouted_requests().is_empty());
            bosun.shutdown().await;
        }
    }
}

/// `/override` by a repository admin (GitHub `admin`, GitLab Maintainer) sets the failing
/// context to success "Overridden by"; by a collaborator it is refused in Prow's words and
/// sets nothing.
#[tokio::test]
async fn override_by_an_admin_sets_the_status_and_others_are_refused() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(trigger_options(db, "")).await;
            let pr = commands::setup(&bosun, case).await;
            bosun
                .forge
                .add_member(case.forge, case.repo, "boss", MAINTAINER);
            let head = bosun.forge.item(&pr).head_sha;
            let context = match case.forge {
                ForgeKind::GitHub => {
                    bosun.forge.update(|w| {
                        w.ensure_repo(ForgeKind::GitHub, case.repo).statuses.push(
                            fake_forge::Status {
                                sha: head.clone(),
                                state: "failure".into(),
                                context: "ci/foo".into(),
                                description: None,
                                target_url: None,
                            },
                        )
                    });
                    "ci/foo"
                }
                ForgeKind::GitLab => {
                    bosun.forge.add_ci_run(
                        ForgeKind::GitLab,
                        case.repo,
                        pipeline(case.number, &head, "failed", vec![]),
                    );
                    "gitlab-ci"
                }
            };
            let before = bosun.forge.statuses(case.forge, case.repo).len();
            say(&bosun, case, "alice", &format!("/override {context}")).await;
            assert!(
                bosun.forge.comments(&pr).iter().any(|c| c.body.contains(
                    "alice unauthorized: /override is restricted to Repo administrators."
                )),
                "{:?}",
                case.forge
            );
            assert_eq!(bosun.forge.statuses(case.forge, case.repo).len(), before);

            say(&bosun, case, "boss", &format!("/override {context}")).await;
            let statuses = bosun.forge.statuses(case.forge, case.repo);
            let last = statuses.last().expect("a status");
            assert_eq!(last.sha, head);
            assert_eq!(last.context, context);
            assert_eq!(last.state, "success");
            assert_eq!(last.description.as_deref(), Some("Overridden by boss"));
            assert!(
                bosun
                    .forge
                    .comments(&pr)
                    .iter()
                    .any(|c| c.body.contains("Overrode contexts on behalf of boss")),
                "{:?}",
                case.forge
            );
            bosun.shutdown().await;
        }
    }
}

/// One delivery's forge requests, split into reads (GET) and writes.
fn split(requests: Vec<String>) -> (Vec<String>, Vec<String>) {
    requests.into_iter().partition(|r| r.starts_with("GET "))
}

fn forge_requests(bosun: &TestBosun) -> Vec<String> {
    bosun
        .forge
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// What a member's `/retest` costs in API requests once bosun knows the failure from the CI
/// system's event, on GitHub Actions, GitLab CI and Drone: the numbers in BENCHMARKS.md
/// (`cargo test --test e2e retest_costs -- --nocapture` prints them). The second `/retest`
/// of a process is measured (the first also learns the bot's login).
#[tokio::test]
async fn retest_costs_at_most_three_reads_and_one_write_per_rerun() {
    use crate::ci::{DRONE_SECRET, constructed, now_http, post_drone};
    use crate::fake_drone::FakeDrone;
    for db in databases() {
        let _combination = Combination::new(db);
        let mut table = Vec::new();

        // GitHub Actions: the failed run arrives as a workflow_run event.
        let bosun = spawn_bosun(trigger_options(db, "")).await;
        let case = commands::GITHUB;
        let pr = commands::setup(&bosun, case).await;
        let mut event: serde_json::Value =
            serde_json::from_slice(&constructed("github/workflow_run/completed.failure.json"))
                .expect("json");
        let head = bosun.forge.item(&pr).head_sha;
        let id = bosun.forge.add_ci_run(
            ForgeKind::GitHub,
            case.repo,
            run(
                CiRunKind::WorkflowRun,
                "CI",
                &head,
                "failure",
                vec![CiJob::github("unit", "failure")],
            ),
        );
        event["workflow_run"]["id"] = id.into();
        event["workflow_run"]["head_sha"] = head.clone().into();
        let event = serde_json::to_vec(&event).expect("json");
        let (status, text) = bosun
            .post(ForgeKind::GitHub, "workflow_run", "wr-1", &event)
            .await;
        assert_eq!(status, 202, "{text}");
        bosun.run_until_idle().await;
        for round in 0..2 {
            bosun.forge.update(|w| {
                if let Some(r) = w
                    .github
                    .repo_mut(case.repo)
                    .and_then(|r| r.ci_runs.iter_mut().find(|r| r.id == id))
                {
                    r.status = "completed".into();
                    r.conclusion = Some("failure".into());
                    for j in &mut r.jobs {
                        j.status = "completed".into();
                        j.conclusion = Some("failure".into());
                    }
                }
            });
            bosun.forge.clear_requests();
            say(&bosun, case, "alice", "/retest").await;
            if round == 1 {
                table.push(("GitHub Actions", forge_requests(&bosun), Vec::new()));
            }
        }
        assert_eq!(
            job_attempts(&bosun, ForgeKind::GitHub, case.repo, id)[0].1,
            3
        );
        bosun.shutdown().await;

        // GitLab CI: the failed MR pipeline arrives as a Pipeline Hook.
        let bosun = spawn_bosun(trigger_options(db, "")).await;
        let case = commands::GITLAB;
        let pr = commands::setup(&bosun, case).await;
        let head = bosun.forge.item(&pr).head_sha;
        let id = bosun.forge.add_ci_run(
            ForgeKind::GitLab,
            case.repo,
            pipeline(
                case.number,
                &head,
                "failed",
                vec![CiJob::gitlab("test", "failed")],
            ),
        );
        let hook = case.pipeline_hook(Some(id), &head, "failed");
        let (status, text) = bosun
            .post(ForgeKind::GitLab, "Pipeline Hook", "pl-1", &hook)
            .await;
        assert_eq!(status, 202, "{text}");
        bosun.run_until_idle().await;
        for round in 0..2 {
            bosun.forge.update(|w| {
                if let Some(r) = w
                    .gitlab
                    .repo_mut(case.repo)
                    .and_then(|r| r.ci_runs.iter_mut().find(|r| r.id == id))
                {
                    r.status = "failed".into();
                    for j in &mut r.jobs {
                        j.status = "failed".into();
                    }
                }
            });
            bosun.forge.clear_requests();
            say(&bosun, case, "alice", "/retest").await;
            if round == 1 {
                table.push(("GitLab CI", forge_requests(&bosun), Vec::new()));
            }
        }
        assert_eq!(
            job_attempts(&bosun, ForgeKind::GitLab, case.repo, id)[0].1,
            3
        );
        bosun.shutdown().await;

        // Drone: the failed build arrives signed; the restart goes to Drone's API.
        let drone = FakeDrone::start("drone-token");
        let mut o = trigger_options(db, "");
        o.extra.push_str(&format!(
            "[drone]\nurl = \"{}\"\nforge = \"gitlab\"\nwebhook_secret_env = \"TEST_DRONE_SECRET\"\ntoken_env = \"TEST_DRONE_TOKEN\"\n",
            drone.url()
        ));
        o.env
            .push(("TEST_DRONE_SECRET".into(), DRONE_SECRET.into()));
        o.env
            .push(("TEST_DRONE_TOKEN".into(), "drone-token".into()));
        let bosun = spawn_bosun(o).await;
        let pr = commands::setup(&bosun, case).await;
        let head = bosun.forge.item(&pr).head_sha;
        let mut failed: serde_json::Value =
            serde_json::from_slice(&constructed("drone/build.updated.pr.failure.json"))
                .expect("json");
        failed["build"]["after"] = head.clone().into();
        let failed = serde_json::to_vec(&failed).expect("json");
        assert_eq!(
            post_drone(&bosun, &failed, Some(DRONE_SECRET), &now_http()).await,
            202
        );
        bosun.run_until_idle().await;
        for round in 0..2 {
            bosun.forge.clear_requests();
            let before = drone.requests().len();
            say(&bosun, case, "alice", "/retest").await;
            if round == 1 {
                let drone_calls: Vec<String> = drone.requests().into_iter().skip(before).collect();
                table.push(("Drone", forge_requests(&bosun), drone_calls));
            }
        }
        bosun.shutdown().await;

        println!("| system | reads | writes | requests |\n|---|---|---|---|");
        for (system, forge, ci) in &table {
            let (mut reads, mut writes) = split(forge.clone());
            let (ci_reads, ci_writes) = split(ci.clone());
            reads.extend(ci_reads);
            writes.extend(ci_writes);
            println!(
                "| {system} | {} | {} | {} |",
                reads.len(),
                writes.len(),
                reads
                    .iter()
                    .chain(writes.iter())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            assert!(reads.len() <= 3, "{system}: {reads:?}");
            assert_eq!(writes.len(), 1, "{system}: {writes:?}");
        }
    }
}

/// `/test e2e.yml` dispatches a configured workflow on the PR's branch: GitHub runs it on the
/// PR's head.
#[tokio::test]
async fn test_dispatches_a_configured_workflow_on_the_pr_branch() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(trigger_options(
            db,
            "[settings.trigger.\"kubernetes\"]\nworkflows = [\"e2e.yml\"]\n",
        ))
        .await;
        let case = commands::GITHUB;
        let pr = commands::setup(&bosun, case).await;
        let item = bosun.forge.item(&pr);
        say(&bosun, case, "alice", "/test e2e.yml").await;
        let runs = bosun.forge.ci_runs(ForgeKind::GitHub, case.repo);
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].name, "e2e.yml");
        assert_eq!(runs[0].sha, item.head_sha);
        let dispatches = bosun
            .forge
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/actions/workflows/e2e.yml/dispatches"))
            .count();
        assert_eq!(dispatches, 1);
        bosun.shutdown().await;
    }
}

/// `/skip` sets the optional contexts that have not passed to success "Skipped" and leaves the
/// required ones alone, on both forges (here read from the forge: bosun heard no CI events).
#[tokio::test]
async fn skip_marks_only_optional_contexts_skipped() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [commands::GITHUB, commands::GITLAB] {
            let _combination = Combination::new(case.forge);
            let org = case.repo.split('/').next().expect("org");
            let optional = match case.forge {
                ForgeKind::GitHub => "lint",
                ForgeKind::GitLab => "gitlab-ci",
            };
            let bosun = spawn_bosun(trigger_options(
                db,
                &format!("[settings.trigger.\"{org}\"]\noptional = [\"{optional}\"]\n"),
            ))
            .await;
            let pr = commands::setup(&bosun, case).await;
            let head = bosun.forge.item(&pr).head_sha;
            match case.forge {
                ForgeKind::GitHub => bosun.forge.update(|w| {
                    let repo = w.ensure_repo(ForgeKind::GitHub, case.repo);
                    for context in ["lint", "ci/required"] {
                        repo.statuses.push(fake_forge::Status {
                            sha: head.clone(),
                            state: "failure".into(),
                            context: context.into(),
                            description: None,
                            target_url: None,
                        });
                    }
                }),
                ForgeKind::GitLab => {
                    bosun.forge.add_ci_run(
                        ForgeKind::GitLab,
                        case.repo,
                        pipeline(case.number, &head, "failed", vec![]),
                    );
                }
            }
            let before = bosun.forge.statuses(case.forge, case.repo).len();
            say(&bosun, case, "alice", "/skip").await;
            let statuses = bosun.forge.statuses(case.forge, case.repo);
            let new: Vec<&fake_forge::Status> = statuses.iter().skip(before).collect();
            assert_eq!(new.len(), 1, "{:?}: {new:?}", case.forge);
            assert_eq!(new[0].context, optional);
            assert_eq!(new[0].state, "success");
            assert_eq!(new[0].description.as_deref(), Some("Skipped"));
            assert_eq!(new[0].sha, head);
            bosun.shutdown().await;
        }
    }
}
