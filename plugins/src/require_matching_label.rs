//! `require-matching-label`: configured rules "a pull request or issue here must carry a label
//! matching `regexp`, else it gets `missing_label` and the comment `missing_comment`" (Prow's
//! `require_matching_label`). Runs when an issue or PR is opened, reopened, labeled or
//! unlabeled. No matching label and no `missing_label` → the label is added and the comment
//! posted; a matching label while `missing_label` is present → the label is removed. No command.
//!
//! The grace period (`grace_period`, default `5s`) lets other automation label a new item
//! first (the label plugin reading `/kind bug` from the description in the same delivery):
//! on `opened` the plugin decides nothing and asks for a delayed look
//! ([`Action::LookAgain`]), a delivery of its own that the queue runs no earlier than the
//! grace period later, without holding a worker; the rules are applied on that look, to the
//! labels the item has then.
//!
//! Differences from Prow: the comment is one notice per missing label, edited in place, so it
//! is never posted twice (Prow posts it again each time it adds the label). A rule's `org`
//! and `repo` are optional filters on top of the settings' scope (`[settings.
//! require-matching-label."org"]`), so Prow's list can be carried over as it is.

use crate::reply::format_simple;
use crate::{
    Action, Context, Event, IssueAction, ItemKind, ItemRef, Plugin, PluginError, PluginHelp,
    PrAction,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::time::Duration;

/// The grace period when a rule names none (Prow's default).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// The longest grace period accepted: the delayed look holds the item's queue meanwhile.
pub const MAX_GRACE: Duration = Duration::from_secs(3600);

/// `[settings.require-matching-label."org"]` or `."org/repo"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequireMatchingLabelSettings {
    /// The rules, each checked on its own (default none).
    pub rules: Vec<Rule>,
}

/// One of Prow's `require_matching_label` entries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rule {
    /// Only in this org or group (default: wherever the settings apply).
    pub org: Option<String>,
    /// Only in this repository, by name within `org` or as `org/repo` (default: any).
    pub repo: Option<String>,
    /// Only PRs into this base branch (default: any; issues ignore it).
    pub branch: Option<String>,
    /// The rule applies to pull/merge requests (default false).
    pub prs: bool,
    /// The rule applies to issues (default false).
    pub issues: bool,
    /// A label matching this regular expression satisfies the rule (required).
    pub regexp: String,
    /// The label added while no label matches (required).
    pub missing_label: String,
    /// The comment posted when the label is added (default none).
    pub missing_comment: Option<String>,
    /// How long after `opened` to wait before deciding, as Go writes durations (`5s`,
    /// `1m30s`, `500ms`; default `5s`).
    pub grace_period: Option<String>,
}

impl Rule {
    /// The rule's grace period.
    pub fn grace(&self) -> Result<Duration, String> {
        match self.grace_period.as_deref().map(str::trim) {
            None | Some("") => Ok(DEFAULT_GRACE),
            Some(text) => parse_go_duration(text),
        }
    }

    /// Whether the rule is about this item (its kind, repository and, for PRs, base branch).
    pub fn applies(&self, item: &ItemRef, base_ref: Option<&str>) -> bool {
        let kind = match item.kind {
            ItemKind::PullRequest => self.prs,
            ItemKind::Issue => self.issues,
        };
        let org = self
            .org
            .as_deref()
            .is_none_or(|o| o.trim_matches('/').eq_ignore_ascii_case(item.repo.owner()));
        let repo = self.repo.as_deref().is_none_or(|r| {
            let r = r.trim_matches('/');
            r.eq_ignore_ascii_case(item.repo.as_str()) || r.eq_ignore_ascii_case(item.repo.name())
        });
        let branch = match (item.kind, self.branch.as_deref(), base_ref) {
            (ItemKind::PullRequest, Some(want), Some(base)) => want == base,
            _ => true,
        };
        kind && org && repo && branch
    }

    /// Checks the rule, compiling its regex.
    pub fn compile(&self) -> Result<Regex, String> {
        if self.missing_label.trim().is_empty() {
            return Err("missing_label must not be empty".into());
        }
        if !self.prs && !self.issues {
            return Err("the rule applies to nothing: set prs or issues (or both)".into());
        }
        let grace = self.grace()?;
        if grace > MAX_GRACE {
            return Err(format!(
                "grace_period {:?} is longer than an hour",
                self.grace_period.as_deref().unwrap_or_default()
            ));
        }
        if self.regexp.is_empty() {
            return Err("regexp must not be empty".into());
        }
        Regex::new(&self.regexp).map_err(|e| format!("regexp {:?}: {e}", self.regexp))
    }
}

/// Go's `time.ParseDuration` for what configurations use: a sequence of decimal numbers with
/// units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h` (`1h30m`, `1.5s`, `0`).
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like 5s, 1m30s or 500ms");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// The notice's marker for one missing label, so each rule keeps one comment.
pub fn marker(missing_label: &str) -> String {
    format!("require-matching-label:{}", missing_label.to_lowercase())
}

