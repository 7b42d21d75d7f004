//! Commands that arrive from chat: `@bosun /lgtm grp/proj!12` in DingTalk, `/bosun lgtm
//! org/repo#7` in Slack. The receiver turns a verified chat message into a [`ChatCommand`] and
//! journals it as a delivery about the pull request it names; the dispatcher then runs it
//! through the same plugins as a comment by the bound forge user.

use bosun_plugins::{ForgeKind, ItemKind, ItemRef, ReplyTo, RepoPath};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The event name chat commands are journaled under.
pub const EVENT: &str = "chat_command";

/// A command from chat, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatCommand {
    /// `dingtalk` or `slack`.
    pub platform: String,
    /// The chat account, as bindings name it: `dingtalk:<userId>`, `slack:<team>/<user>`.
    pub user: String,
    /// The display name, for people only (never identity).
    pub user_name: String,
    /// The command lines, the target taken out (`/lgtm`, `/hold cancel`, `status`).
    pub text: String,
    /// The pull request named, if any.
    pub target: Option<ItemRef>,
    /// Where the answer goes.
    pub reply: ReplyTo,
}

static TARGET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|\s)(?:(github|gitlab):)?([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+)([#!])(\d+)(?:\s|$)",
    )
    .expect("static regex")
});

/// The read-only words chat understands without a slash.
pub const READ_ONLY: [&str; 2] = ["status", "help"];

/// Splits a chat message into its command text and the pull request it names. `default_forge`
/// answers `org/repo#7` when only one forge is configured; `!` always means a GitLab MR.
pub fn parse(text: &str, default_forge: ForgeKind) -> (String, Option<ItemRef>) {
    let mut target = None;
    let mut lines = Vec::new();
    for raw in text.lines() {
        let mut line = raw.trim().to_string();
        if target.is_none()
            && let Some(m) = TARGET.captures(&line)
        {
            let forge = match (m.get(1).map(|f| f.as_str()), &m[3]) {
                (Some("gitlab"), _) | (None, "!") => ForgeKind::GitLab,
                (Some("github"), _) => ForgeKind::GitHub,
                _ => default_forge,
            };
            let number = m[4].parse::<u64>().ok();
            if let (Some(repo), Some(number)) = (RepoPath::parse(&m[2]), number) {
                target = Some(ItemRef {
                    forge,
                    repo,
                    number,
                    kind: ItemKind::PullRequest,
                });
            }
            let whole = m.get(0).map(|w| w.range()).unwrap_or(0..0);
            line.replace_range(whole, " ");
            line = line.trim().to_string();
        }
        if line.is_empty() {
            continue;
        }
        // Slack's `/bosun lgtm x` arrives as `lgtm x`: a bare verb is a command.
        if !line.starts_with('/') {
            line = format!("/{line}");
        }
        lines.push(line);
    }
    (lines.join("\n"), target)
}

