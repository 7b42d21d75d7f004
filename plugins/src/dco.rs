//! `dco`: every commit of a pull/merge request must carry a `Signed-off-by:` trailer (the
//! [Developer Certificate of Origin](https://developercertificate.org/)). bosun keeps a commit
//! status `dco` on the head (Prow's descriptions `All commits have Signed-off-by` / `Commits in
//! PR missing Signed-off-by`), one of the labels `dco-signoff: yes` / `dco-signoff: no`, and,
//! while commits lack a sign-off, one comment listing them; once every commit is signed off the
//! comment is deleted. Merge commits are not checked, as in Prow.
//!
//! Runs when a PR is opened, reopened or pushed to, and on `/check-dco` (anyone, open PRs).
//! The comment is written on open, push and `/check-dco`, as in Prow (a reopen only updates
//! the label and status). With `skip_dco_check_for_members` (or `…_for_collaborators`),
//! commits whose author the forge maps to a member of `trusted_org` (default: the repo's
//! org or group), or to a collaborator, need no sign-off; GitLab's commit lists name no
//! accounts, so there every commit is checked.
//!
//! Differences from Prow: by default (`require_author_match = true`, as issue 16 asks) a
//! sign-off counts only when it names the commit's author: its email equals the author's,
//! ignoring ASCII case (or, for an author recorded without an email, its name equals the
//! author's name). Prow's plugin accepts any `Signed-off-by:` line; `require_author_match =
//! false` restores exactly that. The comment is one notice edited in place rather than deleted
//! and posted again (Prow's own comment on the same account is taken over). The status is set
//! on every run instead of after reading the combined status (one call either way). The
//! contributing guide's branch defaults to the PR's base branch, not `master`.

use crate::command::{GO_SPACE, command_text};
use crate::forge::{CommitStatus, PrCommit, StatusState};
use crate::reply::format_simple;
use crate::{
    Action, CommandHelp, CommentAction, Context, Event, ForgeKind, ItemRef, ItemState, Login,
    Plugin, PluginError, PluginHelp, PrAction,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

/// The commit status bosun keeps.
pub const CONTEXT: &str = "dco";
/// The label of a PR whose commits are all signed off.
pub const YES_LABEL: &str = "dco-signoff: yes";
/// The label of a PR with a commit missing its sign-off.
pub const NO_LABEL: &str = "dco-signoff: no";
/// Prow's status description when every commit is signed off.
pub const SUCCESS_DESCRIPTION: &str = "All commits have Signed-off-by";
/// Prow's status description when a commit is not.
pub const FAILURE_DESCRIPTION: &str = "Commits in PR missing Signed-off-by";
/// How Prow's comment opens; its comments on the same account are found by it.
pub const NOTICE: &str = "Thanks for your pull request. Before we can look at it, you'll need to add a 'DCO signoff' to your commits.";

static CHECK_DCO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?mi)^/check-dco{GO_SPACE}*$")).expect("static regex"));
static SIGNED_OFF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?mi)^signed-off-by:").expect("static regex"));
/// `Signed-off-by: Name <email>`, the form `git commit -s` writes.
static SIGNER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?mi)^signed-off-by:[ \t]*([^<\r\n]*?)[ \t]*<([^<>\r\n]*)>[ \t\r]*$")
        .expect("static regex")
});

/// `[settings.dco."org/repo"]`, Prow's `dco` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DcoSettings {
    /// Commits by members of `trusted_org` need no sign-off (default false).
    pub skip_dco_check_for_members: bool,
    /// Commits by collaborators (and members) need no sign-off (default false).
    pub skip_dco_check_for_collaborators: bool,
    /// The org or group whose members are trusted (default: the repository's own).
    pub trusted_org: Option<String>,
    /// A sign-off must name the commit's author (default true; false is Prow's rule: any
    /// `Signed-off-by:` line will do).
    pub require_author_match: bool,
    /// The repository holding the contributing guide (default: the PR's own).
    pub contributing_repo: Option<String>,
    /// Its branch (default: the PR's base branch).
    pub contributing_branch: Option<String>,
    /// Its path (default `CONTRIBUTING.md`).
    pub contributing_path: Option<String>,
}

impl Default for DcoSettings {
    /// Nobody is trusted, and sign-offs must name the author.
    fn default() -> Self {
        DcoSettings {
            skip_dco_check_for_members: false,
            skip_dco_check_for_collaborators: false,
            trusted_org: None,
            require_author_match: true,
            contributing_repo: None,
            contributing_branch: None,
            contributing_path: None,
        }
    }
}

