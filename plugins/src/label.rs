//! `label`: `/kind`, `/area`, `/priority`, `/triage`, `/sig`, `/committee`, `/language`, `/wg`
//! (the set is configurable) add `<prefix>/<value>` labels, `/remove-<prefix>` removes them, and
//! `/label x` / `/remove-label x` handle configured extra labels (Prow §3.4). Commands are
//! case-sensitive, values lower-cased; labels must exist in the repository; restricted labels
//! need an allowed user or team; `triage/accepted` needs an org member. When a comment removes
//! every label of a category and the repo has `needs-<category>`, that label is added. One reply
//! names what could not be done.
//!
//! Differences from Prow: GitLab runs `/label` itself, so there bosun reads `/bosun-label`
//! (`/remove-label` and the category commands are bosun's on both forges).

use crate::command::{command_text, strip_html_comments};
use crate::reply::format_response;
use crate::{
    Action, CommandHelp, CommentEvent, Context, Event, ForgeKind, Login, Plugin, PluginError,
    PluginHelp,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

/// Prow's default categories.
pub const DEFAULT_PREFIXES: [&str; 8] = [
    "area",
    "committee",
    "kind",
    "language",
    "priority",
    "sig",
    "triage",
    "wg",
];
const NEEDS_CATEGORIES: [&str; 4] = ["kind", "priority", "sig", "triage"];

/// A label only some people may set.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestrictedLabel {
    pub label: String,
    /// Team slugs (in the repo's org) whose members may set it.
    pub allowed_teams: Vec<String>,
    /// Users who may set it.
    pub allowed_users: Vec<String>,
}

/// `[settings.label."org/repo"]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelSettings {
    /// Categories for `/<category> value`. Default Prow's eight.
    pub prefixes: Vec<String>,
    /// Labels `/label` may add. Default none.
    pub additional_labels: Vec<String>,
    /// Labels restricted to some users or teams (also usable with `/label`). Default none.
    pub restricted_labels: Vec<RestrictedLabel>,
}

impl Default for LabelSettings {
    fn default() -> Self {
        LabelSettings {
            prefixes: DEFAULT_PREFIXES.iter().map(|s| s.to_string()).collect(),
            additional_labels: vec![],
            restricted_labels: vec![],
        }
    }
}

/// What a comment asks.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Requests {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// `/label` lines whose label is not configured.
    pub unsupported: Vec<String>,
}

/// The four label regexes for the default prefixes, compiled once: compiling them for every
/// comment cost more than reading the comment (and made the command fuzzer crawl).
static DEFAULT_REGEXES: LazyLock<(Regex, Regex, Regex, Regex)> = LazyLock::new(|| {
    let defaults: Vec<String> = DEFAULT_PREFIXES.iter().map(|s| s.to_string()).collect();
    compile_regexes(&defaults).expect("static regex")
});

fn regexes(prefixes: &[String]) -> Result<(Regex, Regex, Regex, Regex), PluginError> {
    if prefixes.iter().eq(DEFAULT_PREFIXES.iter()) {
        // `Regex` clones share the compiled program.
        return Ok(DEFAULT_REGEXES.clone());
    }
    compile_regexes(prefixes)
}

fn compile_regexes(prefixes: &[String]) -> Result<(Regex, Regex, Regex, Regex), PluginError> {
    let alternatives = prefixes
        .iter()
        .map(|p| regex::escape(p))
        .collect::<Vec<_>>()
        .join("|");
    let s = crate::command::GO_SPACE;
    let build =
        |pattern: String| Regex::new(&pattern).map_err(|e| PluginError::Config(e.to_string()));
    Ok((
        build(format!(r"(?m)^/({alternatives}){s}*(.*?){s}*$"))?,
        build(format!(r"(?m)^/remove-({alternatives}){s}*(.*?){s}*$"))?,
        build(format!(r"(?m)^/label{s}*(.*?){s}*$"))?,
        build(format!(r"(?m)^/remove-label{s}*(.*?){s}*$"))?,
    ))
}

