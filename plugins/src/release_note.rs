//! `release-note`: a pull/merge request's description carries its release note in a
//! ```` ```release-note ```` block, and its labels say which kind it has (Prow's releasenote):
//! `release-note` for a note, `release-note-none` for a block reading `NONE` (or `no`, any
//! case, with punctuation around), `release-note-action-required` for a note containing
//! `action required`, and `do-not-merge/release-note-label-needed` while the block is empty or
//! missing. Exactly one of the four is kept. While the needs label is on, one comment explains
//! it; once a note is given it is deleted. A PR labelled `kind/deprecation` needs a real note:
//! a `NONE` block or `/release-note-none` does not do there.
//!
//! Runs when a PR is opened, edited (its description), marked ready for review, or labelled
//! with one of the four labels, as Prow. `/release-note-none` (a comment on an open or closed
//! PR) sets `release-note-none` when the block is empty or `NONE`: the PR's author, org
//! members (GitLab: group members) and collaborators may use it, and the command keeps
//! counting on later events. `/release-note` and `/release-note-action-required` only answer
//! that they are deprecated, as in Prow.
//!
//! Differences from Prow: collaborators may use `/release-note-none` too (Prow: author and
//! org members), and on later events only such people's `/release-note-none` counts (Prow
//! counts anyone's). `/release-note-edit` is not offered (bosun does not edit descriptions),
//! nor Prow's exemption for cherry-picks whose parents have notes. The notice is one comment
//! kept up to date (Prow's own on the same account is taken over).