/// Whether a commit is signed off: by anyone (Prow), or by its author.
pub fn signed_off(commit: &PrCommit, require_author_match: bool) -> bool {
    if !require_author_match {
        return SIGNED_OFF.is_match(&commit.message);
    }
    SIGNER.captures_iter(&commit.message).any(|c| {
        let (name, email) = (c[1].trim(), c[2].trim());
        if commit.author_email.trim().is_empty() {
            !name.is_empty() && name.eq_ignore_ascii_case(commit.author_name.trim())
        } else {
            email.eq_ignore_ascii_case(commit.author_email.trim())
        }
    })
}

/// The commits that need a sign-off and lack one (merge commits are never checked).
pub fn missing_signoff(commits: &[PrCommit], require_author_match: bool) -> Vec<&PrCommit> {
    commits
        .iter()
        .filter(|c| !c.is_merge() && !signed_off(c, require_author_match))
        .collect()
}

/// The web page of the item's repository (`https://github.com/org/repo`), from the item's
/// own URL; `None` when the URL does not have the forge's usual shape.
pub fn repo_web(html_url: &str, forge: ForgeKind) -> Option<&str> {
    // Older GitLab URLs lack the `/-` scope separator.
    let cuts: &[&str] = match forge {
        ForgeKind::GitHub => &["/pull/"],
        ForgeKind::GitLab => &["/-/merge_requests/", "/merge_requests/"],
    };
    cuts.iter()
        .find_map(|cut| html_url.rfind(cut))
        .map(|i| &html_url[..i])
        .filter(|w| !w.is_empty())
}

