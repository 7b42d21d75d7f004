//! The shared command reader: which text of a comment may carry `/commands`.
//!
//! Prow matches line-anchored regexes against the whole body. bosun does the same with Go's
//! ASCII semantics, but first drops text that only *shows* a command: lines inside fenced
//! (```` ``` ```` / `~~~`) or indented code blocks and `>` quoted lines. For an edited comment
//! only lines that were not in the previous body count, and a deleted comment carries nothing.

use crate::event::{CommentAction, CommentEvent, ForgeKind};
use std::collections::HashSet;

/// Go's `\s`: `[\t\n\f\r ]` (no vertical tab, nothing beyond ASCII). Use it inside regexes.
pub const GO_SPACE: &str = r"[\t\n\x0C\r ]";

/// The lines of `body` that can carry commands, in order.
pub fn command_lines(body: &str) -> Vec<&str> {
    eligible_lines(body).into_iter().map(|(_, l)| l).collect()
}

/// Whether an eligible line is a command line (starts with `/`), the unit the
/// commands-per-comment limit counts.
fn is_command_line(line: &str) -> bool {
    line.starts_with('/')
}

/// The start of `body` that holds its first `max` command lines: everything up to the end of
/// the line carrying the `max`th command, or the whole body when it has no more. bosun reads
/// only this much of a comment, so one comment cannot make it act a thousand times.
pub fn first_commands(body: &str, max: usize) -> &str {
    // Cut at the start of the first command line past the limit.
    match eligible_lines(body)
        .into_iter()
        .filter(|(_, l)| is_command_line(l))
        .nth(max)
    {
        Some((start, _)) => &body[..start],
        None => body,
    }
}

/// The lines of `body` that can carry commands, each with its byte offset in `body`.
fn eligible_lines(body: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    let mut previous_blank = true;
    let mut offset = 0;
    for raw in body.split('\n') {
        let start = offset;
        offset += raw.len() + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        if let Some((ch, len)) = fence {
            let closing = indent < 4
                && trimmed.chars().take_while(|c| *c == ch).count() >= len
                && trimmed.trim_start_matches(ch).trim().is_empty();
            if closing {
                fence = None;
            }
            previous_blank = false;
            continue;
        }
        if indent < 4 {
            for ch in ['`', '~'] {
                let run = trimmed.chars().take_while(|c| *c == ch).count();
                if run >= 3 {
                    fence = Some((ch, run));
                }
            }
            if fence.is_some() {
                previous_blank = false;
                continue;
            }
        }
        let blank = line.trim().is_empty();
        let indented_code = (indent >= 4 || line.starts_with('\t')) && previous_blank && !blank;
        let quoted = trimmed.starts_with('>');
        if !indented_code && !quoted && !blank {
            out.push((start, raw));
        }
        // An indented block continues while lines stay indented.
        previous_blank = blank || (indented_code && previous_blank);
    }
    out
}

/// GitLab runs these verbs itself as quick actions; there bosun answers only their
/// `/bosun-<verb>` form, so one note never triggers both.
pub const GITLAB_OWNED_VERBS: [&str; 11] = [
    "assign",
    "unassign",
    "cc",
    "label",
    "close",
    "reopen",
    "approve",
    "unapprove",
    "merge",
    "milestone",
    "shrug",
];

/// The prefix that addresses a command to bosun on GitLab (`/bosun-assign @alice`).
pub const GITLAB_PREFIX: &str = "bosun-";

/// Rewrites one line for the forge: on GitLab `/bosun-x` becomes `/x`, and a bare GitLab-owned
/// verb is dropped (GitLab already ran it). GitHub lines pass unchanged.
fn for_forge(line: &str, forge: ForgeKind) -> Option<String> {
    if forge == ForgeKind::GitHub {
        return Some(line.to_string());
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Some(line.to_string());
    };
    if let Some(addressed) = rest.strip_prefix(GITLAB_PREFIX) {
        return Some(format!("/{addressed}"));
    }
    let verb: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if GITLAB_OWNED_VERBS
        .iter()
        .any(|v| verb.eq_ignore_ascii_case(v))
    {
        None
    } else {
        Some(line.to_string())
    }
}

