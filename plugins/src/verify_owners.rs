//! `verify-owners`: a pull request that changes `OWNERS` files or the root `OWNERS_ALIASES` has
//! them checked before it can merge (Prow §3.14). Runs when the PR is opened, reopened or
//! pushed to, and on `/verify-owners` (anyone, open PRs); it looks only at PRs that modify
//! (not delete) such a file, or that already carry `do-not-merge/invalid-owners-file`.
//!
//! Each changed file is read at the PR's head and parsed as bosun's OWNERS loader parses it:
//! an unparseable file, an `OWNERS` carrying a denied label (`labels_denylist`, default
//! `approved` and `lgtm`), or a root `OWNERS` without approvers is a problem; so is an
//! `OWNERS_ALIASES` that does not parse (empty aliases only get advice). Logins the PR adds to
//! an `OWNERS` file's approvers or reviewers must be trusted, as the trigger plugin trusts
//! (org or group members, collaborators), unless `[owners] skip_collaborators` names the repo.
//! Any problem or untrusted login adds the label; when all is good the label goes and bosun's
//! notices are deleted.
//!
//! Differences from Prow: the files are read at the PR's head, not at the base merged with it.
//! Problems are listed in one comment naming every file (edited in place, deleted once fixed)
//! instead of a review with per-line comments, on both forges. New logins are those the head
//! file names and the base file did not, not found by scanning the patch. Trust uses the
//! default trigger rules (bot, member, collaborator), not the repo's `trigger` settings.

use crate::command::{GO_SPACE, command_text};
use crate::owners::{normalize_login, parse_aliases, parse_owners};
use crate::reply::format_simple;
use crate::trigger::{TriggerSettings, trusted};
use crate::{
    Action, CommandHelp, CommentAction, Context, Event, ForgeKind, ItemRef, ItemState, Login,
    Plugin, PluginError, PluginHelp, PrAction, RepoPath,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// The label of a PR whose OWNERS changes are invalid.
pub const LABEL: &str = "do-not-merge/invalid-owners-file";
/// The marker of bosun's comment listing the files' problems.
pub const PROBLEMS_MARKER: &str = "verify-owners";
/// The marker of bosun's comment listing untrusted users.
pub const UNTRUSTED_MARKER: &str = "verify-owners-untrusted";
/// How Prow's untrusted-users comment opens; its comments on the same account are found by it.
pub const UNTRUSTED: &str = "The OWNERS file contains untrusted users, which makes it INVALID.";
/// Prow's reply to an `OWNERS_ALIASES` that does not parse.
pub const INVALID_ALIASES: &str = "The content of OWNERS_ALIASES is invalid.";
/// Prow's advice about empty aliases (its spelling of the file name).
pub const EMPTY_ALIASES: &str = "There are empty aliases in OWNER_ALIASES, cleanup is advised.";
/// Prow's problem for a root `OWNERS` without approvers.
pub const NO_ROOT_APPROVERS: &str = "No approvers defined in this root directory OWNERS file.";
/// At most this many new logins are checked for trust per run (Prow's bound).
pub const MAX_TRUST_CHECKS: usize = 50;

const ALIASES_FILE: &str = "OWNERS_ALIASES";

static VERIFY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?mi)^/verify-owners{GO_SPACE}*$")).expect("static regex")
});

/// `[settings.verify-owners."org"]` or `."org/repo"` (Prow's `owners.labels_denylist`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyOwnersSettings {
    /// Labels an OWNERS file may not carry (default `approved`, `lgtm`: they would be applied
    /// to every PR touching the directory and bypass review).
    pub labels_denylist: Vec<String>,
}

impl Default for VerifyOwnersSettings {
    /// Prow's default denylist.
    fn default() -> Self {
        VerifyOwnersSettings {
            labels_denylist: vec!["approved".into(), "lgtm".into()],
        }
    }
}

/// One changed OWNERS-type file: its path and its contents at the PR's head and base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedOwners {
    /// The file's path in the repository.
    pub path: String,
    /// Its text at the PR's head.
    pub head: String,
    /// `None` when the file is new.
    pub base: Option<String>,
}

