//! Property tests of the shared command reader (`command.rs`): what code blocks and quotes hide,
//! that no input makes it (or any plugin reading it) panic, and that commands written among
//! arbitrary text are found exactly.

use bosun_plugins::command::{command_lines, command_text, first_commands, strip_html_comments};
use bosun_plugins::testing::{MemoryForge, comment_on_pr};
use bosun_plugins::{CommentAction, Event, ForgeKind, all_plugins, hold};
use proptest::prelude::*;

/// A line of ordinary text: never indented, never a fence, never a command (no leading `/`),
/// and never holding the `/zz` marker of hidden blocks (no `z`).
fn prose_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-yA-Z0-9,.!?@*_#(){}\\[\\]<>=+-][a-yA-Z0-9 ,.!?@/*_#()=+-]{0,40}",
        "> [a-yA-Z0-9 /@-]{0,30}",
        ">/[a-z]{1,8}",
        Just(String::new()),
    ]
}

/// A command line: `/verb` and up to three arguments.
fn command_line() -> impl Strategy<Value = String> {
    (
        "[a-y][a-y0-9-]{0,15}",
        prop::collection::vec("[a-yA-Z0-9@/._-]{1,12}", 0..4),
    )
        .prop_map(|(verb, args)| {
            let mut line = format!("/{verb}");
            for a in args {
                line.push(' ');
                line.push_str(&a);
            }
            line
        })
}

/// Text around a hidden block: prose and real commands, but no fence and no indentation, so
/// nothing in it changes how the block itself is read.
fn surroundings() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop_oneof![prose_line(), command_line()], 0..6)
}

/// A block whose lines all carry a command marker (`/zz…`, a verb the surroundings never
/// produce) but must carry none: a fenced block (``` or ~~~, 3–5 long, with an info string,
/// shorter fence runs inside) or a run of `>` quoted lines.
fn hidden_block() -> impl Strategy<Value = Vec<String>> {
    let inner = prop::collection::vec(
        prop_oneof![
            "/zz[a-z]{0,6}( [a-z@]{1,6}){0,2}",
            "/zzhold",
            "[ ]{0,3}/zz[a-z]{1,4}",
        ],
        1..5,
    );
    let fenced = (
        prop_oneof![Just('`'), Just('~')],
        3usize..6,
        "[a-z]{0,5}",
        inner.clone(),
    )
        .prop_map(|(ch, len, info, lines)| {
            let fence: String = std::iter::repeat_n(ch, len).collect();
            let shorter: String = std::iter::repeat_n(ch, len - 1).collect();
            let mut out = vec![format!("{fence}{info}")];
            for (i, l) in lines.into_iter().enumerate() {
                out.push(l);
                if i == 0 {
                    out.push(shorter.clone());
                }
            }
            out.push(fence);
            out
        });
    let quoted = (inner, "[ ]{0,3}>[ ]{0,2}").prop_map(|(lines, marker)| {
        lines
            .into_iter()
            .map(|l| format!("{marker}{}", l.trim_start()))
            .collect::<Vec<_>>()
    });
    prop_oneof![fenced, quoted]
}

fn with_body(body: &str, action: CommentAction, forge: ForgeKind) -> Event {
    let Event::Comment(mut c) = comment_on_pr("alice", body) else {
        unreachable!("comment_on_pr builds a comment")
    };
    c.action = action;
    c.item.reference.forge = forge;
    Event::Comment(c)
}

fn text_of(body: &str, forge: ForgeKind) -> String {
    let Event::Comment(c) = with_body(body, CommentAction::Created, forge) else {
        unreachable!("a comment")
    };
    command_text(&c)
}

