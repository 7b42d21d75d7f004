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

#[cfg(test)]
mod tests {
    use super::*;

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