/// What an event asks of the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A new item: wait for the grace period first.
    Opened,
    /// Labels may have changed (reopened, labeled, unlabeled, a delayed look): decide now.
    Check,
}

/// The item, its base branch (PRs) and why the event matters.
fn trigger(event: &Event) -> Option<(&ItemRef, Option<&str>, Trigger)> {
    match event {
        Event::PullRequest(p) => {
            let why = match p.action {
                PrAction::Opened => Trigger::Opened,
                PrAction::Reopened
                | PrAction::Labeled { .. }
                | PrAction::Unlabeled { .. }
                | PrAction::Resync => Trigger::Check,
                _ => return None,
            };
            Some((&p.pr.reference, Some(p.base_ref.as_str()), why))
        }
        Event::Issue(i) => {
            let why = match i.action {
                IssueAction::Opened => Trigger::Opened,
                IssueAction::Reopened
                | IssueAction::Labeled
                | IssueAction::Unlabeled
                | IssueAction::Resync => Trigger::Check,
                _ => return None,
            };
            Some((&i.issue.reference, None, why))
        }
        _ => None,
    }
}

/// The actions for one rule given the item's labels now.
pub fn decide(
    rule: &Rule,
    regex: &Regex,
    item: &ItemRef,
    labels: &[String],
    help_url: &str,
) -> Vec<Action> {
    let matched = labels.iter().any(|l| regex.is_match(l));
    let missing = labels
        .iter()
        .any(|l| l.eq_ignore_ascii_case(rule.missing_label.trim()));
    let mut out = Vec::new();
    if matched && missing {
        out.push(Action::RemoveLabel {
            item: item.clone(),
            label: rule.missing_label.trim().to_string(),
        });
    } else if !matched && !missing {
        out.push(Action::AddLabel {
            item: item.clone(),
            label: rule.missing_label.trim().to_string(),
        });
        if let Some(comment) = rule
            .missing_comment
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        {
            out.push(Action::UpsertBotComment {
                item: item.clone(),
                marker: marker(&rule.missing_label),
                body: format_simple(comment, help_url),
                adopt: None,
            });
        }
    }
    out
}

/// The require-matching-label plugin.
pub struct RequireMatchingLabel;

#[async_trait]
impl Plugin for RequireMatchingLabel {
    fn name(&self) -> &'static str {
        "require-matching-label"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Requires pull requests and issues to carry a label matching a configured pattern (a `kind/*` label, say): while none matches, the configured label (`needs-kind`) is added with a comment explaining what is missing; it is removed once a matching label is there. New items get a grace period first, so labels other plugins add from the description count.",
            commands: vec![],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        let parsed: RequireMatchingLabelSettings = if settings.is_null() {
            RequireMatchingLabelSettings::default()
        } else {
            serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?
        };
        for (i, rule) in parsed.rules.iter().enumerate() {
            rule.compile().map_err(|e| format!("rules[{i}]: {e}"))?;
        }
        Ok(())
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Some((item, base_ref, why)) = trigger(event) else {
            return Ok(vec![]);
        };
        let settings: RequireMatchingLabelSettings = cx.settings()?;
        let mut rules = Vec::new();
        for rule in settings.rules.iter().filter(|r| r.applies(item, base_ref)) {
            let regex = rule.compile().map_err(PluginError::Config)?;
            rules.push((rule, regex, rule.grace().map_err(PluginError::Config)?));
        }
        if rules.is_empty() {
            return Ok(vec![]);
        }
        if why == Trigger::Opened {
            let grace = rules.iter().map(|(_, _, g)| *g).max().unwrap_or_default();
            if !grace.is_zero() {
                return Ok(vec![Action::LookAgain {
                    item: item.clone(),
                    after_ms: u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                }]);
            }
        }
        let labels = cx.forge.labels(item).await?;
        Ok(rules
            .iter()
            .flat_map(|(rule, regex, _)| decide(rule, regex, item, &labels, cx.help_url))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, pr_event};
    use crate::{IssueEvent, Login};

    fn settings(grace: &str) -> serde_json::Value {
        serde_json::json!({"rules": [{
            "prs": true,
            "issues": true,
            "regexp": "^kind/",
            "missing_label": "needs-kind",
            "missing_comment": "Please add a `/kind` label.",
            "grace_period": grace,
        }]})
    }

    fn issue_event(action: IssueAction) -> Event {
        let Event::PullRequest(p) = pr_event(PrAction::Opened) else {
            unreachable!("pr_event builds a PR event")
        };
        let mut issue = p.pr;
        issue.reference.kind = ItemKind::Issue;
        Event::Issue(IssueEvent {
            issue,
            action,
            sender: Login::new("someone"),
        })
    }

