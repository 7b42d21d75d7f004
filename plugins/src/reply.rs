//! Replies in Prow's format, so people and tools that read Prow's comments keep working.

use crate::event::Login;

/// The footer under every reply; it links to bosun's command-help page.
pub fn footer(help_url: &str) -> String {
    format!(
        "Instructions for interacting with me using comments are available [here]({help_url}).  \
         If you have questions or suggestions related to my behavior, please file an issue against this bot's repository."
    )
}

/// Prow's `FormatResponseRaw`: mention the commenter, say what happened, and quote the comment
/// that caused it inside a `<details>` block with the footer.
pub fn format_response(
    login: &Login,
    reply: &str,
    comment_body: &str,
    comment_url: &str,
    help_url: &str,
) -> String {
    format!(
        "@{login}: {reply}{}",
        response_tail(comment_body, comment_url, help_url)
    )
}

/// What [`format_response`] puts after the reply: the quote of the comment and the footer, in
/// a `<details>` block. Apart, so a reply whose middle is only known later (the users a forge
/// left out) can be stored in two halves.
pub fn response_tail(comment_body: &str, comment_url: &str, help_url: &str) -> String {
    let quoted: String = comment_body
        .split('\n')
        .map(|l| format!(">{l}\n"))
        .collect();
    format!(
        "\n\n<details>\n\nIn response to [this]({comment_url}):\n\n{quoted}\n\n{}\n</details>",
        footer(help_url)
    )
}

/// Prow's `FormatSimpleResponse`: the message and the footer, no mention or quote.
pub fn format_simple(message: &str, help_url: &str) -> String {
    format!("{message}\n\n<details>\n\n{}\n</details>", footer(help_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_quotes_every_line() {
        let r = format_response(
            &Login::new("alice"),
            "you cannot LGTM your own PR.",
            "/lgtm\nthanks",
            "https://x/1",
            "https://bosun/command-help",
        );
        assert!(r.starts_with("@alice: you cannot LGTM your own PR.\n\n<details>\n\nIn response to [this](https://x/1):\n\n>/lgtm\n>thanks\n"), "{r}");
        assert!(r.contains("[here](https://bosun/command-help).  If you have questions"));
        assert!(r.ends_with("</details>"));
    }
}
