//! `trigger`: CI from comments, with Prow's trust rules (Prow §3.11).
//!
//! * `/retest` re-runs the failed (failure or error) contexts on the PR's head, only their
//!   failed jobs where the CI system can (GitHub Actions); `/retest-required` leaves out the
//!   contexts listed as `optional`; `/test all` runs every context again, and starts CI on the
//!   configured `systems` that have not reported yet; `/test <context>` runs one; `/test ?`
//!   lists what can be run.
//! * Trust: the bot, org members, repository collaborators (unless `only_org_members`), and
//!   `trusted_apps`. A PR is trusted when its author is, or it has `ok-to-test`. On an
//!   untrusted PR only trusted users may trigger, and others get Prow's reply.
//! * A PR opened by an untrusted author gets `needs-ok-to-test` and Prow's welcome;
//!   `/ok-to-test` by a trusted user swaps it for `ok-to-test` and starts CI;
//!   `/ok-to-test cancel` swaps back.
//!
//! What "run" means per system: GitHub Actions re-runs a workflow run (its failed jobs for
//! `/retest`), and `/ok-to-test` approves the runs GitHub holds for a maintainer's approval
//! (a first-time contributor's fork PR); another app's check run is re-requested; GitLab CI
//! retries the pipeline or creates a new MR pipeline; Drone restarts the build or creates
//! one for the branch. When bosun has heard no CI events for the head (it was down, or the
//! PR predates it), it reads the state from the forge and keeps it.

use crate::command::command_text;
use crate::reply::format_response;
use crate::{
    Action, CiContext, CiRun, CiSystem, CommandHelp, CommentAction, CommentEvent, Context, Event,
    Fact, ForgeKind, ItemState, Login, Plugin, PluginError, PluginHelp, PrAction, PullRequestEvent,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

/// The label of a PR whose untrusted author waits for `/ok-to-test`.
pub const NEEDS_OK_TO_TEST: &str = "needs-ok-to-test";
/// The label of a PR a trusted user vouched for.
pub const OK_TO_TEST: &str = "ok-to-test";

static TEST_ALL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/test all,?($|\s.*)").expect("static regex"));
static RETEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/retest\s*$").expect("static regex"));
static RETEST_REQUIRED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/retest-required\s*$").expect("static regex"));
static OK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/ok-to-test\s*$").expect("static regex"));
static OK_CANCEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/ok-to-test\s+cancel\s*$").expect("static regex"));
static TEST_HELP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/test[ \t]*\?\s*$").expect("static regex"));
static TEST_BARE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/test\s*$").expect("static regex"));
static RETEST_ARGS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/retest[ \t]+\S+").expect("static regex"));
static TEST_NAMED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/test[ \t]+(\S.*)$").expect("static regex"));

/// `[settings.trigger."org"]`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TriggerSettings {
    /// GitHub Apps whose PRs are trusted (their login without `[bot]`).
    pub trusted_apps: Vec<String>,
    /// Only org members are trusted, not every collaborator.
    pub only_org_members: bool,
    /// `/ok-to-test` does not exist here: untrusted authors' PRs are tested only by trusted
    /// users' `/test`.
    pub ignore_ok_to_test: bool,
    /// The CI systems that run this repository's PRs, started afresh by `/test all` and
    /// `/ok-to-test` when they have not reported on the head yet (`gitlab_ci`, `drone`).
    pub systems: Vec<CiSystem>,
    /// Contexts `/retest-required` leaves out.
    pub optional: Vec<String>,
    /// GitHub Actions workflows with a `workflow_dispatch` trigger (file names, `e2e.yml`):
    /// `/test e2e.yml` runs one on the PR's branch (in this repository, so for PRs from its
    /// own branches), and `/test ?` lists them.
    pub workflows: Vec<String>,
}

/// What a comment asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerCommand {
    OkToTest,
    OkToTestCancel,
    Retest,
    RetestRequired,
    TestAll,
    /// `/test a b`: the named contexts.
    Test(Vec<String>),
    /// `/test ?`, or a misuse answered with the list; the note says which.
    Help(Option<&'static str>),
}