fn joined(lines: Vec<&str>, forge: ForgeKind) -> String {
    lines
        .into_iter()
        .filter_map(|l| for_forge(l, forge))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Drops HTML comments (`<!-- … -->`), which Prow's label plugin ignores.
pub fn strip_html_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start + 4..].find("-->") {
            Some(end) => rest = &rest[start + 4 + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of a whole comment body that may carry commands (for replaying history).
pub fn body_command_text(body: &str, forge: ForgeKind) -> String {
    joined(command_lines(body), forge)
}

/// The text of a comment event that may carry new commands: the eligible lines joined with
/// `\n` (a trailing `\r` kept, so Go's `\s*$` behaviour is reproduced by the regexes).
pub fn command_text(event: &CommentEvent) -> String {
    let forge = event.item.reference.forge;
    match &event.action {
        CommentAction::Created => joined(command_lines(&event.body), forge),
        CommentAction::Edited { previous_body } => {
            let old: HashSet<&str> = previous_body
                .as_deref()
                .map(command_lines)
                .unwrap_or_default()
                .into_iter()
                .collect();
            match previous_body {
                // Without the old body we cannot tell what is new, so nothing runs.
                None => String::new(),
                Some(_) => joined(
                    command_lines(&event.body)
                        .into_iter()
                        .filter(|l| !old.contains(l))
                        .collect(),
                    forge,
                ),
            }
        }
        CommentAction::Deleted => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_and_quoted_lines_carry_no_commands() {
        let body = "/hold\n```\n/lgtm\n```\n> /approve\n~~~~\n/close\n~~~~\n/kind bug";
        assert_eq!(command_lines(body), vec!["/hold", "/kind bug"]);
    }

    #[test]
    fn indented_code_after_blank_line_is_skipped() {
        let body = "text\n\n    /hold\n\n/lgtm";
        assert_eq!(command_lines(body), vec!["text", "/lgtm"]);
    }

    #[test]
    fn carriage_return_is_kept_for_go_semantics() {
        assert_eq!(command_lines("/hold\r\n/lgtm"), vec!["/hold\r", "/lgtm"]);
    }

    #[test]
    fn gitlab_owned_verbs_need_the_prefix() {
        assert_eq!(for_forge("/assign @a", ForgeKind::GitLab), None);
        assert_eq!(
            for_forge("/bosun-assign @a", ForgeKind::GitLab).as_deref(),
            Some("/assign @a")
        );
        assert_eq!(
            for_forge("/hold", ForgeKind::GitLab).as_deref(),
            Some("/hold")
        );
        assert_eq!(
            for_forge("/assign @a", ForgeKind::GitHub).as_deref(),
            Some("/assign @a")
        );
        assert_eq!(for_forge("/label x", ForgeKind::GitLab), None);
        assert_eq!(
            for_forge("/lgtm", ForgeKind::GitLab).as_deref(),
            Some("/lgtm")
        );
    }

    fn comment(body: &str, action: CommentAction) -> CommentEvent {
        let crate::Event::Comment(mut c) = crate::testing::comment_on_pr("alice", body) else {
            unreachable!()
        };
        c.action = action;
        c
    }

    #[test]
    fn an_edit_runs_only_new_lines_and_a_deletion_nothing() {
        let edited = comment(
            "/hold\n/lgtm",
            CommentAction::Edited {
                previous_body: Some("/hold".into()),
            },
        );
        assert_eq!(command_text(&edited), "/lgtm");
        let unknown_old = comment(
            "/hold",
            CommentAction::Edited {
                previous_body: None,
            },
        );
        assert_eq!(
            command_text(&unknown_old),
            "",
            "without the old body nothing can be told new"
        );
        assert_eq!(command_text(&comment("/hold", CommentAction::Deleted)), "");
        assert_eq!(
            command_text(&comment("/hold", CommentAction::Created)),
            "/hold"
        );
    }

    #[test]
    fn html_comments_are_stripped() {
        assert_eq!(strip_html_comments("a<!-- /kind bug -->b<!-- x"), "ab");
    }

    #[test]
    fn only_the_first_commands_are_kept() {
        let body = "hi\n/hold\n> /quoted\n/kind bug\ntext\n/lgtm\n/close";
        assert_eq!(
            first_commands(body, 2),
            "hi\n/hold\n> /quoted\n/kind bug\ntext\n"
        );
        assert_eq!(first_commands(body, 0), "hi\n");
        assert_eq!(first_commands(body, 4), body);
        assert_eq!(first_commands(body, 99), body);
        assert_eq!(command_lines(first_commands(body, 1)), vec!["hi", "/hold"]);
    }

    #[test]
    fn unclosed_fence_hides_the_rest() {
        assert_eq!(command_lines("```\n/hold"), Vec::<&str>::new());
    }
}