/// The command text as a comment on the target's forge would carry it: on GitLab each command
/// is addressed to bosun (`/bosun-lgtm`), since GitLab has not run any of it as a quick action.
pub fn as_comment(text: &str, forge: ForgeKind) -> String {
    text.lines()
        .map(|line| match (forge, line.strip_prefix('/')) {
            (ForgeKind::GitLab, Some(rest))
                if !rest.starts_with(bosun_plugins::command::GITLAB_PREFIX) =>
            {
                format!("/{}{rest}", bosun_plugins::command::GITLAB_PREFIX)
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The command a forge user comments to confirm a binding code (on both forges; not a GitLab
/// quick action).
pub const CONFIRM_BINDING: &str = "/bosun-bind";

/// What `bind <forge> <login>` asks for: the forge (`None` when left out) and the login, or
/// `Err` with what is wrong. `None` when the text is not a `bind` command.
pub fn bind_request(text: &str) -> Option<Result<(Option<ForgeKind>, String), &'static str>> {
    let mut words = text.trim().trim_start_matches('/').split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("bind") {
        return None;
    }
    let args: Vec<&str> = words.collect();
    let (forge, login) = match args.as_slice() {
        [login] => (None, *login),
        [forge, login] => match ForgeKind::parse(&forge.to_ascii_lowercase()) {
            Some(forge) => (Some(forge), *login),
            None => return Some(Err("the forge is `github` or `gitlab`")),
        },
        _ => return Some(Err("say `bind github <login>` or `bind gitlab <username>`")),
    };
    let login = login.trim_start_matches('@');
    let valid = !login.is_empty()
        && login.len() <= 255
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Some(Err("that is not a forge login"));
    }
    Some(Ok((forge, login.to_string())))
}

/// The codes a comment confirms: each command line `/bosun-bind <code>` outside code and
/// quotes.
pub fn confirmed_codes(body: &str) -> Vec<String> {
    bosun_plugins::command::command_lines(body)
        .into_iter()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if !words.next()?.eq_ignore_ascii_case(CONFIRM_BINDING) {
                return None;
            }
            let code = words.next()?;
            words.next().is_none().then(|| code.to_string())
        })
        .collect()
}

/// The read-only verb of a command text, if it is one (`status`, `help`).
pub fn read_only(text: &str) -> Option<&'static str> {
    let verb = text
        .trim()
        .trim_start_matches('/')
        .split_whitespace()
        .next()?;
    READ_ONLY.into_iter().find(|v| verb.eq_ignore_ascii_case(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_commands_are_found() {
        let (text, target) = parse(" /lgtm grp/proj!12", ForgeKind::GitHub);
        assert_eq!(text, "/lgtm");
        let t = target.expect("target");
        assert_eq!(
            (t.forge, t.repo.as_str(), t.number),
            (ForgeKind::GitLab, "grp/proj", 12)
        );

        let (text, target) = parse("retest org/repo#7", ForgeKind::GitHub);
        assert_eq!(text, "/retest");
        assert_eq!(target.expect("target").forge, ForgeKind::GitHub);

        let (text, target) = parse("/hold\n/assign @bob gitlab:a/b/c#3", ForgeKind::GitHub);
        assert_eq!(text, "/hold\n/assign @bob");
        let t = target.expect("target");
        assert_eq!(
            (t.forge, t.repo.as_str(), t.number),
            (ForgeKind::GitLab, "a/b/c", 3)
        );

        let (text, target) = parse("status", ForgeKind::GitLab);
        assert_eq!((text.as_str(), target), ("/status", None));
        assert_eq!(read_only("/status"), Some("status"));
        assert_eq!(read_only("/Help me"), Some("help"));
        assert_eq!(read_only("/lgtm"), None);
    }

    #[test]
    fn bind_requests_and_confirmations_are_read() {
        assert_eq!(
            bind_request("/bind gitlab @Alice"),
            Some(Ok((Some(ForgeKind::GitLab), "Alice".to_string())))
        );
        assert_eq!(
            bind_request("/bind alice"),
            Some(Ok((None, "alice".to_string())))
        );
        assert!(matches!(bind_request("/bind gitea alice"), Some(Err(_))));
        assert!(matches!(bind_request("/bind gitlab al ice"), Some(Err(_))));
        assert!(matches!(bind_request("/bind gitlab a<b>"), Some(Err(_))));
        assert_eq!(bind_request("/lgtm"), None);
        assert_eq!(
            confirmed_codes(
                "thanks\n/bosun-bind abc123\n> /bosun-bind quoted\n```\n/bosun-bind fenced\n```\n/bosun-bind two words"
            ),
            vec!["abc123".to_string()]
        );
    }

    #[test]
    fn gitlab_commands_are_addressed_to_bosun() {
        assert_eq!(
            as_comment("/lgtm\n/assign @a\n/bosun-hold", ForgeKind::GitLab),
            "/bosun-lgtm\n/bosun-assign @a\n/bosun-hold"
        );
        assert_eq!(as_comment("/lgtm", ForgeKind::GitHub), "/lgtm");
    }
}