/// A problem that makes a file invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file at fault.
    pub path: String,
    /// Prow's wording of the problem.
    pub message: String,
}

/// What checking the files found, before trust is asked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Findings {
    /// Problems that make the PR invalid.
    pub problems: Vec<FileProblem>,
    /// Advice that does not make the PR invalid (empty aliases).
    pub advice: Vec<String>,
    /// Normalized login → the OWNERS files that newly name it.
    pub new_logins: BTreeMap<String, BTreeSet<String>>,
}

fn is_owners(path: &str) -> bool {
    path == "OWNERS" || path.ends_with("/OWNERS")
}

/// Whether a changed path is one verify-owners checks.
pub fn is_checked(path: &str) -> bool {
    is_owners(path) || path == ALIASES_FILE
}

/// The logins an OWNERS text names as approvers or reviewers (normalized); empty when it does
/// not parse.
fn people(text: &str) -> BTreeSet<String> {
    let Ok(file) = parse_owners(text) else {
        return BTreeSet::new();
    };
    file.rules
        .iter()
        .flat_map(|(_, r)| r.approvers.iter().chain(&r.reviewers))
        .map(|l| normalize_login(l))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Checks the changed files: parse, denied labels, root approvers, and which logins are new.
/// `aliases` are the alias names in use (new logins that are aliases are not users).
pub fn check_files(
    files: &[ChangedOwners],
    denylist: &[String],
    aliases: &BTreeSet<String>,
) -> Findings {
    let mut out = Findings::default();
    for f in files {
        if f.path == ALIASES_FILE {
            match parse_aliases(&f.head) {
                Err(_) => out.problems.push(FileProblem {
                    path: f.path.clone(),
                    message: INVALID_ALIASES.into(),
                }),
                Ok(a) if a.aliases.values().any(Vec::is_empty) => {
                    out.advice.push(EMPTY_ALIASES.into());
                }
                Ok(_) => {}
            }
            continue;
        }
        let file = match parse_owners(&f.head) {
            Ok(file) => file,
            Err(e) => {
                out.problems.push(FileProblem {
                    path: f.path.clone(),
                    message: format!("Cannot parse file: {e}."),
                });
                continue;
            }
        };
        let banned: BTreeSet<&str> = file
            .rules
            .iter()
            .flat_map(|(_, r)| &r.labels)
            .filter(|l| denylist.iter().any(|d| d.eq_ignore_ascii_case(l.trim())))
            .map(|l| l.trim())
            .collect();
        if !banned.is_empty() {
            let list: Vec<&str> = banned.into_iter().collect();
            out.problems.push(FileProblem {
                path: f.path.clone(),
                message: format!("File contains banned labels: [{}].", list.join(" ")),
            });
        }
        if f.path == "OWNERS" && file.rules.iter().all(|(_, r)| r.approvers.is_empty()) {
            out.problems.push(FileProblem {
                path: f.path.clone(),
                message: NO_ROOT_APPROVERS.into(),
            });
        }
        let before = f.base.as_deref().map(people).unwrap_or_default();
        for login in people(&f.head) {
            if !before.contains(&login) && !aliases.contains(&login) {
                out.new_logins
                    .entry(login)
                    .or_default()
                    .insert(f.path.clone());
            }
        }
    }
    out
}

/// A login that is not trusted, and the files naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    /// The login, normalized.
    pub login: String,
    /// The OWNERS files that newly name it.
    pub files: BTreeSet<String>,
}

/// The comment listing the files' problems (and advice), without its footer.
pub fn problems_comment(problems: &[FileProblem], advice: &[String]) -> String {
    let mut by_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in problems {
        by_file.entry(&p.path).or_default().push(&p.message);
    }
    let mut text = String::new();
    if !by_file.is_empty() {
        text.push_str(&format!("{} invalid OWNERS file(s)\n", by_file.len()));
        for (path, messages) in by_file {
            text.push_str(&format!("\n- `{path}`:"));
            for m in messages {
                text.push_str(&format!("\n  - {m}"));
            }
        }
    }
    for a in advice {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(a);
    }
    text
}

