//! `assign`: `/assign`, `/unassign` (issues and PRs) and `/cc`, `/uncc` (PRs: review
//! requests), each with `@users`, defaulting to the commenter (Prow §3.3). Anyone may use them.
//! `/cc` also takes `org/team` on GitHub. Every matching line counts; for each user the last
//! mention wins; removals are applied before additions.
//!
//! Differences from Prow: Prow assigns and then names the users GitHub's answer left out.
//! bosun also asks before acting, so the usual refusal is a reply decided with the command:
//! on GitHub it asks GitHub (`can_be_assigned`, the `assignees/{user}` check), also accepts
//! anyone who has commented on the issue or PR (so the commenter can always assign themself,
//! as GitHub allows), and keeps an issue at GitHub's cap of [`MAX_GITHUB_ASSIGNEES`], naming
//! the users beyond it. On GitLab only members can be assigned. Review requests are checked
//! against collaborators and org members. Users refused this way are left out of the
//! `Assign` or `RequestReviewers` action, which carries the same reply as a
//! [`MissingUsersReply`]: after the call the executor compares the forge's answer with what
//! was asked and posts it naming whoever the answer still leaves out (a race with a permission
//! change, the cap reached by someone else meanwhile, GitHub or GitLab silently skipping a
//! user). So no user is named twice, though one command can get two replies. Prow compares
//! only assignees with GitHub's answer (review requests only when GitHub answers 422); bosun
//! compares review requests too, and on GitLab both. On GitLab the commands are
//! `/bosun-assign`, `/bosun-unassign` and `/bosun-cc` (GitLab runs `/assign` and `/cc`
//! itself).

use crate::command::{GO_SPACE, command_text};
use crate::reply::response_tail;
use crate::{
    Action, CommandHelp, CommentAction, CommentEvent, Context, Event, ForgeKind, Login,
    MissingUsersReply, Plugin, PluginError, PluginHelp,
};
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

const W: &str = "0-9A-Za-z_";

/// GitHub keeps at most this many assignees on an issue or PR and drops the rest.
pub const MAX_GITHUB_ASSIGNEES: usize = 10;

static ASSIGN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?mi)^/(un)?assign((?: @?[-{W}]+?)*){GO_SPACE}*$"
    ))
    .expect("static regex")
});
pub(crate) static CC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?mi)^/(un)?cc((?: +@?[-/{W}]+?)*){GO_SPACE}*$")).expect("static regex")
});

/// Which list a command changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Assignees,
    Reviewers,
}

/// For one list: who is added and who removed (last mention wins).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

impl Changes {
    fn set(&mut self, name: String, add: bool) {
        let same = |n: &String| n.eq_ignore_ascii_case(&name);
        self.add.retain(|n| !same(n));
        self.remove.retain(|n| !same(n));
        if add {
            self.add.push(name)
        } else {
            self.remove.push(name)
        }
    }
}