/// Runs every plugin on a comment and returns whether all of them finished (they may refuse).
fn every_plugin_survives(event: &Event) {
    let forge = MemoryForge::default();
    forge.add_collaborators(&["alice"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for plugin in all_plugins() {
        // Errors are fine (a label the repo lacks, a bad argument); panics are not.
        let _ = rt.block_on(forge.run(plugin.as_ref(), event));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No command is read from a fenced block or a quote, whatever text is around it.
    #[test]
    fn code_blocks_and_quotes_carry_no_commands(
        before in surroundings(),
        block in hidden_block(),
        after in surroundings(),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let all: Vec<String> = before.iter().chain(&block).chain(&after).cloned().collect();
        // Every line ends with the line ending, so removing the block leaves no line without one.
        let body: String = all.iter().map(|l| format!("{l}{eol}")).collect();
        let body_without: String = before.iter().chain(&after).map(|l| format!("{l}{eol}")).collect();
        for line in command_lines(&body) {
            prop_assert!(!line.contains("/zz"), "{line:?} read from a hidden block in {body:?}");
        }
        for forge in [ForgeKind::GitHub, ForgeKind::GitLab] {
            prop_assert_eq!(text_of(&body, forge), text_of(&body_without, forge));
        }
        prop_assert_eq!(hold::parse(&text_of(&body, ForgeKind::GitHub)),
                        hold::parse(&text_of(&body_without, ForgeKind::GitHub)));
    }

    /// Whatever the body, reading it for commands never panics, nor does any plugin.
    #[test]
    fn reading_any_text_never_panics(
        body in prop_oneof![
            any::<String>(),
            prop::collection::vec(
                prop_oneof![
                    any::<String>(),
                    "(```|~~~|    |\t|> |/|<!--|-->|\r)[^\n]{0,12}",
                    command_line(),
                ],
                0..12,
            ).prop_map(|lines| lines.join("\n")),
        ],
        previous in proptest::option::of(any::<String>()),
        max in 0usize..5,
    ) {
        let _ = command_lines(&body);
        let _ = strip_html_comments(&body);
        let kept = first_commands(&body, max);
        prop_assert!(body.starts_with(kept));
        let kept_commands = command_lines(kept).iter().filter(|l| l.starts_with('/')).count();
        prop_assert!(kept_commands <= max);
        let all_commands = command_lines(&body).iter().filter(|l| l.starts_with('/')).count();
        if all_commands <= max {
            prop_assert_eq!(kept, body.as_str());
        }
        for forge in [ForgeKind::GitHub, ForgeKind::GitLab] {
            for action in [
                CommentAction::Created,
                CommentAction::Edited { previous_body: previous.clone() },
                CommentAction::Deleted,
            ] {
                let Event::Comment(c) = with_body(&body, action, forge) else { unreachable!() };
                let _ = command_text(&c);
            }
        }
        every_plugin_survives(&with_body(&body, CommentAction::Created, ForgeKind::GitHub));
        every_plugin_survives(&with_body(&body, CommentAction::Created, ForgeKind::GitLab));
    }

    /// Commands written among arbitrary prose (and hidden blocks) are found, exactly those, in
    /// order; on GitLab `/bosun-x` reads as `/x` and GitLab's own verbs are left to GitLab.
    #[test]
    fn generated_commands_are_found_exactly(
        parts in prop::collection::vec(
            prop_oneof![
                3 => command_line().prop_map(|c| (true, vec![c])),
                2 => prose_line().prop_map(|p| (false, vec![p])),
                1 => hidden_block().prop_map(|b| (false, b)),
            ],
            0..12,
        ),
        prefixed in any::<bool>(),
    ) {
        let mut lines = Vec::new();
        let mut commands = Vec::new();
        for (is_command, part) in parts {
            if is_command {
                commands.push(part[0].clone());
            }
            lines.extend(part);
        }
        let body = lines.join("\n");
        let found: Vec<&str> = command_lines(&body)
            .into_iter()
            .filter(|l| l.starts_with('/'))
            .collect();
        prop_assert_eq!(&found, &commands);

        let github: Vec<String> = text_of(&body, ForgeKind::GitHub)
            .lines()
            .filter(|l| l.starts_with('/'))
            .map(str::to_string)
            .collect();
        prop_assert_eq!(&github, &commands);

        // On GitLab, the same comment written with the /bosun- prefix reads as the plain verbs.
        let gitlab_body = if prefixed {
            body.lines()
                .map(|l| match l.strip_prefix('/') {
                    Some(rest) if !rest.starts_with("zz") => format!("/bosun-{rest}"),
                    _ => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            body.clone()
        };
        let expected: Vec<String> = commands
            .iter()
            .filter(|c| prefixed || !gitlab_owned(c))
            .map(|c| match c.strip_prefix("/bosun-") {
                Some(rest) if !prefixed => format!("/{rest}"),
                _ => c.clone(),
            })
            .collect();
        let gitlab: Vec<String> = text_of(&gitlab_body, ForgeKind::GitLab)
            .lines()
            .filter(|l| l.starts_with('/'))
            .map(str::to_string)
            .collect();
        prop_assert_eq!(gitlab, expected);
    }
}

/// Whether GitLab runs this command line's verb itself (written out here, independently of
/// the reader's own list).
fn gitlab_owned(command: &str) -> bool {
    let verb: String = command
        .trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    [
        "assign",
        "unassign",
        "cc",
        "label",
        "close",
        "reopen",
        "approve",
        "unapprove",
        "merge",
    ]
    .iter()
    .any(|v| verb.eq_ignore_ascii_case(v))
}

#[test]
fn a_quoted_hold_between_real_text_does_not_hold() {
    let body = "I disagree with\n> /hold\nbut fine.";
    assert_eq!(hold::parse(&text_of(body, ForgeKind::GitHub)), None);
}
