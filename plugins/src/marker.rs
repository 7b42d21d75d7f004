//! Hidden markers: the HTML comments bosun puts at the end of what it posts, so it can find its
//! own comments again (to edit a notice in place, or to tell after a crash whether a comment
//! was already posted) without matching on wording that people and translations change.

/// The marker of a notice a plugin keeps up to date (`UpsertBotComment`'s `name`).
pub fn notice(name: &str) -> String {
    format!("<!-- bosun:{name} -->")
}

/// The marker of the comment one journaled action posted, keyed by the action's id.
pub fn action(action_id: i64) -> String {
    format!("<!-- bosun-action:{action_id} -->")
}

/// `body` as posted: the text, a blank line, then the marker.
pub fn append(body: &str, marker: &str) -> String {
    format!("{body}\n\n{marker}")
}

/// Whether `body` is a notice written without bosun's markers (by Prow, before bosun ran on the
/// same account) that starts with `prefix`, compared ignoring ASCII case as Prow does for its
/// `[APPROVALNOTIFIER]`.
pub fn is_unmarked_notice(body: &str, prefix: &str) -> bool {
    !body.contains("<!-- bosun:")
        && body
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmarked_notices_are_recognised_by_their_opening_only() {
        assert!(is_unmarked_notice(
            "[ApprovalNotifier] This PR is **APPROVED**",
            "[APPROVALNOTIFIER]"
        ));
        assert!(!is_unmarked_notice(
            &append("[APPROVALNOTIFIER] x", &notice("approve-notifier")),
            "[APPROVALNOTIFIER]"
        ));
        assert!(!is_unmarked_notice(
            "quoting [APPROVALNOTIFIER]",
            "[APPROVALNOTIFIER]"
        ));
        assert!(!is_unmarked_notice("[APPROV", "[APPROVALNOTIFIER]"));
        assert!(!is_unmarked_notice(
            "é[APPROVALNOTIFIER]",
            "[APPROVALNOTIFIER]"
        ));
    }

    #[test]
    fn markers_are_html_comments_that_name_their_owner() {
        assert_eq!(
            notice("approve-notifier"),
            "<!-- bosun:approve-notifier -->"
        );
        assert_eq!(action(42), "<!-- bosun-action:42 -->");
        assert_eq!(append("hello", &notice("x")), "hello\n\n<!-- bosun:x -->");
        // One action's marker is never a prefix of another's that a `contains` would confuse.
        assert!(!append("a", &action(420)).contains(&action(42)));
    }
}