/// Prow's untrusted-users comment, worded for both forges, without its footer.
pub fn untrusted_comment(untrusted: &[Untrusted], org: &str, forge: ForgeKind) -> String {
    let (members, collaborator) = match forge {
        ForgeKind::GitHub => (format!("members of the {org} org"), "a collaborator"),
        ForgeKind::GitLab => (
            format!("members of the {org} group"),
            "a project member with Developer access",
        ),
    };
    let mut text = format!(
        "{UNTRUSTED} The following users are mentioned in OWNERS file(s) but are untrusted for the following reasons. One way to make the user trusted is to add them as {members}. You can then trigger verification by writing `/verify-owners` in a comment.\n"
    );
    for u in untrusted {
        let files: Vec<&str> = u.files.iter().map(String::as_str).collect();
        text.push_str(&format!(
            "\n- {}\n  - User is not a member of the org. User is not {collaborator}. Satisfy at least one of these conditions to make the user trusted.\n  - {}",
            u.login,
            files.join(", ")
        ));
    }
    text
}

/// What one run found, and what the plugin knows of the PR to act on it.
#[derive(Debug)]
pub struct Verdict<'a> {
    /// The PR verified.
    pub item: &'a ItemRef,
    /// The PR's labels now.
    pub labels: &'a [String],
    /// What the files' checks found.
    pub findings: Findings,
    /// The new logins that are not trusted.
    pub untrusted: Vec<Untrusted>,
    /// The org or group named in the untrusted-users comment.
    pub org: &'a str,
    /// bosun's command-help page, for the comments' footer.
    pub help_url: &'a str,
}

/// The label and comment actions for a run's result.
pub fn decide(v: &Verdict<'_>) -> Vec<Action> {
    let item = v.item;
    let invalid = !v.findings.problems.is_empty() || !v.untrusted.is_empty();
    let labeled = v.labels.iter().any(|l| l.eq_ignore_ascii_case(LABEL));
    let mut out = Vec::new();
    if invalid && !labeled {
        out.push(Action::AddLabel {
            item: item.clone(),
            label: LABEL.into(),
        });
    } else if !invalid && labeled {
        out.push(Action::RemoveLabel {
            item: item.clone(),
            label: LABEL.into(),
        });
    }
    let problems = problems_comment(&v.findings.problems, &v.findings.advice);
    out.push(if problems.is_empty() {
        Action::DeleteBotComment {
            item: item.clone(),
            marker: PROBLEMS_MARKER.into(),
            adopt: None,
        }
    } else {
        Action::UpsertBotComment {
            item: item.clone(),
            marker: PROBLEMS_MARKER.into(),
            body: format_simple(&problems, v.help_url),
            adopt: None,
        }
    });
    out.push(if v.untrusted.is_empty() {
        Action::DeleteBotComment {
            item: item.clone(),
            marker: UNTRUSTED_MARKER.into(),
            adopt: Some(UNTRUSTED.into()),
        }
    } else {
        Action::UpsertBotComment {
            item: item.clone(),
            marker: UNTRUSTED_MARKER.into(),
            body: format_simple(
                &untrusted_comment(&v.untrusted, v.org, item.forge),
                v.help_url,
            ),
            adopt: Some(UNTRUSTED.into()),
        }
    });
    out
}

/// The PR the event asks to verify.
fn trigger(event: &Event) -> Option<&ItemRef> {
    match event {
        Event::PullRequest(p) => match p.action {
            PrAction::Opened | PrAction::Reopened | PrAction::Synchronized { .. } => {
                Some(&p.pr.reference)
            }
            _ => None,
        },
        Event::Comment(c)
            if c.item.is_pr()
                && c.item.state == ItemState::Open
                && c.action == CommentAction::Created
                && VERIFY.is_match(&command_text(c)) =>
        {
            Some(&c.item.reference)
        }
        _ => None,
    }
}