/// Reads every label command of a comment.
pub fn parse(text: &str, settings: &LabelSettings) -> Result<Requests, PluginError> {
    let text = strip_html_comments(text);
    let (add, remove, custom_add, custom_remove) = regexes(&settings.prefixes)?;
    let mut r = Requests::default();
    let prefixed = |re: &Regex, out: &mut Vec<String>| {
        for caps in re.captures_iter(&text) {
            let (Some(prefix), Some(line)) = (caps.get(1), caps.get(0)) else {
                continue;
            };
            // Prow splits the whole matched line on single spaces and skips the command itself.
            for token in line
                .as_str()
                .trim_end_matches(['\r', '\n', ' ', '\t'])
                .split(' ')
                .skip(1)
            {
                out.push(format!(
                    "{}/{}",
                    prefix.as_str(),
                    token.to_ascii_lowercase()
                ));
            }
        }
    };
    prefixed(&add, &mut r.add);
    prefixed(&remove, &mut r.remove);
    let configured = |label: &str| {
        settings
            .additional_labels
            .iter()
            .any(|l| l.eq_ignore_ascii_case(label))
            || settings
                .restricted_labels
                .iter()
                .any(|l| l.label.eq_ignore_ascii_case(label))
    };
    for (re, adding) in [(&custom_add, true), (&custom_remove, false)] {
        for caps in re.captures_iter(&text) {
            let Some(line) = caps.get(0) else { continue };
            let parts: Vec<&str> = line.as_str().trim_end().split(' ').collect();
            if parts.len() != 2 {
                continue;
            }
            let label = parts[1].to_ascii_lowercase();
            if configured(&label) {
                if adding {
                    r.add.push(label)
                } else {
                    r.remove.push(label)
                }
            } else {
                r.unsupported.push(line.as_str().trim_end().to_string());
            }
        }
    }
    Ok(r)
}

/// What the forge says, read before deciding.
pub struct Facts<'a> {
    pub comment: &'a CommentEvent,
    pub current: Vec<String>,
    pub repo_labels: Vec<String>,
    pub is_org_member: bool,
    /// Restricted labels this commenter may set.
    pub allowed_restricted: Vec<String>,
    pub settings: &'a LabelSettings,
    pub help_url: &'a str,
}

fn has(list: &[String], l: &str) -> bool {
    list.iter().any(|x| x.eq_ignore_ascii_case(l))
}