    #[test]
    fn go_durations_parse() {
        for (text, ms) in [
            ("5s", 5000),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("1.5s", 1500),
            ("1h", 3_600_000),
            ("0", 0),
            ("0s", 0),
        ] {
            assert_eq!(
                parse_go_duration(text).map(|d| d.as_millis()),
                Ok(ms),
                "{text}"
            );
        }
        for bad in ["", "5", "s", "5x", "-1s", "1..2s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn opened_waits_for_the_grace_period() {
        let forge = MemoryForge::default();
        let actions = forge
            .run_with(
                &RequireMatchingLabel,
                &pr_event(PrAction::Opened),
                &settings("2s"),
            )
            .await
            .expect("ok");
        assert_eq!(
            actions,
            [Action::LookAgain {
                item: forge.pr_ref(),
                after_ms: 2000
            }]
        );
        let issue = forge
            .run_with(
                &RequireMatchingLabel,
                &issue_event(IssueAction::Opened),
                &settings(""),
            )
            .await
            .expect("ok");
        assert!(
            matches!(&issue[..], [Action::LookAgain { after_ms: 5000, item }] if item.kind == ItemKind::Issue)
        );
    }

    #[tokio::test]
    async fn no_matching_label_adds_the_label_and_one_comment() {
        let forge = MemoryForge::default();
        forge.set_labels(&["size/XS"]);
        for ev in [
            pr_event(PrAction::Resync),
            pr_event(PrAction::Unlabeled {
                label: "kind/bug".into(),
            }),
            issue_event(IssueAction::Resync),
        ] {
            let actions = forge
                .run_with(&RequireMatchingLabel, &ev, &settings("5s"))
                .await
                .expect("ok");
            assert!(matches!(&actions[0], Action::AddLabel { label, .. } if label == "needs-kind"));
            assert!(matches!(&actions[1],
                Action::UpsertBotComment { marker, body, .. }
                    if marker == "require-matching-label:needs-kind" && body.starts_with("Please add a `/kind` label.")));
        }
        // Already labeled missing: nothing again.
        forge.set_labels(&["needs-kind"]);
        let actions = forge
            .run_with(
                &RequireMatchingLabel,
                &pr_event(PrAction::Resync),
                &settings("5s"),
            )
            .await
            .expect("ok");
        assert!(actions.is_empty(), "{actions:?}");
    }

    #[tokio::test]
    async fn a_matching_label_removes_the_missing_label() {
        let forge = MemoryForge::default();
        forge.set_labels(&["needs-kind", "kind/bug"]);
        let actions = forge
            .run_with(
                &RequireMatchingLabel,
                &pr_event(PrAction::Labeled {
                    label: "kind/bug".into(),
                }),
                &settings("5s"),
            )
            .await
            .expect("ok");
        assert!(
            matches!(&actions[..], [Action::RemoveLabel { label, .. }] if label == "needs-kind")
        );
        // Zero grace decides on opened at once.
        forge.set_labels(&["kind/bug"]);
        let actions = forge
            .run_with(
                &RequireMatchingLabel,
                &pr_event(PrAction::Opened),
                &settings("0s"),
            )
            .await
            .expect("ok");
        assert!(actions.is_empty(), "{actions:?}");
    }

    #[tokio::test]
    async fn rules_apply_by_kind_repo_and_branch() {
        let forge = MemoryForge::default();
        let only = |extra: serde_json::Value| {
            let mut s = settings("0s");
            for (k, v) in extra.as_object().cloned().unwrap_or_default() {
                s["rules"][0][k] = v;
            }
            s
        };
        for (extra, applies) in [
            (serde_json::json!({"prs": false}), false),
            (serde_json::json!({"branch": "release"}), false),
            (serde_json::json!({"branch": "main"}), true),
            (serde_json::json!({"org": "other"}), false),
            (serde_json::json!({"org": "org", "repo": "repo"}), true),
            (serde_json::json!({"repo": "org/elsewhere"}), false),
        ] {
            let actions = forge
                .run_with(
                    &RequireMatchingLabel,
                    &pr_event(PrAction::Resync),
                    &only(extra.clone()),
                )
                .await
                .expect("ok");
            assert_eq!(!actions.is_empty(), applies, "{extra}");
        }
    }

    #[test]
    fn settings_are_checked() {
        let check = |v: serde_json::Value| RequireMatchingLabel.check_settings(&v);
        assert!(check(settings("5s")).is_ok());
        assert!(check(serde_json::Value::Null).is_ok());
        let mut bad = settings("5s");
        bad["rules"][0]["regexp"] = "(".into();
        assert!(check(bad).unwrap_err().starts_with("rules[0]: regexp"));
        assert!(check(settings("soon")).is_err());
        assert!(check(settings("2h")).is_err());
        let mut neither = settings("5s");
        neither["rules"][0]["prs"] = false.into();
        neither["rules"][0]["issues"] = false.into();
        assert!(check(neither).is_err());
        assert!(check(serde_json::json!({"rules": [{"regexp": "x", "missing_label": "y", "prs": true, "nope": 1}]})).is_err());
    }
}