/// The commands of a comment, Prow's regexes in Prow's order of precedence.
pub fn parse(text: &str) -> Vec<TriggerCommand> {
    let mut out = Vec::new();
    if OK_CANCEL.is_match(text) {
        out.push(TriggerCommand::OkToTestCancel);
    } else if OK.is_match(text) {
        out.push(TriggerCommand::OkToTest);
    }
    if TEST_HELP.is_match(text) {
        out.push(TriggerCommand::Help(None));
    } else if TEST_BARE.is_match(text) {
        out.push(TriggerCommand::Help(Some(
            "The `/test` command needs one or more targets.",
        )));
    } else if RETEST_ARGS.is_match(text) {
        out.push(TriggerCommand::Help(Some(
            "The `/retest` command does not accept any targets.",
        )));
    }
    if TEST_ALL.is_match(text) {
        out.push(TriggerCommand::TestAll);
    } else if let Some(m) = TEST_NAMED.captures(text) {
        let names: Vec<String> = m[1]
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|n| !n.is_empty() && *n != "?")
            .map(str::to_string)
            .collect();
        if !names.is_empty() {
            out.push(TriggerCommand::Test(names));
        }
    }
    if RETEST_REQUIRED.is_match(text) {
        out.push(TriggerCommand::RetestRequired);
    } else if RETEST.is_match(text) {
        out.push(TriggerCommand::Retest);
    }
    out
}

/// Prow's `TrustedUser`: the bot, an org member, a collaborator (unless only org members
/// count), or a trusted app.
pub async fn trusted(
    cx: &Context<'_>,
    settings: &TriggerSettings,
    repo: &crate::RepoPath,
    user: &Login,
) -> Result<bool, PluginError> {
    if user
        .without_bot_suffix()
        .eq_ignore_ascii_case(cx.bot.without_bot_suffix())
    {
        return Ok(true);
    }
    if let Some(app) = user.as_str().strip_suffix("[bot]")
        && settings
            .trusted_apps
            .iter()
            .any(|a| a.eq_ignore_ascii_case(app))
    {
        return Ok(true);
    }
    if cx.forge.is_org_member(repo.owner(), user).await? {
        return Ok(true);
    }
    Ok(!settings.only_org_members && cx.forge.is_collaborator(repo, user).await?)
}

/// The runs that re-run `contexts`, and for `/test all` new runs on systems not yet heard of.
fn runs(item: &crate::ItemRef, contexts: &[&CiContext], failed_only: bool) -> Vec<Action> {
    contexts
        .iter()
        .filter_map(|c| {
            c.run_id.as_ref().map(|run_id| Action::RunCi {
                item: item.clone(),
                system: c.system,
                context: c.context.clone(),
                run: CiRun::Rerun {
                    run_id: run_id.clone(),
                    failed_only,
                },
            })
        })
        .collect()
}

fn starts(
    item: &crate::ItemRef,
    settings: &TriggerSettings,
    heard: &[CiContext],
    head_ref: &str,
    sha: &str,
) -> Vec<Action> {
    settings
        .systems
        .iter()
        .filter(|s| !heard.iter().any(|c| c.system == **s))
        .map(|system| start(item, *system, head_ref, sha))
        .collect()
}

/// Starts CI of `system` on the head: a new pipeline or build, or (GitHub Actions) the
/// approval of the runs that wait for one.
fn start(item: &crate::ItemRef, system: CiSystem, head_ref: &str, sha: &str) -> Action {
    Action::RunCi {
        item: item.clone(),
        system,
        context: system.as_str().to_string(),
        run: CiRun::Start {
            git_ref: head_ref.to_string(),
            sha: sha.to_string(),
        },
    }
}