/// Reads the changed OWNERS-type files at the head and base; deleted files are left out.
async fn read_changed(
    cx: &Context<'_>,
    repo: &RepoPath,
    paths: &[String],
    head: &str,
    base: &str,
) -> Result<Vec<ChangedOwners>, PluginError> {
    let mut out = Vec::new();
    for path in paths {
        let Some(bytes) = cx.forge.file_content(repo, path, head).await? else {
            continue;
        };
        let base = cx
            .forge
            .file_content(repo, path, base)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        out.push(ChangedOwners {
            path: path.clone(),
            head: String::from_utf8_lossy(&bytes).into_owned(),
            base,
        });
    }
    Ok(out)
}

/// The alias names in use at the head (the changed file, else the file at the head).
async fn alias_names(
    cx: &Context<'_>,
    repo: &RepoPath,
    changed: &[ChangedOwners],
    head: &str,
) -> Result<BTreeSet<String>, PluginError> {
    let text = match changed.iter().find(|f| f.path == ALIASES_FILE) {
        Some(f) => Some(f.head.clone()),
        None => cx
            .forge
            .file_content(repo, ALIASES_FILE, head)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    };
    Ok(text
        .and_then(|t| parse_aliases(&t).ok())
        .map(|a| a.aliases.keys().map(|k| normalize_login(k)).collect())
        .unwrap_or_default())
}

