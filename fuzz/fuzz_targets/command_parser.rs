//! The command reader and every plugin on any comment text. Input: one byte choosing the forge
//! (even: GitHub, odd: GitLab), then the comment body (lossy UTF-8); when the body holds a form
//! feed, the part before it is the previous body of an edit. Each plugin runs against the
//! in-memory forge.
#![no_main]

use bosun_plugins::command::{command_lines, command_text, first_commands, strip_html_comments};
use bosun_plugins::testing::{MemoryForge, comment_on_pr};
use bosun_plugins::{CommentAction, Event, ForgeKind, all_plugins};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, data)) = data.split_first() else {
        return;
    };
    let kind = if selector % 2 == 0 {
        ForgeKind::GitHub
    } else {
        ForgeKind::GitLab
    };
    let text = String::from_utf8_lossy(data);
    let (previous, body) = match text.split_once('\u{c}') {
        Some((p, b)) => (Some(p.to_string()), b.to_string()),
        None => (None, text.to_string()),
    };
    let _ = command_lines(&body);
    let _ = strip_html_comments(&body);
    let kept = first_commands(&body, 3);
    assert!(body.starts_with(kept));
    let forge = MemoryForge::default();
    forge.add_collaborators(&["alice"]);
    forge.with(|s| s.repo_labels = vec!["kind/bug".into(), "lgtm".into()]);
    let Event::Comment(mut c) = comment_on_pr("alice", &body) else {
        return;
    };
    c.item.reference.forge = kind;
    if previous.is_some() {
        c.action = CommentAction::Edited {
            previous_body: previous,
        };
    }
    let _ = command_text(&c);
    let event = Event::Comment(c);
    RUNTIME.with(|rt| {
        for plugin in all_plugins() {
            let _ = rt.block_on(forge.run(plugin.as_ref(), &event));
        }
    });
});