fn help_text(
    note: Option<&str>,
    contexts: &[CiContext],
    workflows: &[String],
    item: &crate::ItemRef,
) -> String {
    let mut out = String::new();
    if let Some(note) = note {
        out.push_str(note);
        out.push_str("\n\n");
    }
    let dispatchable: Vec<&String> = workflows
        .iter()
        .filter(|w| !contexts.iter().any(|c| &c.context == *w))
        .collect();
    if !dispatchable.is_empty() {
        out.push_str("The following workflows can be dispatched on this PR's branch:\n");
        for w in &dispatchable {
            out.push_str(&format!("* `/test {w}`\n"));
        }
        out.push('\n');
    }
    if contexts.is_empty() {
        out.push_str(&format!(
            "No CI contexts have reported on {item} yet: `/test all` starts the configured CI."
        ));
        return out;
    }
    out.push_str("The following commands are available to trigger jobs:\n");
    for c in contexts {
        out.push_str(&format!("* `/test {}`\n", c.context));
    }
    out.push_str("\nUse `/test all` to run all jobs.");
    out
}

/// Prow's welcome for an untrusted author's PR.
pub fn welcome(author: &Login, org: &str, forge: ForgeKind, help_url: &str) -> String {
    let member = match forge {
        ForgeKind::GitHub => format!("[{org}](https://github.com/orgs/{org}/people) member"),
        ForgeKind::GitLab => format!("{org} group member"),
    };
    format!(
        "Hi @{author}. Thanks for your PR.\n\nI'm waiting for a {member} to verify that this patch is reasonable to test. If it is, they should reply with `/ok-to-test` on its own line. Until that is done, I will not automatically test new commits in this PR, but the usual testing commands by org members will still work. Regular contributors should join the org to skip this step.\n\nOnce the patch is verified, the new status will be reflected by the `{OK_TO_TEST}` label.\n\nI understand the commands that are listed [here]({help_url})."
    )
}

/// The trigger plugin.
pub struct Trigger;