/// Reads every `/assign` or `/cc` line; names are kept as typed, without `@`.
pub fn parse(text: &str, target: Target, commenter: &Login) -> Changes {
    let re = match target {
        Target::Assignees => &*ASSIGN,
        Target::Reviewers => &*CC,
    };
    let mut changes = Changes::default();
    for caps in re.captures_iter(text) {
        let add = caps.get(1).is_none();
        let args = caps.get(2).map_or("", |m| m.as_str());
        let names: Vec<String> = args
            .split(' ')
            .map(|t| t.trim().trim_start_matches('@').to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if names.is_empty() {
            changes.set(commenter.as_str().to_string(), add);
        }
        for n in names {
            changes.set(n, add);
        }
    }
    changes
}

/// The assign plugin.
pub struct Assign;

/// The reply naming users the forge would not take, in Prow's words, as two halves around the
/// names: the plugin uses it for the users it refuses itself, and the `Assign` or
/// `RequestReviewers` action carries it for the users the forge's answer leaves out.
fn refusal(c: &CommentEvent, target: Target, help_url: &str) -> MissingUsersReply {
    let org = c.item.reference.repo.owner();
    let (head, tail) = match (target, c.item.reference.forge) {
        (Target::Assignees, ForgeKind::GitHub) => (
            "GitHub didn't allow me to assign the following users: ",
            format!(
                ".\n\nNote that only [{org} members](https://github.com/orgs/{org}/people) with read permissions, repo collaborators and people who have commented on this issue/PR can be assigned. Additionally, issues/PRs can only have 10 assignees at the same time.\nFor more information please see [the contributor guide](https://git.k8s.io/community/contributors/guide/first-contribution.md#issue-assignment-in-github)"
            ),
        ),
        (Target::Reviewers, ForgeKind::GitHub) => (
            "GitHub didn't allow me to request PR reviews from the following users: ",
            format!(
                ".\n\nNote that only [{org} members](https://github.com/orgs/{org}/people) and repo collaborators can review this PR, and authors cannot review their own PRs."
            ),
        ),
        (Target::Assignees, ForgeKind::GitLab) => (
            "GitLab didn't allow me to assign the following users: ",
            ".\n\nNote that only project members can be assigned.".to_string(),
        ),
        (Target::Reviewers, ForgeKind::GitLab) => (
            "GitLab didn't allow me to request reviews from the following users: ",
            ".\n\nNote that only project members can review this merge request, and authors cannot review their own merge requests.".to_string(),
        ),
    };
    // `format_response(author, head + names + tail, …)`, cut where the names go.
    MissingUsersReply {
        before: format!("@{}: {head}", c.author),
        after: format!("{tail}{}", response_tail(&c.body, &c.html_url, help_url)),
    }
}

/// Drops from `users` those GitHub would leave out at its cap of [`MAX_GITHUB_ASSIGNEES`]
/// (counting who stays assigned after `removed`), and returns their names.
fn over_the_cap(current: &[Login], removed: &[Login], users: &mut Vec<Login>) -> Vec<String> {
    let staying: Vec<&Login> = current.iter().filter(|a| !removed.contains(a)).collect();
    let mut room = MAX_GITHUB_ASSIGNEES.saturating_sub(staying.len());
    let mut dropped = Vec::new();
    users.retain(|u| {
        if staying.contains(&u) {
            return true;
        }
        if room == 0 {
            dropped.push(u.as_str().to_string());
            return false;
        }
        room -= 1;
        true
    });
    dropped
}

impl Assign {
    async fn apply(
        &self,
        c: &CommentEvent,
        target: Target,
        changes: Changes,
        cx: &Context<'_>,
    ) -> Result<Vec<Action>, PluginError> {
        let item = c.item.reference.clone();
        let repo = &item.repo;
        let (mut users, mut teams, mut refused) = (Vec::new(), Vec::new(), Vec::new());
        // GitHub assigns anyone who has commented on the item; read the comments at most once.
        let github_assign = target == Target::Assignees && item.forge == ForgeKind::GitHub;
        let mut commenters: Option<Vec<Login>> = None;
        for name in &changes.add {
            if let Some((_, team)) = name.split_once('/') {
                if target == Target::Reviewers && item.forge == ForgeKind::GitHub {
                    teams.push(team.to_string());
                } else {
                    refused.push(name.clone());
                }
                continue;
            }
            let login = Login::new(name);
            let is_author = login == c.item.author;
            let mut allowed = match target {
                Target::Assignees => {
                    (github_assign && login == c.author)
                        || cx.forge.can_be_assigned(repo, &login).await?
                }
                Target::Reviewers => {
                    cx.forge.is_collaborator(repo, &login).await?
                        || cx.forge.is_org_member(repo.owner(), &login).await?
                }
            };
            if !allowed && github_assign {
                if commenters.is_none() {
                    let comments = cx.forge.comments(&item).await?;
                    commenters = Some(comments.into_iter().map(|c| c.author).collect());
                }
                allowed = commenters.as_ref().is_some_and(|v| v.contains(&login));
            }
            if allowed && !(target == Target::Reviewers && is_author) {
                users.push(login);
            } else {
                refused.push(name.clone());
            }
        }
        let removed_users: Vec<Login> = changes
            .remove
            .iter()
            .filter(|n| !n.contains('/'))
            .map(|n| Login::new(n))
            .collect();
        if github_assign {
            refused.extend(over_the_cap(&c.item.assignees, &removed_users, &mut users));
        }
        let removed_teams: Vec<String> = changes
            .remove
            .iter()
            .filter_map(|n| n.split_once('/').map(|(_, t)| t.to_string()))
            .collect();
        // Users refused above are named by the plugin's own reply, and left out of the action,
        // so the executor's reply (for users the forge's answer leaves out) names only others.
        let report = refusal(c, target, cx.help_url);
        let mut actions = Vec::new();
        match target {
            Target::Assignees => {
                if !removed_users.is_empty() {
                    actions.push(Action::Unassign {
                        item: item.clone(),
                        users: removed_users,
                    });
                }
                if !users.is_empty() {
                    actions.push(Action::Assign {
                        item: item.clone(),
                        users,
                        report: Some(report.clone()),
                    });
                }
            }
            Target::Reviewers => {
                if !removed_users.is_empty() || !removed_teams.is_empty() {
                    actions.push(Action::UnrequestReviewers {
                        item: item.clone(),
                        users: removed_users,
                        teams: removed_teams,
                    });
                }
                if !users.is_empty() || !teams.is_empty() {
                    actions.push(Action::RequestReviewers {
                        item: item.clone(),
                        users,
                        teams,
                        report: Some(report.clone()),
                    });
                }
            }
        }
        if !refused.is_empty() {
            actions.push(Action::Comment {
                item,
                body: report.body(&refused),
            });
        }
        Ok(actions)
    }
}

#[async_trait]
impl Plugin for Assign {
    fn name(&self) -> &'static str {
        "assign"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Assigns people to issues and pull requests, and requests reviews.",
            commands: vec![
                CommandHelp {
                    usage: "/[un]assign [[@]<username>...]",
                    description: "Assigns or unassigns users (the commenter when none are named). On GitLab: /bosun-assign, /bosun-unassign.",
                    examples: vec!["/assign", "/assign @alice @bob", "/unassign @alice"],
                    who_can_use: "Anyone; only collaborators, org members and (GitHub) people who have commented can be assigned.",
                    forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
                },
                CommandHelp {
                    usage: "/[un]cc [[@]<username>...|[@]<org>/<team>...]",
                    description: "Requests or withdraws reviews on a pull request. Teams on GitHub only. On GitLab: /bosun-cc, /bosun-uncc.",
                    examples: vec!["/cc @alice", "/cc @my-org/reviewers", "/uncc"],
                    who_can_use: "Anyone; only collaborators and org members other than the author can be asked.",
                    forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
                },
            ],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        if matches!(c.action, CommentAction::Deleted) {
            return Ok(vec![]);
        }
        let text = command_text(c);
        let mut actions = Vec::new();
        let assign = parse(&text, Target::Assignees, &c.author);
        if assign != Changes::default() {
            actions.extend(self.apply(c, Target::Assignees, assign, cx).await?);
        }
        let cc = parse(&text, Target::Reviewers, &c.author);
        if c.item.is_pr() && cc != Changes::default() {
            actions.extend(self.apply(c, Target::Reviewers, cc, cx).await?);
        }
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::format_response;
    use crate::testing::{MemoryForge, comment_on_pr, pr_ref};

    fn login(s: &str) -> Login {
        Login::new(s)
    }

    /// The action without the reply it carries, to compare what it does.
    fn bare(a: &Action) -> Action {
        let mut a = a.clone();
        if let Action::Assign { report, .. } | Action::RequestReviewers { report, .. } = &mut a {
            *report = None;
        }
        a
    }

    #[test]
    fn parses_names_and_defaults_to_the_commenter() {
        let me = login("me");
        assert_eq!(parse("/assign", Target::Assignees, &me).add, vec!["me"]);
        assert_eq!(
            parse("/assign @a b", Target::Assignees, &me).add,
            vec!["a", "b"]
        );
        assert_eq!(
            parse("/unassign @a", Target::Assignees, &me).remove,
            vec!["a"]
        );
        assert_eq!(
            parse("/assign @a\n/unassign a", Target::Assignees, &me),
            Changes {
                add: vec![],
                remove: vec!["a".into()]
            },
            "last mention wins"
        );
        assert_eq!(
            parse("/assign org/team", Target::Assignees, &me),
            Changes::default(),
            "no teams for /assign"
        );
        assert_eq!(
            parse("/cc  @a   @org/team", Target::Reviewers, &me).add,
            vec!["a", "org/team"]
        );
        assert_eq!(parse("/cc", Target::Reviewers, &me).add, vec!["me"]);
        assert_eq!(parse("/uncc @a", Target::Reviewers, &me).remove, vec!["a"]);
        assert_eq!(
            parse("/assign  @a", Target::Assignees, &me),
            Changes::default(),
            "assign takes single spaces"
        );
    }

    #[tokio::test]
    async fn assigns_collaborators_and_names_the_others() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice", "bob"]);
        let actions = forge
            .run(
                &Assign,
                &comment_on_pr("carol", "/assign @alice @bob @nobody"),
            )
            .await
            .expect("handled");
        assert_eq!(
            bare(&actions[0]),
            Action::Assign {
                item: pr_ref(),
                users: vec![login("alice"), login("bob")],
                report: None,
            }
        );
        let Action::Comment { body, .. } = &actions[1] else {
            panic!("{actions:?}")
        };
        assert!(
            body.starts_with(
                "@carol: GitHub didn't allow me to assign the following users: nobody."
            ),
            "{body}"
        );
    }

    /// GitHub assigns anyone who has commented on the issue or PR: the commenter themself
    /// (the command is a comment) and earlier commenters; GitLab only members.
    #[tokio::test]
    async fn github_assigns_people_who_commented() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.comments.push(crate::forge::BotComment {
                id: 1,
                author: login("earlier"),
                body: "I can take this".into(),
                created_at: "2024-01-01T00:00:00Z".into(),
            })
        });
        let actions = forge
            .run(
                &Assign,
                &comment_on_pr("outsider", "/assign\n/assign @Earlier @nobody"),
            )
            .await
            .expect("handled");
        assert_eq!(
            bare(&actions[0]),
            Action::Assign {
                item: pr_ref(),
                users: vec![login("outsider"), login("Earlier")],
                report: None,
            }
        );
        assert!(
            matches!(&actions[1], Action::Comment { body, .. } if body.contains("assign the following users: nobody.")),
            "{actions:?}"
        );

        let Event::Comment(mut c) = comment_on_pr("outsider", "/bosun-assign") else {
            unreachable!()
        };
        c.item.reference.forge = ForgeKind::GitLab;
        let actions = forge
            .run(&Assign, &Event::Comment(c))
            .await
            .expect("handled");
        assert!(
            matches!(&actions[..], [Action::Comment { body, .. }] if body.contains("GitLab didn't allow me to assign the following users: outsider.")),
            "{actions:?}"
        );
    }

    /// issue 12 item 5: on GitHub, assignability is GitHub's answer, not a collaborator or
    /// member approximation: someone GitHub would assign is assigned.
    #[tokio::test]
    async fn github_decides_who_can_be_assigned() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.assignable.insert(login("triager"));
        });
        let actions = forge
            .run(&Assign, &comment_on_pr("carol", "/assign @triager @nobody"))
            .await
            .expect("handled");
        assert_eq!(
            bare(&actions[0]),
            Action::Assign {
                item: pr_ref(),
                users: vec![login("triager")],
                report: None,
            }
        );
        assert!(
            matches!(&actions[1], Action::Comment { body, .. } if body.contains("assign the following users: nobody.")),
            "{actions:?}"
        );
    }

    /// Prow assign: GitHub keeps 10 assignees; those beyond the cap are named in the reply,
    /// the commenter's own self-assignment included.
    #[tokio::test]
    async fn github_caps_assignees_at_ten_and_names_the_rest() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice", "bob", "old0"]);
        let Event::Comment(mut c) =
            comment_on_pr("me", "/assign\n/assign @alice @bob\n/unassign @old0")
        else {
            unreachable!()
        };
        c.item.assignees = (0..10).map(|i| login(&format!("old{i}"))).collect();
        let actions = forge
            .run(&Assign, &Event::Comment(c))
            .await
            .expect("handled");
        // One leaves (old0), so one of the three fits: the first asked.
        assert_eq!(
            bare(&actions[1]),
            Action::Assign {
                item: pr_ref(),
                users: vec![login("me")],
                report: None,
            },
            "{actions:?}"
        );
        assert!(
            matches!(&actions[2], Action::Comment { body, .. } if body.contains("assign the following users: alice, bob.") && body.contains("10 assignees at the same time.\nFor more information please see [the contributor guide]")),
            "{actions:?}"
        );
    }

    /// The report an `Assign` or `RequestReviewers` action carries, naming `names`.
    fn reported(action: &Action, names: &[&str]) -> String {
        match action {
            Action::Assign {
                report: Some(r), ..
            }
            | Action::RequestReviewers {
                report: Some(r), ..
            } => r.body(names),
            other => panic!("no report on {other:?}"),
        }
    }

    /// Prow assign (§3.3): after the call, the users GitHub's answer leaves out are named in
    /// Prow's words, quoting the command; the action carries that reply for the executor,
    /// worded exactly as the plugin's own refusal.
    #[tokio::test]
    async fn the_action_carries_prows_reply_for_users_the_forge_leaves_out() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice", "bob"]);
        let body = "/assign @alice @nobody\n/cc @bob";
        let actions = forge
            .run(&Assign, &comment_on_pr("carol", body))
            .await
            .expect("handled");
        let url = "https://github.com/org/repo/pull/1#issuecomment-1";
        let help = "https://bosun.example/command-help";
        let assign = format_response(
            &login("carol"),
            "GitHub didn't allow me to assign the following users: late, later.\n\nNote that only [org members](https://github.com/orgs/org/people) with read permissions, repo collaborators and people who have commented on this issue/PR can be assigned. Additionally, issues/PRs can only have 10 assignees at the same time.\nFor more information please see [the contributor guide](https://git.k8s.io/community/contributors/guide/first-contribution.md#issue-assignment-in-github)",
            body,
            url,
            help,
        );
        assert_eq!(reported(&actions[0], &["late", "later"]), assign);
        assert_eq!(
            actions[1],
            Action::Comment {
                item: pr_ref(),
                body: reported(&actions[0], &["nobody"]),
            },
            "the plugin's refusal and the executor's reply read alike"
        );
        let cc = format_response(
            &login("carol"),
            "GitHub didn't allow me to request PR reviews from the following users: late.\n\nNote that only [org members](https://github.com/orgs/org/people) and repo collaborators can review this PR, and authors cannot review their own PRs.",
            body,
            url,
            help,
        );
        assert_eq!(reported(&actions[2], &["late"]), cc);

        let Event::Comment(mut c) = comment_on_pr("carol", "/bosun-assign @alice\n/bosun-cc @bob")
        else {
            unreachable!()
        };
        c.item.reference.forge = ForgeKind::GitLab;
        let actions = forge
            .run(&Assign, &Event::Comment(c))
            .await
            .expect("handled");
        assert!(
            reported(&actions[0], &["late"]).starts_with("@carol: GitLab didn't allow me to assign the following users: late.\n\nNote that only project members can be assigned.\n\n<details>"),
            "{actions:?}"
        );
        assert!(
            reported(&actions[1], &["late"]).starts_with("@carol: GitLab didn't allow me to request reviews from the following users: late.\n\nNote that only project members can review this merge request"),
            "{actions:?}"
        );
    }

    /// issue 12 item 5: a user the checks accepted but the forge leaves out (here: silently)
    /// is what the forge's answer names, and a user the plugin refused is not in the action,
    /// so no user is named twice.
    #[tokio::test]
    async fn the_forge_answer_names_only_users_the_plugin_did_not_refuse() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice", "bob"]);
        forge.with(|s| s.dropped.insert(login("bob")));
        let actions = forge
            .run(
                &Assign,
                &comment_on_pr("carol", "/assign @alice @bob @nobody"),
            )
            .await
            .expect("handled");
        let Action::Assign { item, users, .. } = &actions[0] else {
            panic!("{actions:?}")
        };
        assert_eq!(users, &[login("alice"), login("bob")]);
        assert!(
            matches!(&actions[1], Action::Comment { body, .. } if body.contains("users: nobody.")),
            "{actions:?}"
        );
        use crate::Forge as _;
        assert_eq!(
            forge.assign(item, users).await.expect("assigned"),
            vec![login("bob")]
        );
        assert_eq!(forge.snapshot().pr.assignees, [login("alice")]);
    }

    #[tokio::test]
    async fn unassign_comes_before_assign() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        let actions = forge
            .run(
                &Assign,
                &comment_on_pr("carol", "/assign @alice\n/unassign @bob"),
            )
            .await
            .expect("handled");
        assert_eq!(
            actions.iter().map(bare).collect::<Vec<_>>(),
            vec![
                Action::Unassign {
                    item: pr_ref(),
                    users: vec![login("bob")]
                },
                Action::Assign {
                    item: pr_ref(),
                    users: vec![login("alice")],
                    report: None,
                },
            ]
        );
    }

    #[tokio::test]
    async fn cc_requests_reviews_and_teams_but_not_the_author() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice", "pr-author"]);
        let actions = forge
            .run(
                &Assign,
                &comment_on_pr("carol", "/cc @alice @org/reviewers @pr-author"),
            )
            .await
            .expect("handled");
        assert_eq!(
            bare(&actions[0]),
            Action::RequestReviewers {
                item: pr_ref(),
                users: vec![login("alice")],
                teams: vec!["reviewers".into()],
                report: None,
            }
        );
        assert!(
            matches!(&actions[1], Action::Comment { body, .. } if body.contains("request PR reviews from the following users: pr-author."))
        );
        let actions = forge
            .run(&Assign, &comment_on_pr("carol", "/uncc @alice"))
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![Action::UnrequestReviewers {
                item: pr_ref(),
                users: vec![login("alice")],
                teams: vec![]
            }]
        );
    }

    #[tokio::test]
    async fn cc_only_on_pull_requests() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        let Event::Comment(mut c) = comment_on_pr("carol", "/cc @alice") else {
            unreachable!()
        };
        c.item.reference.kind = crate::ItemKind::Issue;
        assert!(
            forge
                .run(&Assign, &Event::Comment(c))
                .await
                .expect("handled")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn gitlab_needs_the_bosun_prefix() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        let Event::Comment(mut c) = comment_on_pr("carol", "/assign @alice") else {
            unreachable!()
        };
        c.item.reference.forge = ForgeKind::GitLab;
        assert!(
            forge
                .run(&Assign, &Event::Comment(c.clone()))
                .await
                .expect("handled")
                .is_empty(),
            "GitLab ran /assign itself"
        );
        c.body = "/bosun-assign @alice".into();
        let actions = forge
            .run(&Assign, &Event::Comment(c))
            .await
            .expect("handled");
        assert_eq!(actions.len(), 1);
    }
}