use crate::command::{GO_SPACE, command_lines, command_text};
use crate::reply::{format_response, format_simple};
use crate::{
    Action, CommandHelp, CommentAction, CommentEvent, CommentSource, Context, Event, ForgeKind,
    ItemRef, ItemState, Login, Plugin, PluginError, PluginHelp, PrAction,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

/// A PR with a release note.
pub const RELEASE_NOTE: &str = "release-note";
/// A PR that needs no release note.
pub const NONE: &str = "release-note-none";
/// A PR whose note asks users to act when they upgrade.
pub const ACTION_REQUIRED: &str = "release-note-action-required";
/// A PR whose note is still missing.
pub const NEEDED: &str = "do-not-merge/release-note-label-needed";
/// The label that makes a real note necessary.
pub const DEPRECATION: &str = "kind/deprecation";
/// Every label this plugin manages.
pub const ALL: [&str; 4] = [NONE, ACTION_REQUIRED, NEEDED, RELEASE_NOTE];
/// How Prow's notice opens; its notices on the same account are found by it.
pub const NOTICE_PREFIX: &str = "Adding the \"do-not-merge/release-note-label-needed\" label";
/// The name of bosun's notice.
const MARKER: &str = "release-note";

static BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?s)(?:Release note\*\*:{GO_SPACE}*(?:<!--[^<>]*-->{GO_SPACE}*)?```(?:release-note)?|```release-note)(.+?)```"
    ))
    .expect("static regex")
});
static NONE_NOTE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^[^0-9A-Za-z_]*(NONE|NO)[^0-9A-Za-z_]*$").expect("static"));
static NONE_CMD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?mi)^/release-note-none{GO_SPACE}*$")).expect("static regex")
});
static DEPRECATED_CMD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?mi)^/release-note(-action-required)?{GO_SPACE}*$"
    ))
    .expect("static regex")
});

/// `[settings.release-note."org"]`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReleaseNoteSettings {
    /// The page explaining the release note process, linked from the notice (default: the
    /// Kubernetes guide, as Prow's configuration suggests).
    pub url: Option<String>,
}

/// The guide linked when no `url` is configured.
pub const DEFAULT_URL: &str = "https://git.k8s.io/community/contributors/guide/release-notes.md";

/// The release note in a description (Prow's `getReleaseNote`), trimmed; empty when none.
pub fn release_note(body: &str) -> &str {
    BLOCK
        .captures(body)
        .and_then(|c| c.get(1))
        .map_or("", |m| m.as_str().trim())
}

/// Prow's `determineReleaseNoteLabel`: the label the description and labels call for.
pub fn label_for(body: &str, labels: &[String]) -> &'static str {
    let note = release_note(body).to_lowercase();
    let has = |l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    let deprecation = has(DEPRECATION);
    let none = NONE_NOTE.is_match(&note);
    if note.is_empty() {
        // An earlier `/release-note-none` stands, except on a deprecation.
        if has(NONE) && !deprecation {
            NONE
        } else {
            NEEDED
        }
    } else if none {
        if deprecation { NEEDED } else { NONE }
    } else if note.contains("action required") {
        ACTION_REQUIRED
    } else {
        RELEASE_NOTE
    }
}

/// Prow's notice for a PR without a note (without its footer).
pub fn needed_notice(url: &str) -> String {
    format!(
        "Adding the \"{NEEDED}\" label because no release-note block was detected, please follow our [release note process]({url}) to remove it."
    )
}

/// Prow's notice for a deprecation without a note (without its footer).
pub fn deprecation_notice() -> String {
    format!(
        "Adding the \"{NEEDED}\" label and removing any existing \"{NONE}\" label because there is a \"{DEPRECATION}\" label on the PR."
    )
}

/// Sets `label` and removes the other release-note labels the PR has.
fn set_label(item: &ItemRef, label: &str, labels: &[String]) -> Vec<Action> {
    let has = |l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    let mut out = Vec::new();
    if !has(label) {
        out.push(Action::AddLabel {
            item: item.clone(),
            label: label.into(),
        });
    }
    out.extend(
        ALL.iter()
            .filter(|l| **l != label && has(l))
            .map(|l| Action::RemoveLabel {
                item: item.clone(),
                label: (*l).into(),
            }),
    );
    out
}

fn delete_notice(item: &ItemRef) -> Action {
    Action::DeleteBotComment {
        item: item.clone(),
        marker: MARKER.into(),
        adopt: Some(NOTICE_PREFIX.into()),
    }
}

fn upsert_notice(item: &ItemRef, text: &str, help_url: &str) -> Action {
    Action::UpsertBotComment {
        item: item.clone(),
        marker: MARKER.into(),
        body: format_simple(text, help_url),
        adopt: Some(NOTICE_PREFIX.into()),
    }
}

/// What the PR path decided from the description, the labels and (only when needed) whether
/// someone allowed has said `/release-note-none`.
pub struct PrFacts<'a> {
    /// The PR decided about.
    pub item: &'a ItemRef,
    /// Its description, holding the release-note block.
    pub body: &'a str,
    /// Its labels now.
    pub labels: &'a [String],
    /// A merged PR is never given the needs label.
    pub merged: bool,
    /// An allowed `/release-note-none` comment exists (read only when the note is missing).
    pub none_said: bool,
    /// The release note guide the notice links.
    pub url: &'a str,
    /// bosun's command-help page, for the notice's footer.
    pub help_url: &'a str,
}

/// Prow's `handlePR`, as actions.
pub fn decide_pr(f: &PrFacts<'_>) -> Vec<Action> {
    let has = |l: &str| f.labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    let mut label = label_for(f.body, f.labels);
    let mut out = Vec::new();
    if label == NEEDED {
        if f.merged {
            return vec![];
        }
        if has(DEPRECATION) {
            if !has(NEEDED) {
                out.push(upsert_notice(f.item, &deprecation_notice(), f.help_url));
            }
        } else if f.none_said {
            label = NONE;
        } else if !has(NEEDED) {
            out.push(upsert_notice(f.item, &needed_notice(f.url), f.help_url));
        }
    }
    out.extend(set_label(f.item, label, f.labels));
    if label != NEEDED {
        out.push(delete_notice(f.item));
    }
    out
}

/// Whether `user` may say `/release-note-none` on a PR `author` opened.
async fn may_say_none(
    cx: &Context<'_>,
    item: &ItemRef,
    author: &Login,
    user: &Login,
) -> Result<bool, PluginError> {
    Ok(user == author
        || cx.forge.is_org_member(item.repo.owner(), user).await?
        || cx.forge.is_collaborator(&item.repo, user).await?)
}

/// Whether an allowed person has said `/release-note-none` on the PR (bots never count).
async fn none_said(cx: &Context<'_>, item: &ItemRef, author: &Login) -> Result<bool, PluginError> {
    let comments = cx.forge.comments(item).await?;
    for c in comments {
        if cx.is_bot(&c.author) || !command_lines(&c.body).iter().any(|l| NONE_CMD.is_match(l)) {
            continue;
        }
        if may_say_none(cx, item, author, &c.author).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The PR events Prow's releasenote looks at.
fn handles(action: &PrAction) -> bool {
    match action {
        PrAction::Opened | PrAction::Edited | PrAction::ReadyForReview => true,
        PrAction::Labeled { label } => ALL.iter().any(|l| l.eq_ignore_ascii_case(label)),
        _ => false,
    }
}

/// The release-note plugin.
pub struct ReleaseNote;

impl ReleaseNote {
    async fn on_pr(
        &self,
        item: &ItemRef,
        cx: &Context<'_>,
        settings: &ReleaseNoteSettings,
    ) -> Result<Vec<Action>, PluginError> {
        let pr = cx.forge.pull_request(item).await?;
        let merged = pr.state == ItemState::Merged;
        let needs_comments = !merged
            && label_for(&pr.body, &pr.labels) == NEEDED
            && !pr
                .labels
                .iter()
                .any(|l| l.eq_ignore_ascii_case(DEPRECATION));
        let said = needs_comments && none_said(cx, item, &pr.author).await?;
        Ok(decide_pr(&PrFacts {
            item,
            body: &pr.body,
            labels: &pr.labels,
            merged,
            none_said: said,
            url: settings.url.as_deref().unwrap_or(DEFAULT_URL),
            help_url: cx.help_url,
        }))
    }

    async fn on_comment(
        &self,
        c: &CommentEvent,
        cx: &Context<'_>,
    ) -> Result<Vec<Action>, PluginError> {
        let text = command_text(c);
        let item = &c.item.reference;
        let reply = |msg: &str| Action::Comment {
            item: item.clone(),
            body: format_response(&c.author, msg, &c.body, &c.html_url, cx.help_url),
        };
        if !NONE_CMD.is_match(&text) {
            if DEPRECATED_CMD.is_match(&text) {
                return Ok(vec![reply(&format!(
                    "the `/{RELEASE_NOTE}` and `/{ACTION_REQUIRED}` commands have been deprecated.\nPlease edit the `release-note` block in the PR body text to include the release note. If the release note requires additional action include the string `action required` in the release note. For example:\n````\n```release-note\nSome release note with action required.\n```\n````"
                ))]);
            }
            return Ok(vec![]);
        }
        if !may_say_none(cx, item, &c.item.author, &c.author).await? {
            return Ok(vec![reply(&format!(
                "you can only set the release note label to {NONE} if you are the PR author or an org member."
            ))]);
        }
        let pr = cx.forge.pull_request(item).await?;
        let block = label_for(&pr.body, &pr.labels);
        if block == RELEASE_NOTE || block == ACTION_REQUIRED {
            return Ok(vec![reply(&format!(
                "you can only set the release note label to {NONE} if the release-note block in the PR body text is empty or \"none\"."
            ))]);
        }
        if pr
            .labels
            .iter()
            .any(|l| l.eq_ignore_ascii_case(DEPRECATION))
        {
            return Ok(vec![reply(&format!(
                "you can not set the release note label to \"{NONE}\" because the PR has the label \"{DEPRECATION}\"."
            ))]);
        }
        let mut out = set_label(item, NONE, &pr.labels);
        out.push(delete_notice(item));
        Ok(out)
    }
}

#[async_trait]
impl Plugin for ReleaseNote {
    fn name(&self) -> &'static str {
        "release-note"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Labels pull requests by the `release-note` block in their description: `release-note`, `release-note-none` (the block says NONE), `release-note-action-required` (the note says \"action required\"), or `do-not-merge/release-note-label-needed` while the block is empty or missing.",
            commands: vec![CommandHelp {
                usage: "/release-note-none",
                description: "Sets `release-note-none` on a pull request whose release-note block is empty or NONE (not on a `kind/deprecation` pull request).",
                examples: vec!["/release-note-none"],
                who_can_use: "The pull request's author, org members and collaborators.",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<ReleaseNoteSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        match event {
            Event::PullRequest(p) if handles(&p.action) => {
                let settings: ReleaseNoteSettings = cx.settings()?;
                self.on_pr(&p.pr.reference, cx, &settings).await
            }
            Event::Comment(c)
                if c.item.is_pr()
                    && c.action == CommentAction::Created
                    && c.source == CommentSource::Comment
                    && !cx.is_bot(&c.author) =>
            {
                self.on_comment(c, cx).await
            }
            _ => Ok(vec![]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BotComment;
    use crate::testing::{MemoryForge, comment_on_pr, pr_event};

    fn labels(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn block(note: &str) -> String {
        format!("What this PR does\n\n```release-note\n{note}\n```\n")
    }

    #[test]
    fn the_block_decides_the_label_as_in_prow() {
        let none: &[&str] = &[];
        for (body, want) in [
            (block("Adds the --frob flag."), RELEASE_NOTE),
            (block("NONE"), NONE),
            (block("none"), NONE),
            (block("  `NO`. "), NONE),
            (
                block("Action required: rename your config."),
                ACTION_REQUIRED,
            ),
            (block(""), NEEDED),
            ("No block at all".to_string(), NEEDED),
            (
                "**Release note**:\n<!-- write it -->\n```\nA fix.\n```".to_string(),
                RELEASE_NOTE,
            ),
            ("```release-note\r\nNONE\r\n```".to_string(), NONE),
        ] {
            assert_eq!(label_for(&body, &labels(none)), want, "{body:?}");
        }
        assert_eq!(
            label_for("", &labels(&[NONE])),
            NONE,
            "a set none label stays"
        );
        assert_eq!(label_for(&block("NONE"), &labels(&[DEPRECATION])), NEEDED);
        assert_eq!(label_for("", &labels(&[DEPRECATION, NONE])), NEEDED);
        assert_eq!(
            label_for(&block("Drops v1."), &labels(&[DEPRECATION])),
            RELEASE_NOTE
        );
    }

    #[tokio::test]
    async fn a_missing_note_labels_needed_once_with_a_notice_and_a_note_clears_it() {
        let forge = MemoryForge::default();
        let opened = pr_event(PrAction::Opened);
        let actions = forge.run(&ReleaseNote, &opened).await.expect("handled");
        let Action::UpsertBotComment { body, .. } = &actions[0] else {
            panic!("{actions:?}")
        };
        assert!(body.starts_with(&needed_notice(DEFAULT_URL)), "{body}");
        assert!(matches!(&actions[1], Action::AddLabel { label, .. } if label == NEEDED));
        assert_eq!(actions.len(), 2);

        forge.set_labels(&[NEEDED]);
        assert!(
            forge
                .run(&ReleaseNote, &opened)
                .await
                .expect("ok")
                .is_empty(),
            "already labelled: nothing more"
        );

        forge.with(|s| s.pr.body = block("Action required: rename the flag."));
        let actions = forge
            .run(&ReleaseNote, &pr_event(PrAction::Edited))
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![
                Action::AddLabel {
                    item: forge.pr_ref(),
                    label: ACTION_REQUIRED.into()
                },
                Action::RemoveLabel {
                    item: forge.pr_ref(),
                    label: NEEDED.into()
                },
                delete_notice(&forge.pr_ref()),
            ]
        );
        let unrelated = pr_event(PrAction::Labeled {
            label: "lgtm".into(),
        });
        assert!(
            forge
                .run(&ReleaseNote, &unrelated)
                .await
                .expect("ok")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn release_note_none_is_for_the_author_members_and_collaborators() {
        let forge = MemoryForge::default();
        let stranger = forge
            .run(
                &ReleaseNote,
                &comment_on_pr("stranger", "/release-note-none"),
            )
            .await
            .expect("handled");
        assert!(matches!(&stranger[..], [Action::Comment { body, .. }]
            if body.contains("you can only set the release note label to release-note-none if you are the PR author")));

        forge.set_labels(&[NEEDED]);
        let author = forge
            .run(
                &ReleaseNote,
                &comment_on_pr("pr-author", "/release-note-none"),
            )
            .await
            .expect("handled");
        assert_eq!(
            author,
            vec![
                Action::AddLabel {
                    item: forge.pr_ref(),
                    label: NONE.into()
                },
                Action::RemoveLabel {
                    item: forge.pr_ref(),
                    label: NEEDED.into()
                },
                delete_notice(&forge.pr_ref()),
            ]
        );

        forge.add_collaborators(&["collab"]);
        forge.with(|s| s.pr.body = block("A real note."));
        let refused = forge
            .run(&ReleaseNote, &comment_on_pr("collab", "/release-note-none"))
            .await
            .expect("handled");
        assert!(
            matches!(&refused[..], [Action::Comment { body, .. }] if body.contains("is empty or \"none\""))
        );

        forge.with(|s| {
            s.pr.body = String::new();
            s.pr.labels = labels(&[DEPRECATION]);
        });
        let refused = forge
            .run(&ReleaseNote, &comment_on_pr("collab", "/release-note-none"))
            .await
            .expect("handled");
        assert!(
            matches!(&refused[..], [Action::Comment { body, .. }] if body.contains("kind/deprecation"))
        );

        let deprecated = forge
            .run(&ReleaseNote, &comment_on_pr("collab", "/release-note"))
            .await
            .expect("handled");
        assert!(
            matches!(&deprecated[..], [Action::Comment { body, .. }] if body.contains("have been deprecated"))
        );
    }

    #[tokio::test]
    async fn an_earlier_allowed_none_counts_on_later_events_but_a_strangers_does_not() {
        let forge = MemoryForge::default();
        let said = |who: &str| BotComment {
            id: 9,
            author: Login::new(who),
            body: "/release-note-none".into(),
            created_at: "2024-01-01T00:00:00Z".into(),
        };
        forge.with(|s| s.comments = vec![said("stranger")]);
        let edited = pr_event(PrAction::Edited);
        let actions = forge.run(&ReleaseNote, &edited).await.expect("ok");
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::AddLabel { label, .. } if label == NEEDED))
        );
        forge.with(|s| s.comments = vec![said("pr-author")]);
        let actions = forge.run(&ReleaseNote, &edited).await.expect("ok");
        assert_eq!(
            actions,
            vec![
                Action::AddLabel {
                    item: forge.pr_ref(),
                    label: NONE.into()
                },
                delete_notice(&forge.pr_ref()),
            ]
        );
    }

    #[tokio::test]
    async fn a_deprecation_needs_a_real_note_and_merged_prs_are_left_alone() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.pr.body = block("NONE");
            s.pr.labels = labels(&[DEPRECATION, NONE]);
        });
        let actions = forge
            .run(&ReleaseNote, &pr_event(PrAction::Edited))
            .await
            .expect("ok");
        let Action::UpsertBotComment { body, .. } = &actions[0] else {
            panic!("{actions:?}")
        };
        assert!(body.starts_with(&deprecation_notice()), "{body}");
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::AddLabel { label, .. } if label == NEEDED))
        );
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::RemoveLabel { label, .. } if label == NONE))
        );

        forge.with(|s| {
            s.pr.labels.clear();
            s.pr.state = ItemState::Merged;
            s.pr.body = String::new();
        });
        assert!(
            forge
                .run(&ReleaseNote, &pr_event(PrAction::Edited))
                .await
                .expect("ok")
                .is_empty()
        );
        let settings = serde_json::json!({"url": "https://example.com/notes"});
        assert!(ReleaseNote.check_settings(&settings).is_ok());
        assert!(
            ReleaseNote
                .check_settings(&serde_json::json!({"uri": 1}))
                .is_err()
        );
    }
}