impl Trigger {
    async fn on_comment(
        &self,
        c: &CommentEvent,
        cx: &Context<'_>,
        settings: &TriggerSettings,
    ) -> Result<Vec<Action>, PluginError> {
        if !c.item.is_pr() || c.item.state != ItemState::Open || c.action != CommentAction::Created
        {
            return Ok(vec![]);
        }
        let commands = parse(&command_text(c));
        if commands.is_empty() {
            return Ok(vec![]);
        }
        let item = &c.item.reference;
        let reply = |text: &str| Action::Comment {
            item: item.clone(),
            body: format_response(&c.author, text, &c.body, &c.html_url, cx.help_url),
        };
        let commenter_trusted = trusted(cx, settings, &item.repo, &c.author).await?;
        // The labels (and the author's trust) matter only for `/ok-to-test` and for an
        // untrusted commenter: a member's `/retest` reads neither.
        let about_ok = commands
            .iter()
            .any(|c| matches!(c, TriggerCommand::OkToTest | TriggerCommand::OkToTestCancel));
        let labels = if about_ok || !commenter_trusted {
            cx.forge.labels(item).await?
        } else {
            Vec::new()
        };
        let has = |l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
        if !commenter_trusted
            && !has(OK_TO_TEST)
            && !trusted(cx, settings, &item.repo, &c.item.author).await?
        {
            let text = if settings.ignore_ok_to_test {
                "PRs from untrusted users cannot be marked as trusted with `/ok-to-test` in this repo meaning untrusted PR authors can never trigger tests themselves. Collaborators can still trigger tests on the PR using `/test`."
            } else {
                "Cannot trigger testing until a trusted user reviews the PR and leaves an `/ok-to-test` message."
            };
            return Ok(vec![reply(text)]);
        }
        let pr = cx.forge.pull_request(item).await?;
        let mut actions = Vec::new();
        let workflows: &[String] = match item.forge {
            ForgeKind::GitHub => &settings.workflows,
            ForgeKind::GitLab => &[],
        };
        let mut heard = cx
            .history
            .ci_contexts(item.forge, &item.repo, &pr.head_sha)
            .await;
        if heard.is_empty() {
            // bosun was down, or the PR predates it: ask the forge, and keep what it says.
            heard = cx.forge.ci_contexts(item, &pr.head_sha).await?;
            if !heard.is_empty() {
                actions.push(Action::Remember {
                    item: item.clone(),
                    fact: Fact::Ci {
                        sha: pr.head_sha.clone(),
                        contexts: heard.clone(),
                    },
                });
            }
        }
        for cmd in commands {
            match cmd {
                TriggerCommand::OkToTestCancel if !commenter_trusted => {
                    actions.push(reply("Only trusted users can revoke `/ok-to-test`."));
                }
                TriggerCommand::OkToTestCancel => {
                    if has(OK_TO_TEST) {
                        actions.push(Action::RemoveLabel {
                            item: item.clone(),
                            label: OK_TO_TEST.into(),
                        });
                    }
                    if !has(NEEDS_OK_TO_TEST) {
                        actions.push(Action::AddLabel {
                            item: item.clone(),
                            label: NEEDS_OK_TO_TEST.into(),
                        });
                    }
                }
                TriggerCommand::OkToTest if commenter_trusted && !settings.ignore_ok_to_test => {
                    if !has(OK_TO_TEST) {
                        actions.push(Action::AddLabel {
                            item: item.clone(),
                            label: OK_TO_TEST.into(),
                        });
                    }
                    if has(NEEDS_OK_TO_TEST) {
                        actions.push(Action::RemoveLabel {
                            item: item.clone(),
                            label: NEEDS_OK_TO_TEST.into(),
                        });
                    }
                    // GitHub holds a fork's Actions runs for approval: approving them is
                    // what runs them, so they are not re-run.
                    let waiting: Vec<&CiContext> = heard
                        .iter()
                        .filter(|c| c.state.is_final() && c.system != CiSystem::GithubActions)
                        .collect();
                    actions.extend(runs(item, &waiting, false));
                    let mut started = starts(item, settings, &heard, &pr.head_ref, &pr.head_sha);
                    let approves = |a: &Action| {
                        matches!(
                            a,
                            Action::RunCi {
                                system: CiSystem::GithubActions,
                                ..
                            }
                        )
                    };
                    if item.forge == ForgeKind::GitHub && !started.iter().any(approves) {
                        started.push(start(
                            item,
                            CiSystem::GithubActions,
                            &pr.head_ref,
                            &pr.head_sha,
                        ));
                    }
                    actions.extend(started);
                }
                TriggerCommand::OkToTest => {}
                TriggerCommand::Retest | TriggerCommand::RetestRequired => {
                    let required = cmd == TriggerCommand::RetestRequired;
                    let failed: Vec<&CiContext> = heard
                        .iter()
                        .filter(|c| c.state.is_failed())
                        .filter(|c| !required || !settings.optional.contains(&c.context))
                        .collect();
                    actions.extend(runs(item, &failed, true));
                }
                TriggerCommand::TestAll => {
                    let all: Vec<&CiContext> =
                        heard.iter().filter(|c| c.state.is_final()).collect();
                    let mut run = runs(item, &all, false);
                    run.extend(starts(item, settings, &heard, &pr.head_ref, &pr.head_sha));
                    if run.is_empty() {
                        actions.push(reply(&help_text(
                            Some("No jobs can be run with `/test all`."),
                            &heard,
                            workflows,
                            item,
                        )));
                    }
                    actions.extend(run);
                }
                TriggerCommand::Test(names) => {
                    let named: Vec<&CiContext> = heard
                        .iter()
                        .filter(|c| names.contains(&c.context))
                        .collect();
                    let dispatched: Vec<&String> = names
                        .iter()
                        .filter(|n| !named.iter().any(|c| &c.context == *n))
                        .filter(|n| item.forge == ForgeKind::GitHub && workflows.contains(n))
                        .collect();
                    if named.len() + dispatched.len() < names.len() {
                        actions.push(reply(&help_text(
                            Some("The specified target(s) for `/test` were not found."),
                            &heard,
                            workflows,
                            item,
                        )));
                    }
                    actions.extend(runs(item, &named, false));
                    actions.extend(dispatched.into_iter().map(|workflow| Action::RunCi {
                        item: item.clone(),
                        system: CiSystem::GithubActions,
                        context: workflow.clone(),
                        run: CiRun::Dispatch {
                            workflow: workflow.clone(),
                            git_ref: pr.head_ref.clone(),
                        },
                    }));
                }
                TriggerCommand::Help(note) => {
                    actions.push(reply(&help_text(note, &heard, workflows, item)));
                }
            }
        }
        Ok(actions)
    }