/// Prow's `MarkdownSHAList`: `- [abc1234](commit link) title`, one line per commit; without
/// a repository URL the short SHA stands alone.
pub fn sha_list(commits: &[&PrCommit], web: Option<&str>, forge: ForgeKind) -> String {
    commits
        .iter()
        .map(|c| {
            let short: String = c.sha.chars().take(7).collect();
            match web {
                Some(web) => {
                    let path = match forge {
                        ForgeKind::GitHub => "commits",
                        ForgeKind::GitLab => "-/commit",
                    };
                    format!("- [{short}]({web}/{path}/{}) {}", c.sha, c.title())
                }
                None => format!("- {short} {}", c.title()),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prow's comment listing the commits without a sign-off (without its footer).
pub fn notice(contributing_url: &str, list: &str) -> String {
    format!(
        "{NOTICE}\n\n:memo: **Please follow instructions in the [contributing guide]({contributing_url}) to update your commits with the DCO**\n\nFull details of the Developer Certificate of Origin can be found at [developercertificate.org](https://developercertificate.org/).\n\n**The list of commits missing DCO signoff**:\n\n{list}"
    )
}

/// Where the contributing guide is, as the settings say, on the item's forge.
fn contributing_url(
    settings: &DcoSettings,
    item: &ItemRef,
    html_url: &str,
    base_ref: &str,
) -> String {
    let repo = settings
        .contributing_repo
        .as_deref()
        .unwrap_or(item.repo.as_str());
    let branch = settings.contributing_branch.as_deref().unwrap_or(base_ref);
    let path = settings
        .contributing_path
        .as_deref()
        .unwrap_or("CONTRIBUTING.md");
    let site = repo_web(html_url, item.forge)
        .and_then(|w| w.strip_suffix(item.repo.as_str()))
        .unwrap_or(match item.forge {
            ForgeKind::GitHub => "https://github.com/",
            ForgeKind::GitLab => "https://gitlab.com/",
        });
    let blob = match item.forge {
        ForgeKind::GitHub => "blob",
        ForgeKind::GitLab => "-/blob",
    };
    format!("{site}{repo}/{blob}/{branch}/{path}")
}

/// What one check found, and what the plugin knows of the PR to act on it.
#[derive(Debug)]
pub struct Check<'a> {
    /// The PR checked.
    pub item: &'a ItemRef,
    /// Its head, where the status goes.
    pub head_sha: &'a str,
    /// Its labels now, so only missing labels are added and present ones removed.
    pub labels: &'a [String],
    /// The commits lacking a sign-off (after trusted authors are left out).
    pub missing: Vec<&'a PrCommit>,
    /// Write (or update) the comment when commits lack a sign-off.
    pub comment: bool,
    /// The contributing guide, linked from the status and the comment.
    pub contributing_url: String,
    /// The repository's web page, for commit links.
    pub web: Option<&'a str>,
    /// bosun's command-help page, for the comment's footer.
    pub help_url: &'a str,
}

fn has(labels: &[String], label: &str) -> bool {
    labels.iter().any(|l| l.eq_ignore_ascii_case(label))
}

/// The label, status and comment actions for a check's result.
pub fn decide(check: &Check<'_>) -> Vec<Action> {
    let item = check.item;
    let signed = check.missing.is_empty();
    let (want, drop) = if signed {
        (YES_LABEL, NO_LABEL)
    } else {
        (NO_LABEL, YES_LABEL)
    };
    let mut out = Vec::new();
    if has(check.labels, drop) {
        out.push(Action::RemoveLabel {
            item: item.clone(),
            label: drop.into(),
        });
    }
    if !has(check.labels, want) {
        out.push(Action::AddLabel {
            item: item.clone(),
            label: want.into(),
        });
    }
    let (state, description) = if signed {
        (StatusState::Success, SUCCESS_DESCRIPTION)
    } else {
        (StatusState::Failure, FAILURE_DESCRIPTION)
    };
    out.push(Action::SetStatus {
        forge: item.forge,
        repo: item.repo.clone(),
        sha: check.head_sha.to_string(),
        status: CommitStatus {
            state,
            context: CONTEXT.into(),
            description: description.into(),
            target_url: Some(check.contributing_url.clone()),
        },
    });
    if signed {
        out.push(Action::DeleteBotComment {
            item: item.clone(),
            marker: CONTEXT.into(),
            adopt: Some(NOTICE.into()),
        });
    } else if check.comment {
        let list = sha_list(&check.missing, check.web, item.forge);
        out.push(Action::UpsertBotComment {
            item: item.clone(),
            marker: CONTEXT.into(),
            body: format_simple(&notice(&check.contributing_url, &list), check.help_url),
            adopt: Some(NOTICE.into()),
        });
    }
    out
}

/// Why the plugin runs for an event: whether to comment, and the item's web URL.
fn trigger(event: &Event) -> Option<(&ItemRef, bool, &str)> {
    match event {
        Event::PullRequest(p) => match p.action {
            PrAction::Opened | PrAction::Synchronized { .. } => {
                Some((&p.pr.reference, true, p.pr.html_url.as_str()))
            }
            PrAction::Reopened => Some((&p.pr.reference, false, p.pr.html_url.as_str())),
            _ => None,
        },
        Event::Comment(c)
            if c.item.is_pr()
                && c.item.state == ItemState::Open
                && c.action == CommentAction::Created
                && CHECK_DCO.is_match(&command_text(c)) =>
        {
            Some((&c.item.reference, true, c.item.html_url.as_str()))
        }
        _ => None,
    }
}

/// Drops the commits whose author the forge maps to a trusted account, as Prow's
/// `filterTrustedUsers` (asked once per author).
async fn untrusted<'a>(
    cx: &Context<'_>,
    settings: &DcoSettings,
    item: &ItemRef,
    missing: Vec<&'a PrCommit>,
) -> Result<Vec<&'a PrCommit>, PluginError> {
    if !settings.skip_dco_check_for_members && !settings.skip_dco_check_for_collaborators {
        return Ok(missing);
    }
    let org = settings.trusted_org.as_deref().unwrap_or(item.repo.owner());
    let mut trusted: Vec<(Login, bool)> = Vec::new();
    let mut out = Vec::new();
    for commit in missing {
        let Some(login) = &commit.author_login else {
            out.push(commit);
            continue;
        };
        let known = trusted.iter().find(|(l, _)| l == login).map(|(_, t)| *t);
        let is_trusted = match known {
            Some(t) => t,
            None => {
                let t = cx.forge.is_org_member(org, login).await?
                    || (settings.skip_dco_check_for_collaborators
                        && cx.forge.is_collaborator(&item.repo, login).await?);
                trusted.push((login.clone(), t));
                t
            }
        };
        if !is_trusted {
            out.push(commit);
        }
    }
    Ok(out)
}

/// The dco plugin.
pub struct Dco;

#[async_trait]
impl Plugin for Dco {
    fn name(&self) -> &'static str {
        "dco"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Checks that every commit of a pull request is signed off (`Signed-off-by:`, the Developer Certificate of Origin), and keeps the `dco` status, the `dco-signoff: yes` / `dco-signoff: no` labels and a comment listing the commits without a sign-off.",
            commands: vec![CommandHelp {
                usage: "/check-dco",
                description: "Checks the sign-offs of the pull request's commits again.",
                examples: vec!["/check-dco"],
                who_can_use: "Anyone",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<DcoSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Some((item, comment, html_url)) = trigger(event) else {
            return Ok(vec![]);
        };
        let settings: DcoSettings = cx.settings()?;
        let pr = cx.forge.pull_request(item).await?;
        if pr.state != ItemState::Open {
            return Ok(vec![]);
        }
        let commits = cx.forge.pr_commits(item).await?;
        let missing = missing_signoff(&commits, settings.require_author_match);
        let missing = untrusted(cx, &settings, item, missing).await?;
        let check = Check {
            item,
            head_sha: &pr.head_sha,
            labels: &pr.labels,
            missing,
            comment,
            contributing_url: contributing_url(&settings, item, html_url, &pr.base_ref),
            web: repo_web(html_url, item.forge),
            help_url: cx.help_url,
        };
        Ok(decide(&check))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr, commit, pr_event};

    const SIGNED: &str = "Add a thing\n\nSigned-off-by: alice <alice@example.com>\n";

    fn labels_added(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::AddLabel { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect()
    }

    fn status(actions: &[Action]) -> Option<&CommitStatus> {
        actions.iter().find_map(|a| match a {
            Action::SetStatus { status, .. } => Some(status),
            _ => None,
        })
    }

    fn notice_body(actions: &[Action]) -> Option<&str> {
        actions.iter().find_map(|a| match a {
            Action::UpsertBotComment { body, marker, .. } if marker == CONTEXT => {
                Some(body.as_str())
            }
            _ => None,
        })
    }

    #[test]
    fn a_sign_off_must_name_the_author_unless_prows_rule_is_asked_for() {
        let own = commit("a1", "alice", SIGNED);
        assert!(signed_off(&own, true));
        let upper = commit(
            "a2",
            "alice",
            "x\n\nSIGNED-OFF-BY: Alice Liddell <ALICE@example.com>\r\n",
        );
        assert!(signed_off(&upper, true), "email compares ignoring case");
        let other = commit("b1", "bob", SIGNED);
        assert!(
            !signed_off(&other, true),
            "alice's sign-off on bob's commit"
        );
        assert!(signed_off(&other, false), "Prow: any sign-off line");
        let none = commit("c1", "carol", "Fix it\n\nReviewed-by: dave <d@x>");
        assert!(!signed_off(&none, false));
        let quoted = commit(
            "c2",
            "carol",
            "x\n  Signed-off-by: carol <carol@example.com>",
        );
        assert!(
            !signed_off(&quoted, false),
            "the trailer must start its line, as Prow's (?m)^"
        );
        let mut nameless = commit("d1", "dave", "x\n\nSigned-off-by: dave <>");
        nameless.author_email = String::new();
        assert!(signed_off(&nameless, true), "no email recorded: the name");
    }

    #[test]
    fn merge_commits_need_no_sign_off() {
        let mut merge = commit("m1", "alice", "Merge branch 'main' into feature");
        merge.parents = 2;
        let plain = commit("p1", "alice", "Unsigned");
        let commits = [merge, plain];
        let missing = missing_signoff(&commits, true);
        assert_eq!(
            missing.iter().map(|c| c.sha.as_str()).collect::<Vec<_>>(),
            ["p1"]
        );
    }

    #[test]
    fn commit_links_follow_each_forge() {
        let c = commit("0123456789abcdef", "alice", "Title line\n\nbody");
        let gh = repo_web("https://github.com/org/repo/pull/4", ForgeKind::GitHub);
        assert_eq!(gh, Some("https://github.com/org/repo"));
        assert_eq!(
            sha_list(&[&c], gh, ForgeKind::GitHub),
            "- [0123456](https://github.com/org/repo/commits/0123456789abcdef) Title line"
        );
        let gl = repo_web(
            "https://gitlab.example/grp/sub/proj/-/merge_requests/4",
            ForgeKind::GitLab,
        );
        assert_eq!(
            sha_list(&[&c], gl, ForgeKind::GitLab),
            "- [0123456](https://gitlab.example/grp/sub/proj/-/commit/0123456789abcdef) Title line"
        );
        assert_eq!(
            sha_list(&[&c], None, ForgeKind::GitLab),
            "- 0123456 Title line"
        );
        assert_eq!(
            repo_web("https://gitlab.com/g/p/merge_requests/1", ForgeKind::GitLab),
            Some("https://gitlab.com/g/p")
        );
        assert_eq!(repo_web("https://x.example/1", ForgeKind::GitHub), None);
    }

    #[tokio::test]
    async fn an_unsigned_commit_fails_labels_no_and_lists_it() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.pr_commits = vec![
                commit("aaaaaaa1", "alice", SIGNED),
                commit("bbbbbbb2", "bob", "Quick fix\n\nno trailer"),
            ];
            s.pr.labels = vec![YES_LABEL.into()];
        });
        let actions = forge
            .run(&Dco, &pr_event(PrAction::Synchronized { before: None }))
            .await
            .expect("handled");
        assert!(matches!(&actions[0], Action::RemoveLabel { label, .. } if label == YES_LABEL));
        assert_eq!(labels_added(&actions), [NO_LABEL]);
        let st = status(&actions).expect("a status");
        assert_eq!(
            (st.state, st.context.as_str(), st.description.as_str()),
            (StatusState::Failure, CONTEXT, FAILURE_DESCRIPTION)
        );
        assert_eq!(
            st.target_url.as_deref(),
            Some("https://github.com/org/repo/blob/main/CONTRIBUTING.md")
        );
        let body = notice_body(&actions).expect("a notice");
        assert!(body.starts_with(NOTICE), "{body}");
        assert!(
            body.contains("- [bbbbbbb](https://github.com/org/repo/commits/bbbbbbb2) Quick fix"),
            "{body}"
        );
        assert!(!body.contains("aaaaaaa"), "{body}");
    }

    #[tokio::test]
    async fn all_signed_succeeds_labels_yes_and_removes_the_notice() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.pr_commits = vec![commit("aaaaaaa1", "alice", SIGNED)];
            s.pr.labels = vec![NO_LABEL.into()];
        });
        let actions = forge
            .run(&Dco, &pr_event(PrAction::Opened))
            .await
            .expect("handled");
        assert!(matches!(&actions[0], Action::RemoveLabel { label, .. } if label == NO_LABEL));
        assert_eq!(labels_added(&actions), [YES_LABEL]);
        assert_eq!(
            status(&actions).map(|s| (s.state, s.description.as_str())),
            Some((StatusState::Success, SUCCESS_DESCRIPTION))
        );
        assert!(actions.iter().any(|a| matches!(a,
            Action::DeleteBotComment { marker, adopt: Some(p), .. } if marker == CONTEXT && p == NOTICE)));
    }

    #[tokio::test]
    async fn a_reopen_relabels_without_commenting_and_check_dco_comments() {
        let forge = MemoryForge::default();
        forge.with(|s| s.pr_commits = vec![commit("bbbbbbb2", "bob", "unsigned")]);
        let reopened = forge
            .run(&Dco, &pr_event(PrAction::Reopened))
            .await
            .expect("handled");
        assert_eq!(labels_added(&reopened), [NO_LABEL]);
        assert!(notice_body(&reopened).is_none());
        let asked = forge
            .run(&Dco, &comment_on_pr("someone", "/check-dco"))
            .await
            .expect("handled");
        assert!(notice_body(&asked).is_some());
        for ignored in [
            comment_on_pr("someone", "please /check-dco"),
            comment_on_pr("someone", "> /check-dco"),
            pr_event(PrAction::Edited),
        ] {
            assert!(forge.run(&Dco, &ignored).await.expect("ok").is_empty());
        }
    }

    #[tokio::test]
    async fn trusted_authors_may_skip_the_sign_off_when_configured() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.pr_commits = vec![
                commit("aaaaaaa1", "member", "unsigned"),
                commit("bbbbbbb2", "collab", "unsigned"),
            ];
            s.org_members.insert(Login::new("member"));
        });
        forge.add_collaborators(&["collab"]);
        let ev = pr_event(PrAction::Opened);
        let members = serde_json::json!({"skip_dco_check_for_members": true});
        let actions = forge.run_with(&Dco, &ev, &members).await.expect("ok");
        let body = notice_body(&actions).expect("collab's commit still counts");
        assert!(
            body.contains("bbbbbbb") && !body.contains("aaaaaaa"),
            "{body}"
        );
        let both = serde_json::json!({"skip_dco_check_for_collaborators": true});
        let actions = forge.run_with(&Dco, &ev, &both).await.expect("ok");
        assert_eq!(labels_added(&actions), [YES_LABEL]);
        assert!(Dco.check_settings(&serde_json::json!({"nope": 1})).is_err());
        assert!(Dco.check_settings(&both).is_ok());
    }

    #[tokio::test]
    async fn closed_prs_are_left_alone() {
        let forge = MemoryForge::default();
        forge.with(|s| s.pr.state = ItemState::Closed);
        let actions = forge
            .run(&Dco, &pr_event(PrAction::Synchronized { before: None }))
            .await
            .expect("ok");
        assert!(actions.is_empty());
    }
}