/// Prow's rules, purely: adds before removes, at most one summary reply.
pub fn decide(r: &Requests, f: &Facts<'_>) -> Vec<Action> {
    let c = f.comment;
    let item = c.item.reference.clone();
    let restricted = |l: &str| {
        f.settings
            .restricted_labels
            .iter()
            .find(|x| x.label.eq_ignore_ascii_case(l))
    };
    let (mut actions, mut missing, mut not_set, mut forbidden) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut triage_refused = false;
    for label in &r.add {
        if has(&f.current, label) {
            continue;
        }
        let Some(canonical) = f.repo_labels.iter().find(|x| x.eq_ignore_ascii_case(label)) else {
            missing.push(label.clone());
            continue;
        };
        if label == "triage/accepted" && !f.is_org_member {
            triage_refused = true;
            continue;
        }
        if let Some(rule) = restricted(label)
            && !has(&f.allowed_restricted, &rule.label)
        {
            forbidden.push((label.clone(), rule.clone()));
            continue;
        }
        actions.push(Action::AddLabel {
            item: item.clone(),
            label: canonical.clone(),
        });
    }
    let mut removed = Vec::new();
    for label in &r.remove {
        let Some(present) = f.current.iter().find(|x| x.eq_ignore_ascii_case(label)) else {
            not_set.push(label.clone());
            continue;
        };
        if !has(&f.repo_labels, label) {
            continue;
        }
        if let Some(rule) = restricted(label)
            && !has(&f.allowed_restricted, &rule.label)
        {
            forbidden.push((label.clone(), rule.clone()));
            continue;
        }
        removed.push(present.clone());
        actions.push(Action::RemoveLabel {
            item: item.clone(),
            label: present.clone(),
        });
    }
    for cat in NEEDS_CATEGORIES {
        let prefix = format!("{cat}/");
        let needs = format!("needs-{cat}");
        let removes_some = removed
            .iter()
            .any(|l| l.to_ascii_lowercase().starts_with(&prefix));
        let adds_none = !r.add.iter().any(|l| l.starts_with(&prefix));
        let covers_all = f
            .current
            .iter()
            .filter(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .all(|l| has(&removed, l));
        if removes_some
            && adds_none
            && covers_all
            && has(&f.repo_labels, &needs)
            && !has(&f.current, &needs)
        {
            actions.push(Action::AddLabel {
                item: item.clone(),
                label: needs,
            });
        }
    }
    let reply = |text: String| Action::Comment {
        item: item.clone(),
        body: format_response(&c.author, &text, &c.body, &c.html_url, f.help_url),
    };
    if let Some((label, rule)) = forbidden.first() {
        let mut text = format!(
            "The label(s) `{label}` cannot be applied or removed, because you are not in one of the allowed teams and are not an allowed user."
        );
        if !rule.allowed_teams.is_empty() {
            text.push_str(&format!(
                " Must be a member of one of these teams: {}",
                rule.allowed_teams.join(", ")
            ));
        } else if !rule.allowed_users.is_empty() {
            text.push_str(&format!(
                " Consider assigning one of the following members: {}",
                rule.allowed_users
                    .iter()
                    .take(20)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        actions.push(reply(text));
    } else if !r.unsupported.is_empty() {
        let mut supported: Vec<String> = f.settings.additional_labels.clone();
        supported.extend(f.settings.restricted_labels.iter().map(|l| l.label.clone()));
        actions.push(reply(format!(
            "The label(s) `{}` cannot be applied. These labels are supported: `{}`. Is this label configured under `additional_labels` or `restricted_labels` in bosun's `[settings.label]`?",
            r.unsupported.join(", "),
            supported.join(", ")
        )));
    } else if !missing.is_empty() {
        actions.push(reply(format!(
            "The label(s) `{}` cannot be applied, because the repository doesn't have them.",
            missing.join(", ")
        )));
    } else if !not_set.is_empty() {
        actions.push(reply(format!(
            "Those labels are not set on the issue: `{}`",
            not_set.join(", ")
        )));
    } else if triage_refused {
        actions.push(reply(triage_refusal(item.forge).into()));
    }
    actions
}

/// Prow's reply to a `/triage accepted` from someone outside the org (§3.4); on GitLab the
/// org is the group.
pub fn triage_refusal(forge: ForgeKind) -> &'static str {
    match forge {
        ForgeKind::GitHub => {
            "The label `triage/accepted` cannot be applied. Only GitHub organization members can add the label."
        }
        ForgeKind::GitLab => {
            "The label `triage/accepted` cannot be applied. Only GitLab group members can add the label."
        }
    }
}

/// The label plugin.
pub struct Label;

#[async_trait]
impl Plugin for Label {
    fn name(&self) -> &'static str {
        "label"
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<LabelSettings>(settings)?;
        let parsed: LabelSettings =
            serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?;
        regexes(&parsed.prefixes)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Adds and removes labels by category (kind, area, priority, triage, sig …) and configured extra labels.",
            commands: vec![
                CommandHelp {
                    usage: "/[remove-](area|committee|kind|language|priority|sig|triage|wg) <value>",
                    description: "Adds or removes `<category>/<value>` labels; the labels must exist in the repository.",
                    examples: vec![
                        "/kind bug",
                        "/remove-kind bug",
                        "/area ui api",
                        "/priority critical-urgent",
                    ],
                    who_can_use: "Anyone; `triage/accepted` only org members; restricted labels only their allowed users and teams.",
                    forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
                },
                CommandHelp {
                    usage: "/[remove-]label <label>",
                    description: "Adds or removes a label configured as additional or restricted. On GitLab: /bosun-label (GitLab runs /label itself).",
                    examples: vec![
                        "/label tide/merge-method-squash",
                        "/remove-label tide/merge-method-squash",
                    ],
                    who_can_use: "Anyone for additional labels; restricted labels only their allowed users and teams.",
                    forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
                },
            ],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        let settings: LabelSettings = cx.settings()?;
        let requests = parse(&command_text(c), &settings)?;
        if requests == Requests::default() {
            return Ok(vec![]);
        }
        let item = &c.item.reference;
        let current = cx.forge.labels(item).await?;
        let repo_labels = cx.forge.repo_labels(&item.repo).await?;
        let wants_triage = requests.add.iter().any(|l| l == "triage/accepted");
        let is_org_member =
            wants_triage && cx.forge.is_org_member(item.repo.owner(), &c.author).await?;
        let mut allowed_restricted = Vec::new();
        for rule in &settings.restricted_labels {
            let touched = requests
                .add
                .iter()
                .chain(&requests.remove)
                .any(|l| l.eq_ignore_ascii_case(&rule.label));
            if touched && allowed(cx, rule, &item.repo, &c.author).await? {
                allowed_restricted.push(rule.label.clone());
            }
        }
        let facts = Facts {
            comment: c,
            current,
            repo_labels,
            is_org_member,
            allowed_restricted,
            settings: &settings,
            help_url: cx.help_url,
        };
        Ok(decide(&requests, &facts))
    }
}

async fn allowed(
    cx: &Context<'_>,
    rule: &RestrictedLabel,
    repo: &crate::RepoPath,
    user: &Login,
) -> Result<bool, PluginError> {
    if rule.allowed_users.iter().any(|u| Login::new(u) == *user) {
        return Ok(true);
    }
    for team in &rule.allowed_teams {
        if cx.forge.is_team_member(repo.owner(), team, user).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr, pr_ref};

    fn forge_with_labels(repo: &[&str], current: &[&str]) -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| s.repo_labels = repo.iter().map(|s| s.to_string()).collect());
        forge.set_labels(current);
        forge
    }

    fn added(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::AddLabel { label, .. } => Some(label.clone()),
                _ => None,
            })
            .collect()
    }
    fn removed(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::RemoveLabel { label, .. } => Some(label.clone()),
                _ => None,
            })
            .collect()
    }
    fn reply(actions: &[Action]) -> Option<String> {
        actions.iter().find_map(|a| match a {
            Action::Comment { body, .. } => Some(body.clone()),
            _ => None,
        })
    }

    #[test]
    fn parses_prefixed_commands_like_prow() {
        let s = LabelSettings::default();
        assert_eq!(
            parse("/kind bug feature", &s).expect("ok").add,
            vec!["kind/bug", "kind/feature"]
        );
        assert_eq!(parse("/kind BuG", &s).expect("ok").add, vec!["kind/bug"]);
        assert_eq!(
            parse("/kind  bug", &s).expect("ok").add,
            vec!["kind/", "kind/bug"],
            "a double space yields an empty token"
        );
        assert_eq!(
            parse("/KIND bug", &s).expect("ok"),
            Requests::default(),
            "commands are case-sensitive"
        );
        assert_eq!(
            parse("/remove-area ui", &s).expect("ok").remove,
            vec!["area/ui"]
        );
        assert_eq!(
            parse("<!-- /kind bug -->", &s).expect("ok"),
            Requests::default()
        );
        assert_eq!(
            parse("/label foo", &s).expect("ok").unsupported,
            vec!["/label foo"]
        );
        let custom = LabelSettings {
            additional_labels: vec!["foo".into()],
            ..LabelSettings::default()
        };
        assert_eq!(parse("/label Foo", &custom).expect("ok").add, vec!["foo"]);
        assert_eq!(
            parse("/label foo bar", &custom).expect("ok"),
            Requests::default(),
            "exactly one argument"
        );
    }

    /// Prow label: `/kind bug` adds `kind/bug` when the repo has it.
    #[tokio::test]
    async fn adds_an_existing_label() {
        let forge = forge_with_labels(&["kind/bug"], &[]);
        let actions = forge
            .run(&Label, &comment_on_pr("anyone", "/kind bug"))
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![Action::AddLabel {
                item: pr_ref(),
                label: "kind/bug".into()
            }]
        );
    }

    /// Prow label: a label the repo lacks is refused with one reply.
    #[tokio::test]
    async fn missing_labels_are_named() {
        let forge = forge_with_labels(&[], &[]);
        let actions = forge
            .run(&Label, &comment_on_pr("anyone", "/kind bug\n/area x"))
            .await
            .expect("handled");
        assert!(added(&actions).is_empty());
        assert!(reply(&actions).expect("reply").contains("The label(s) `kind/bug, area/x` cannot be applied, because the repository doesn't have them."));
    }

    /// Prow label: removing an absent label is reported; adds run before removes.
    #[tokio::test]
    async fn removal_rules() {
        let forge = forge_with_labels(&["area/x", "kind/bug"], &["area/x"]);
        let actions = forge
            .run(&Label, &comment_on_pr("anyone", "/remove-kind bug"))
            .await
            .expect("handled");
        assert!(
            reply(&actions)
                .expect("reply")
                .contains("Those labels are not set on the issue: `kind/bug`")
        );
        let actions = forge
            .run(&Label, &comment_on_pr("anyone", "/remove-area x\n/area x"))
            .await
            .expect("handled");
        assert_eq!(
            removed(&actions),
            vec!["area/x"],
            "already present, so the add is skipped and the remove wins"
        );
    }

    /// Prow label: removing every label of a category adds `needs-<category>` when the repo has it.
    #[tokio::test]
    async fn needs_category_after_removing_the_last() {
        let forge = forge_with_labels(&["kind/bug", "needs-kind"], &["kind/bug"]);
        let actions = forge
            .run(&Label, &comment_on_pr("anyone", "/remove-kind bug"))
            .await
            .expect("handled");
        assert_eq!(added(&actions), vec!["needs-kind"]);
    }

    /// Prow label: `triage/accepted` only for org members.
    #[tokio::test]
    async fn triage_accepted_needs_an_org_member() {
        let forge = forge_with_labels(&["triage/accepted"], &[]);
        let actions = forge
            .run(&Label, &comment_on_pr("outsider", "/triage accepted"))
            .await
            .expect("handled");
        assert!(
            reply(&actions)
                .expect("reply")
                .contains("Only GitHub organization members can add the label.")
        );
        forge.with(|s| s.org_members.insert(Login::new("member")));
        let actions = forge
            .run(&Label, &comment_on_pr("member", "/triage accepted"))
            .await
            .expect("handled");
        assert_eq!(added(&actions), vec!["triage/accepted"]);
    }

    /// Prow label: restricted labels only for allowed users or teams.
    #[tokio::test]
    async fn restricted_labels() {
        let forge = forge_with_labels(&["cherry-pick-approved"], &[]);
        let settings = serde_json::json!({"restricted_labels": [{"label": "cherry-pick-approved", "allowed_teams": ["release"], "allowed_users": ["boss"]}]});
        let ev = |who: &str| comment_on_pr(who, "/label cherry-pick-approved");
        let actions = forge
            .run_with(&Label, &ev("someone"), &settings)
            .await
            .expect("handled");
        assert!(
            reply(&actions)
                .expect("reply")
                .contains("Must be a member of one of these teams: release")
        );
        assert_eq!(
            added(
                &forge
                    .run_with(&Label, &ev("boss"), &settings)
                    .await
                    .expect("handled")
            ),
            vec!["cherry-pick-approved"]
        );
        forge.with(|s| {
            s.teams
                .insert("release".into(), [Login::new("rm")].into_iter().collect())
        });
        assert_eq!(
            added(
                &forge
                    .run_with(&Label, &ev("rm"), &settings)
                    .await
                    .expect("handled")
            ),
            vec!["cherry-pick-approved"]
        );
    }

    /// Prow label: an unconfigured `/label` lists what is supported.
    #[tokio::test]
    async fn unsupported_custom_label() {
        let forge = forge_with_labels(&["foo"], &[]);
        let settings = serde_json::json!({"additional_labels": ["bar"]});
        let actions = forge
            .run_with(&Label, &comment_on_pr("x", "/label foo"), &settings)
            .await
            .expect("handled");
        assert!(reply(&actions).expect("reply").contains(
            "The label(s) `/label foo` cannot be applied. These labels are supported: `bar`."
        ));
    }
}