    async fn on_pr(
        &self,
        p: &PullRequestEvent,
        cx: &Context<'_>,
        settings: &TriggerSettings,
    ) -> Result<Vec<Action>, PluginError> {
        if p.action != PrAction::Opened || settings.ignore_ok_to_test {
            return Ok(vec![]);
        }
        let item = &p.pr.reference;
        if p.pr.has_label(OK_TO_TEST) || trusted(cx, settings, &item.repo, &p.pr.author).await? {
            return Ok(vec![]);
        }
        let mut actions = vec![Action::Comment {
            item: item.clone(),
            body: welcome(&p.pr.author, item.repo.owner(), item.forge, cx.help_url),
        }];
        if !p.pr.has_label(NEEDS_OK_TO_TEST) {
            actions.push(Action::AddLabel {
                item: item.clone(),
                label: NEEDS_OK_TO_TEST.into(),
            });
        }
        Ok(actions)
    }
}

#[async_trait]
impl Plugin for Trigger {
    fn name(&self) -> &'static str {
        "trigger"
    }

    fn help(&self) -> PluginHelp {
        let both = || vec![ForgeKind::GitHub, ForgeKind::GitLab];
        PluginHelp {
            description: "Runs CI from comments (GitHub Actions, GitLab CI, Drone), and holds back CI on pull requests from untrusted authors until a trusted user says `/ok-to-test`.",
            commands: vec![
                CommandHelp {
                    usage: "/retest",
                    description: "Re-runs the failed CI contexts on the head (only their failed jobs where the CI can).",
                    examples: vec!["/retest"],
                    who_can_use: "Anyone on a trusted PR; trusted users on others",
                    forges: both(),
                },
                CommandHelp {
                    usage: "/retest-required",
                    description: "As /retest, leaving out the contexts configured as optional.",
                    examples: vec!["/retest-required"],
                    who_can_use: "Anyone on a trusted PR; trusted users on others",
                    forges: both(),
                },
                CommandHelp {
                    usage: "/test (all|<context>|?)",
                    description: "Runs every CI context again (and starts configured CI that has not reported), one context, or lists them.",
                    examples: vec!["/test all", "/test ci/unit", "/test ?"],
                    who_can_use: "Anyone on a trusted PR; trusted users on others",
                    forges: both(),
                },
                CommandHelp {
                    usage: "/ok-to-test [cancel]",
                    description: "Marks a PR from an untrusted author as safe to test (`ok-to-test`) and starts its CI; cancel takes it back.",
                    examples: vec!["/ok-to-test", "/ok-to-test cancel"],
                    who_can_use: "Org members and repository collaborators (trusted users)",
                    forges: both(),
                },
            ],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<TriggerSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let settings: TriggerSettings = cx.settings()?;
        match event {
            Event::Comment(c) => self.on_comment(c, cx, &settings).await,
            Event::PullRequest(p) => self.on_pr(p, cx, &settings).await,
            _ => Ok(vec![]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr, pr_event};
    use crate::{CiState, CiSystem};

    fn context(name: &str, state: CiState, system: CiSystem, run: &str) -> CiContext {
        CiContext {
            context: name.into(),
            system,
            state,
            url: None,
            run_id: Some(run.into()),
        }
    }

    fn reply_of(actions: &[Action]) -> Option<&str> {
        actions.iter().find_map(|a| match a {
            Action::Comment { body, .. } => Some(body.as_str()),
            _ => None,
        })
    }

    #[test]
    fn prow_regexes() {
        assert_eq!(parse("/retest"), vec![TriggerCommand::Retest]);
        assert_eq!(
            parse("/retest-required"),
            vec![TriggerCommand::RetestRequired]
        );
        assert_eq!(parse("/test all"), vec![TriggerCommand::TestAll]);
        assert_eq!(
            parse("/test unit, lint"),
            vec![TriggerCommand::Test(vec!["unit".into(), "lint".into()])]
        );
        assert_eq!(parse("/test ?"), vec![TriggerCommand::Help(None)]);
        assert!(matches!(parse("/test")[0], TriggerCommand::Help(Some(_))));
        assert!(matches!(
            parse("/retest unit")[0],
            TriggerCommand::Help(Some(_))
        ));
        assert_eq!(parse("/ok-to-test"), vec![TriggerCommand::OkToTest]);
        assert_eq!(
            parse("/ok-to-test cancel"),
            vec![TriggerCommand::OkToTestCancel]
        );
        assert!(parse("please /retest").is_empty());
        assert!(
            parse("/Retest").is_empty(),
            "Prow's trigger regexes are case-sensitive"
        );
    }

    /// With nothing heard for the head (bosun was down), `/retest` asks the forge, keeps
    /// what it said, and re-runs the failed runs it reported.
    #[tokio::test]
    async fn retest_reads_ci_from_the_forge_when_nothing_was_heard() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice", "pr-author"]);
        forge.with(|s| {
            s.forge_ci = vec![
                context("build", CiState::Success, CiSystem::GithubActions, "1"),
                context("test", CiState::Failure, CiSystem::GithubActions, "2"),
            ]
        });
        let actions = forge
            .run(&Trigger, &comment_on_pr("alice", "/retest"))
            .await
            .expect("handled");
        assert!(
            actions.iter().any(|a| matches!(a,
                Action::Remember { fact: Fact::Ci { sha, contexts }, .. }
                    if sha == "head0" && contexts.len() == 2)),
            "{actions:?}"
        );
        let reruns: Vec<&CiRun> = actions
            .iter()
            .filter_map(|a| match a {
                Action::RunCi { run, .. } => Some(run),
                _ => None,
            })
            .collect();
        assert_eq!(
            reruns,
            vec![&CiRun::Rerun {
                run_id: "2".into(),
                failed_only: true
            }]
        );
    }

    /// `/test <workflow>` dispatches a configured workflow on the PR's branch; `/test ?` lists
    /// it; an unknown name is still "not found".
    #[tokio::test]
    async fn test_dispatches_configured_workflows() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice", "pr-author"]);
        let s = serde_json::json!({"workflows": ["e2e.yml"]});
        let actions = forge
            .run_with(&Trigger, &comment_on_pr("alice", "/test e2e.yml"), &s)
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![Action::RunCi {
                item: forge.pr_ref(),
                system: CiSystem::GithubActions,
                context: "e2e.yml".into(),
                run: CiRun::Dispatch {
                    workflow: "e2e.yml".into(),
                    git_ref: "feature".into()
                },
            }]
        );
        let help = forge
            .run_with(&Trigger, &comment_on_pr("alice", "/test ?"), &s)
            .await
            .expect("handled");
        assert!(reply_of(&help).is_some_and(|r| r.contains("* `/test e2e.yml`")));
        let unknown = forge
            .run_with(&Trigger, &comment_on_pr("alice", "/test nope.yml"), &s)
            .await
            .expect("handled");
        assert!(
            reply_of(&unknown)
                .is_some_and(|r| r.contains("The specified target(s) for `/test` were not found."))
        );
        assert!(!unknown.iter().any(|a| matches!(a, Action::RunCi { .. })));
    }

    /// `/retest` re-runs exactly the failed contexts, their failed jobs only.
    #[tokio::test]
    async fn retest_reruns_the_failed_contexts() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice", "pr-author"]);
        forge.with(|s| {
            s.ci = vec![
                context("build", CiState::Success, CiSystem::GithubActions, "1"),
                context("test", CiState::Failure, CiSystem::GithubActions, "2"),
                context(
                    "continuous-integration/drone/pr",
                    CiState::Error,
                    CiSystem::Drone,
                    "101",
                ),
            ]
        });
        let actions = forge
            .run(&Trigger, &comment_on_pr("alice", "/retest"))
            .await
            .expect("handled");
        let runs: Vec<(&str, &CiRun)> = actions
            .iter()
            .filter_map(|a| match a {
                Action::RunCi { context, run, .. } => Some((context.as_str(), run)),
                _ => None,
            })
            .collect();
        assert_eq!(runs.len(), 2, "{actions:?}");
        assert_eq!(
            runs[0],
            (
                "test",
                &CiRun::Rerun {
                    run_id: "2".into(),
                    failed_only: true
                }
            )
        );
        assert_eq!(runs[1].0, "continuous-integration/drone/pr");
        let s = serde_json::json!({"optional": ["test"]});
        let required = forge
            .run_with(&Trigger, &comment_on_pr("alice", "/retest-required"), &s)
            .await
            .expect("handled");
        assert_eq!(
            required.len(),
            1,
            "the optional context is left out: {required:?}"
        );
    }

    /// An untrusted author's PR: a welcome and `needs-ok-to-test`; an untrusted commenter gets
    /// Prow's refusal; a trusted `/ok-to-test` swaps the labels and starts the configured CI.
    #[tokio::test]
    async fn ok_to_test_for_untrusted_authors() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        let opened = forge
            .run(&Trigger, &pr_event(PrAction::Opened))
            .await
            .expect("handled");
        assert!(
            reply_of(&opened).is_some_and(|b| b.starts_with("Hi @pr-author. Thanks for your PR."))
        );
        assert!(opened.contains(&Action::AddLabel {
            item: forge.pr_ref(),
            label: NEEDS_OK_TO_TEST.into()
        }));

        forge.set_labels(&[NEEDS_OK_TO_TEST]);
        let refused = forge
            .run(&Trigger, &comment_on_pr("mallory", "/test all"))
            .await
            .expect("handled");
        assert!(reply_of(&refused).is_some_and(|b| b.contains("Cannot trigger testing until a trusted user reviews the PR and leaves an `/ok-to-test` message.")));
        assert_eq!(refused.len(), 1);

        let s = serde_json::json!({"systems": ["drone"]});
        let ok = forge
            .run_with(&Trigger, &comment_on_pr("alice", "/ok-to-test"), &s)
            .await
            .expect("handled");
        assert!(ok.contains(&Action::AddLabel {
            item: forge.pr_ref(),
            label: OK_TO_TEST.into()
        }));
        assert!(ok.contains(&Action::RemoveLabel {
            item: forge.pr_ref(),
            label: NEEDS_OK_TO_TEST.into()
        }));
        assert!(ok.iter().any(|a| matches!(a, Action::RunCi { system: CiSystem::Drone, run: CiRun::Start { git_ref, sha }, .. } if git_ref == "feature" && sha == "head0")), "{ok:?}");

        forge.set_labels(&[OK_TO_TEST]);
        let cancel = forge
            .run(&Trigger, &comment_on_pr("mallory", "/ok-to-test cancel"))
            .await
            .expect("handled");
        assert!(
            reply_of(&cancel)
                .is_some_and(|b| b.contains("Only trusted users can revoke `/ok-to-test`.")),
            "{cancel:?}"
        );
    }

    #[tokio::test]
    async fn test_with_unknown_targets_lists_what_can_run() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice", "pr-author"]);
        forge.with(|s| s.ci = vec![context("unit", CiState::Success, CiSystem::GitlabCi, "31")]);
        let actions = forge
            .run(&Trigger, &comment_on_pr("alice", "/test nope"))
            .await
            .expect("handled");
        let body = reply_of(&actions).expect("help");
        assert!(
            body.contains("The specified target(s) for `/test` were not found."),
            "{body}"
        );
        assert!(body.contains("* `/test unit`"), "{body}");
        let named = forge
            .run(&Trigger, &comment_on_pr("alice", "/test unit"))
            .await
            .expect("handled");
        assert_eq!(
            named,
            vec![Action::RunCi {
                item: forge.pr_ref(),
                system: CiSystem::GitlabCi,
                context: "unit".into(),
                run: CiRun::Rerun {
                    run_id: "31".into(),
                    failed_only: false
                }
            }]
        );
    }
}