/// The new logins that are not trusted, at most [`MAX_TRUST_CHECKS`] of them asked.
async fn untrusted_logins(
    cx: &Context<'_>,
    repo: &RepoPath,
    new_logins: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<Untrusted>, PluginError> {
    let settings = TriggerSettings::default();
    let mut out = Vec::new();
    for (login, files) in new_logins.iter().take(MAX_TRUST_CHECKS) {
        if !trusted(cx, &settings, repo, &Login::new(login)).await? {
            out.push(Untrusted {
                login: login.clone(),
                files: files.clone(),
            });
        }
    }
    Ok(out)
}

/// The verify-owners plugin.
pub struct VerifyOwners;

#[async_trait]
impl Plugin for VerifyOwners {
    fn name(&self) -> &'static str {
        "verify-owners"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Checks the OWNERS and OWNERS_ALIASES files a pull request changes: they must parse, carry no denied labels (`approved`, `lgtm` by default), a root OWNERS must name approvers, and newly named approvers and reviewers must be trusted (members or collaborators). Invalid files get the `do-not-merge/invalid-owners-file` label and a comment listing every problem; both go once fixed.",
            commands: vec![CommandHelp {
                usage: "/verify-owners",
                description: "Checks the pull request's OWNERS files again (after a user was made a member, say).",
                examples: vec!["/verify-owners"],
                who_can_use: "Anyone",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<VerifyOwnersSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Some(item) = trigger(event) else {
            return Ok(vec![]);
        };
        let settings: VerifyOwnersSettings = cx.settings()?;
        let pr = cx.forge.pull_request(item).await?;
        if pr.state != ItemState::Open {
            return Ok(vec![]);
        }
        let (files, _cut) = cx.changed_files(item).await?;
        let paths: Vec<String> = files
            .into_iter()
            .map(|f| f.path)
            .filter(|p| is_checked(p))
            .collect();
        let labeled = pr.labels.iter().any(|l| l.eq_ignore_ascii_case(LABEL));
        if paths.is_empty() && !labeled {
            return Ok(vec![]);
        }
        let repo = &item.repo;
        let changed = read_changed(cx, repo, &paths, &pr.head_sha, &pr.base_sha).await?;
        if changed.is_empty() && !labeled {
            return Ok(vec![]);
        }
        let aliases = alias_names(cx, repo, &changed, &pr.head_sha).await?;
        let findings = check_files(&changed, &settings.labels_denylist, &aliases);
        let untrusted = if cx.owners.policy().skip_collaborators(repo) {
            Vec::new()
        } else {
            untrusted_logins(cx, repo, &findings.new_logins).await?
        };
        Ok(decide(&Verdict {
            item,
            labels: &pr.labels,
            findings,
            untrusted,
            org: repo.owner(),
            help_url: cx.help_url,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::ChangedFile;
    use crate::testing::{MemoryForge, comment_on_pr, pr_event};

    fn changed(path: &str, head: &str, base: Option<&str>) -> ChangedOwners {
        ChangedOwners {
            path: path.into(),
            head: head.into(),
            base: base.map(str::to_string),
        }
    }

    fn deny() -> Vec<String> {
        VerifyOwnersSettings::default().labels_denylist
    }

    fn seed(forge: &MemoryForge, files: &[(&str, &str, Option<&str>)]) {
        forge.with(|s| {
            let mut head = BTreeMap::new();
            let mut base = BTreeMap::new();
            for (path, at_head, at_base) in files {
                head.insert(path.to_string(), at_head.as_bytes().to_vec());
                if let Some(b) = at_base {
                    base.insert(path.to_string(), b.as_bytes().to_vec());
                }
                s.changed_files.push(ChangedFile {
                    path: path.to_string(),
                    previous_path: None,
                    additions: 1,
                    deletions: 0,
                });
            }
            s.commits.insert("head0".into(), head);
            s.commits.insert("base0".into(), base);
        });
    }

    fn body(actions: &[Action], marker: &str) -> Option<String> {
        actions.iter().find_map(|a| match a {
            Action::UpsertBotComment {
                marker: m, body, ..
            } if m == marker => Some(body.clone()),
            _ => None,
        })
    }

    fn added(actions: &[Action]) -> bool {
        actions
            .iter()
            .any(|a| matches!(a, Action::AddLabel { label, .. } if label == LABEL))
    }

    fn removed(actions: &[Action]) -> bool {
        actions
            .iter()
            .any(|a| matches!(a, Action::RemoveLabel { label, .. } if label == LABEL))
    }

    #[test]
    fn file_rules_follow_prow() {
        let none = BTreeSet::new();
        let f = check_files(
            &[
                changed("OWNERS", "reviewers: [a]\n", Some("approvers: [a]\n")),
                changed(
                    "sub/OWNERS",
                    "approvers: [b]\nlabels: [lgtm, sig/x, approved]\n",
                    None,
                ),
                changed("bad/OWNERS", "approvers: [a\n", None),
                changed("OWNERS_ALIASES", "aliases:\n  team: []\n", None),
            ],
            &deny(),
            &none,
        );
        let got: Vec<(&str, &str)> = f
            .problems
            .iter()
            .map(|p| (p.path.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(got[0], ("OWNERS", NO_ROOT_APPROVERS));
        assert_eq!(
            got[1],
            (
                "sub/OWNERS",
                "File contains banned labels: [approved lgtm]."
            )
        );
        assert_eq!(got[2].0, "bad/OWNERS");
        assert!(got[2].1.starts_with("Cannot parse file: "), "{}", got[2].1);
        assert_eq!(got.len(), 3);
        assert_eq!(f.advice, [EMPTY_ALIASES]);
        let bad = check_files(
            &[changed("OWNERS_ALIASES", "aliases: 3\n", None)],
            &deny(),
            &none,
        );
        assert_eq!(bad.problems[0].message, INVALID_ALIASES);
    }

    #[test]
    fn only_logins_the_pr_adds_and_not_aliases_are_new() {
        let aliases: BTreeSet<String> = ["sig-leads".to_string()].into();
        let f = check_files(
            &[
                changed(
                    "OWNERS",
                    "approvers: [Alice, newbie]\nreviewers: [sig-leads, '@Other']\n",
                    Some("approvers: [alice]\n"),
                ),
                changed(
                    "docs/OWNERS",
                    "filters:\n  '.*':\n    approvers: [newbie]\n",
                    None,
                ),
            ],
            &deny(),
            &aliases,
        );
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let new: Vec<(&str, Vec<&str>)> = f
            .new_logins
            .iter()
            .map(|(l, files)| (l.as_str(), files.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            new,
            [
                ("newbie", vec!["OWNERS", "docs/OWNERS"]),
                ("other", vec!["OWNERS"])
            ]
        );
    }

    #[tokio::test]
    async fn invalid_files_and_untrusted_users_label_and_comment() {
        let forge = MemoryForge::default();
        seed(
            &forge,
            &[
                (
                    "OWNERS",
                    "approvers: [alice, stranger]\n",
                    Some("approvers: [alice]\n"),
                ),
                ("sub/OWNERS", "approvers: [bob]\nlabels: [lgtm]\n", None),
            ],
        );
        forge.add_collaborators(&["bob"]);
        let actions = forge
            .run(&VerifyOwners, &pr_event(PrAction::Opened))
            .await
            .expect("handled");
        assert!(added(&actions));
        let problems = body(&actions, PROBLEMS_MARKER).expect("problems listed");
        assert!(
            problems.starts_with("1 invalid OWNERS file(s)\n\n- `sub/OWNERS`:\n  - File contains banned labels: [lgtm]."),
            "{problems}"
        );
        let untrusted = body(&actions, UNTRUSTED_MARKER).expect("untrusted listed");
        assert!(untrusted.starts_with(UNTRUSTED), "{untrusted}");
        assert!(
            untrusted.contains("\n- stranger\n") && !untrusted.contains("- bob"),
            "{untrusted}"
        );
        assert!(untrusted.contains("  - OWNERS"), "{untrusted}");
    }

    #[tokio::test]
    async fn fixed_files_remove_the_label_and_the_notices() {
        let forge = MemoryForge::default();
        seed(
            &forge,
            &[(
                "OWNERS",
                "approvers: [alice, bob]\n",
                Some("approvers: [alice]\n"),
            )],
        );
        forge.add_collaborators(&["bob"]);
        forge.set_labels(&[LABEL]);
        let actions = forge
            .run(&VerifyOwners, &comment_on_pr("someone", "/verify-owners"))
            .await
            .expect("handled");
        assert!(removed(&actions), "{actions:?}");
        assert!(actions.iter().any(|a| matches!(a,
            Action::DeleteBotComment { marker, adopt: Some(p), .. } if marker == UNTRUSTED_MARKER && p == UNTRUSTED)));
        assert!(actions.iter().any(
            |a| matches!(a, Action::DeleteBotComment { marker, .. } if marker == PROBLEMS_MARKER)
        ));
    }

    #[tokio::test]
    async fn skip_collaborators_skips_the_trust_check() {
        let forge = MemoryForge::default().with_owners_policy(crate::owners::OwnersPolicy {
            skip_collaborators: vec!["org/repo".into()],
            ..Default::default()
        });
        seed(&forge, &[("OWNERS", "approvers: [stranger]\n", None)]);
        let actions = forge
            .run(
                &VerifyOwners,
                &pr_event(PrAction::Synchronized { before: None }),
            )
            .await
            .expect("handled");
        assert!(!added(&actions), "{actions:?}");
        assert!(body(&actions, UNTRUSTED_MARKER).is_none());
    }

    #[tokio::test]
    async fn prs_without_owners_changes_or_label_are_left_alone() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.changed_files.push(ChangedFile {
                path: "src/OWNERS.md".into(),
                previous_path: None,
                additions: 1,
                deletions: 0,
            })
        });
        for ev in [
            pr_event(PrAction::Opened),
            comment_on_pr("x", "/verify-owners"),
            comment_on_pr("x", "please /verify-owners"),
            pr_event(PrAction::Edited),
        ] {
            assert!(forge.run(&VerifyOwners, &ev).await.expect("ok").is_empty());
        }
        // A deleted OWNERS file is not checked.
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.changed_files.push(ChangedFile {
                path: "OWNERS".into(),
                previous_path: None,
                additions: 0,
                deletions: 3,
            });
            s.commits.insert("head0".into(), BTreeMap::new());
        });
        let actions = forge
            .run(&VerifyOwners, &pr_event(PrAction::Opened))
            .await
            .expect("ok");
        assert!(actions.is_empty(), "{actions:?}");
    }

    #[test]
    fn settings_are_checked() {
        assert!(
            VerifyOwners
                .check_settings(&serde_json::json!({"labels_denylist": ["approved"]}))
                .is_ok()
        );
        assert!(
            VerifyOwners
                .check_settings(&serde_json::json!({"labels_denylist": "approved"}))
                .is_err()
        );
        assert!(
            VerifyOwners
                .check_settings(&serde_json::json!({"x": 1}))
                .is_err()
        );
    }
}
