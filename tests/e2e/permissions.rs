//! Who may use what: every command × seven roles, on both forges, against the real bosun.
//!
//! Each cell gets its own PR or issue, so cells cannot interfere: one bosun per (database,
//! forge) takes every cell's comment, runs until idle, and then every cell's forge effect is
//! checked against the expectation below, which follows reference/prow.md §3. Refusals Prow
//! answers with a reply must have that reply; allowed cells must not. The same table, rendered
//! by [`markdown`], is the README's "Who may use what".

use crate::support::*;
use bosun_plugins::{ForgeKind, ItemKind, ItemRef, ItemState};
use fake_forge::RepoLabel;
use fake_forge::access::{DEVELOPER, REPORTER};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Who writes the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Opened the PR or issue; no other standing.
    Author,
    /// GitHub repo collaborator; GitLab project member with Developer access.
    Collaborator,
    /// GitHub org member; GitLab group member at Reporter (not a collaborator).
    OrgMember,
    /// Listed as an approver in the root OWNERS file; no membership.
    Approver,
    /// Nobody in particular.
    Outsider,
    /// An account in `bot_accounts` (also a collaborator, org member and OWNERS approver).
    BotAccount,
    /// bosun's own account (also a collaborator and org member).
    Bosun,
}

const ROLES: [Role; 7] = [
    Role::Author,
    Role::Collaborator,
    Role::OrgMember,
    Role::Approver,
    Role::Outsider,
    Role::BotAccount,
    Role::Bosun,
];

impl Role {
    fn login(self) -> &'static str {
        match self {
            Role::Author => "pr-author",
            Role::Collaborator => "collab",
            Role::OrgMember => "member",
            Role::Approver => "approver",
            Role::Outsider => "outsider",
            Role::BotAccount => "ci-robot",
            Role::Bosun => BOT,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Role::Author => "PR/issue author",
            Role::Collaborator => "collaborator",
            Role::OrgMember => "org member",
            Role::Approver => "OWNERS approver",
            Role::Outsider => "outsider",
            Role::BotAccount => "bot account",
            Role::Bosun => "bosun itself",
        }
    }

    fn is_bot(self) -> bool {
        matches!(self, Role::BotAccount | Role::Bosun)
    }
}

/// The reviewer `/cc` and `/uncc` name: a collaborator, so anyone may ask for them.
const REVIEWER: &str = "reviewer";
/// The label `/label` adds: configured in `additional_labels`.
const EXTRA_LABEL: &str = "tide/merge-method-squash";
const NEW_TITLE: &str = "Retitled through bosun";
/// The milestone `/milestone` sets; the repository has it.
const MILESTONE: &str = "v1.0";
/// The `maintainers_team` of the milestone settings: the org member is in it.
const MILESTONE_TEAM: &str = "milestone-maintainers";
/// The repository of the org `/transfer-issue` moves issues to.
const TRANSFER_TO: &str = "kubectl";
/// The label `/shrug` adds.
const SHRUG: &str = bosun_plugins::shrug::LABEL;

/// The state a cell's item starts in.
#[derive(Debug, Clone, Copy)]
enum Setup {
    Fresh,
    Labels(&'static [&'static str]),
    /// The commenter is assigned.
    CommenterAssigned,
    /// [`REVIEWER`] is asked for a review.
    ReviewerRequested,
    Closed,
    /// The OWNERS approver approved earlier and the PR has `approved`.
    ApprovedByApprover,
    /// The PR merged, with one commit on `main` that `release-1.2` lacks.
    Merged,
}

/// What "allowed" looks like on the forge.
#[derive(Debug, Clone, Copy)]
enum Effect {
    HasLabel(&'static str),
    LacksLabel(&'static str),
    CommenterAssigned,
    CommenterUnassigned,
    ReviewerRequested,
    ReviewerUnrequested,
    SomeReviewerRequested,
    Closed,
    Open,
    Retitled,
    /// The item is in this milestone.
    InMilestone(&'static str),
    /// A PR from the item's cherry-pick branch onto `release-1.2` is open.
    CherryPicked,
    /// The issue moved to [`TRANSFER_TO`] (GitHub: gone from its repository; GitLab: closed
    /// with `moved_to_id`).
    Transferred,
}

/// One command: where it is written, what it needs, what it does, and who may use it.
struct Row {
    /// As written on GitHub; on GitLab, verbs GitLab owns get the `/bosun-` prefix.
    command: &'static str,
    /// What the README shows (Markdown), when the command text alone is not enough.
    shown: &'static str,
    on: ItemKind,
    setup: Setup,
    effect: Effect,
    /// Per role, in [`ROLES`] order, as prow.md says.
    allowed: [bool; 7],
    /// Where GitLab differs (README footnote).
    on_gitlab: Option<[bool; 7]>,
    /// The reply a refused human gets (a substring), if Prow answers at all.
    refusal: Option<&'static str>,
    /// The author's refusal, when it differs.
    author_refusal: Option<&'static str>,
    /// README footnote marker.
    note: &'static str,
}

const Y: bool = true;
const N: bool = false;
const ANYONE: [bool; 7] = [Y, Y, Y, Y, Y, N, N];

fn row(
    command: &'static str,
    on: ItemKind,
    setup: Setup,
    effect: Effect,
    allowed: [bool; 7],
) -> Row {
    Row {
        command,
        shown: "",
        on,
        setup,
        effect,
        allowed,
        on_gitlab: None,
        refusal: None,
        author_refusal: None,
        note: "",
    }
}

impl Row {
    fn refused_with(mut self, reply: &'static str) -> Row {
        self.refusal = Some(reply);
        self
    }
    fn author_refused_with(mut self, reply: &'static str) -> Row {
        self.author_refusal = Some(reply);
        self
    }
    fn on_gitlab(mut self, allowed: [bool; 7]) -> Row {
        self.on_gitlab = Some(allowed);
        self
    }
    fn shown(mut self, shown: &'static str) -> Row {
        self.shown = shown;
        self
    }
    fn note(mut self, note: &'static str) -> Row {
        self.note = note;
        self
    }

    fn allowed(&self, forge: ForgeKind, role: usize) -> bool {
        match (forge, self.on_gitlab) {
            (ForgeKind::GitLab, Some(gitlab)) => gitlab[role],
            _ => self.allowed[role],
        }
    }

    fn refusal_for(&self, role: Role) -> Option<&'static str> {
        match role {
            Role::Author => self.author_refusal.or(self.refusal),
            _ => self.refusal,
        }
    }

    /// The command as bosun's users write it on `forge`.
    fn text(&self, forge: ForgeKind) -> String {
        let verb: String = self.command[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let owned = bosun_plugins::command::GITLAB_OWNED_VERBS.contains(&verb.as_str());
        if forge == ForgeKind::GitLab && owned {
            self.command.replacen('/', "/bosun-", 1)
        } else {
            self.command.to_string()
        }
    }
}

const LGTM_RESTRICTED: &str = "changing LGTM is restricted to collaborators";
const CLOSE_REFUSED: &str =
    "You can't close an active issue/PR unless you authored it or you are a collaborator.";
const REOPEN_REFUSED: &str =
    "You can't reopen an issue/PR unless you authored it or you are a collaborator.";

/// The matrix. Columns: author, collaborator, org member, OWNERS approver, outsider, bot
/// account, bosun itself.
fn matrix() -> Vec<Row> {
    use Effect as E;
    use ItemKind::{Issue, PullRequest as Pr};
    use Setup as S;
    vec![
        row(
            "/lgtm",
            Pr,
            S::Fresh,
            E::HasLabel("lgtm"),
            [N, Y, N, N, N, N, N],
        )
        .refused_with(LGTM_RESTRICTED)
        .author_refused_with("you cannot LGTM your own PR."),
        row(
            "/lgtm cancel",
            Pr,
            S::Labels(&["lgtm"]),
            E::LacksLabel("lgtm"),
            [Y, Y, N, N, N, N, N],
        )
        .refused_with(LGTM_RESTRICTED),
        row(
            "/approve",
            Pr,
            S::Fresh,
            E::HasLabel("approved"),
            [N, N, N, Y, N, N, N],
        )
        .note("¹"),
        row(
            "/approve cancel",
            Pr,
            S::ApprovedByApprover,
            E::LacksLabel("approved"),
            [N, N, N, Y, N, N, N],
        )
        .note("²"),
        row(
            "/hold",
            Pr,
            S::Fresh,
            E::HasLabel("do-not-merge/hold"),
            ANYONE,
        ),
        row(
            "/hold cancel",
            Pr,
            S::Labels(&["do-not-merge/hold"]),
            E::LacksLabel("do-not-merge/hold"),
            ANYONE,
        ),
        row("/assign", Pr, S::Fresh, E::CommenterAssigned, ANYONE)
            .on_gitlab([N, Y, Y, N, N, N, N])
            .refused_with("didn't allow me to assign")
            .note("³"),
        row(
            "/unassign",
            Pr,
            S::CommenterAssigned,
            E::CommenterUnassigned,
            ANYONE,
        ),
        row("/cc @reviewer", Pr, S::Fresh, E::ReviewerRequested, ANYONE),
        row(
            "/uncc @reviewer",
            Pr,
            S::ReviewerRequested,
            E::ReviewerUnrequested,
            ANYONE,
        ),
        row("/kind bug", Pr, S::Fresh, E::HasLabel("kind/bug"), ANYONE),
        row(
            "/remove-kind bug",
            Pr,
            S::Labels(&["kind/bug"]),
            E::LacksLabel("kind/bug"),
            ANYONE,
        ),
        row(
            "/triage accepted",
            Pr,
            S::Fresh,
            E::HasLabel("triage/accepted"),
            [N, N, Y, N, N, N, N],
        )
        .refused_with("The label `triage/accepted` cannot be applied. Only Git"),
        row(
            "/label tide/merge-method-squash",
            Pr,
            S::Fresh,
            E::HasLabel(EXTRA_LABEL),
            ANYONE,
        )
        .shown("`/label x` (x in `additional_labels`)"),
        row("/close", Pr, S::Fresh, E::Closed, [Y, Y, N, N, N, N, N]).refused_with(CLOSE_REFUSED),
        row(
            "/close",
            Pr,
            S::Labels(&["lifecycle/stale"]),
            E::Closed,
            ANYONE,
        )
        .shown("`/close` on a `lifecycle/stale` item"),
        row("/reopen", Pr, S::Closed, E::Open, [Y, Y, N, N, N, N, N]).refused_with(REOPEN_REFUSED),
        row(
            "/retitle Retitled through bosun",
            Pr,
            S::Fresh,
            E::Retitled,
            [N, Y, Y, N, N, N, N],
        )
        .refused_with(
            "Re-titling can only be requested by trusted users, like repository collaborators.",
        )
        .shown("`/retitle <title>`"),
        row(
            "/lifecycle stale",
            Pr,
            S::Fresh,
            E::HasLabel("lifecycle/stale"),
            ANYONE,
        ),
        row(
            "/remove-lifecycle stale",
            Pr,
            S::Labels(&["lifecycle/stale"]),
            E::LacksLabel("lifecycle/stale"),
            ANYONE,
        ),
        row("/help", Issue, S::Fresh, E::HasLabel("help wanted"), ANYONE).shown("`/help` (issues)"),
        row(
            "/good-first-issue",
            Issue,
            S::Fresh,
            E::HasLabel("good first issue"),
            ANYONE,
        )
        .shown("`/good-first-issue` (issues)"),
        row(
            "/remove-help",
            Issue,
            S::Labels(&["help wanted"]),
            E::LacksLabel("help wanted"),
            ANYONE,
        )
        .shown("`/remove-help` (issues)"),
        row("/auto-cc", Pr, S::Fresh, E::SomeReviewerRequested, ANYONE),
        row(
            "/release-note-none",
            Pr,
            S::Fresh,
            E::HasLabel("release-note-none"),
            [Y, Y, Y, N, N, N, N],
        )
        .refused_with("you can only set the release note label to release-note-none if you are the PR author or an org member."),
        row(
            "/check-dco",
            Pr,
            S::Fresh,
            E::HasLabel("dco-signoff: yes"),
            ANYONE,
        ),
        row(
            "/milestone v1.0",
            Pr,
            S::Fresh,
            E::InMilestone(MILESTONE),
            [N, N, Y, N, N, N, N],
        )
        .refused_with("to set the milestone. If you believe you should be able to issue the /milestone command")
        .shown("`/milestone <title>`, `/milestone clear`")
        .note("⁴"),
        row(
            "/status in-review",
            Issue,
            S::Fresh,
            E::HasLabel("status/in-review"),
            [N, N, Y, N, N, N, N],
        )
        .refused_with("to add status labels. If you believe you should be able to issue the /status command")
        .shown("`/status in-review` (or `in-progress`, `approved-for-milestone`)")
        .note("⁴"),
        row(
            "/verify-owners",
            Pr,
            S::Labels(&["do-not-merge/invalid-owners-file"]),
            E::LacksLabel("do-not-merge/invalid-owners-file"),
            ANYONE,
        ),
        row("/shrug", Pr, S::Fresh, E::HasLabel(SHRUG), ANYONE),
        row(
            "/transfer-issue kubectl",
            Issue,
            S::Fresh,
            E::Transferred,
            [N, N, Y, N, N, N, N],
        )
        .refused_with("You must be an org member to transfer this issue.")
        .shown("`/transfer-issue <repo>` (issues)"),
        // Last: the PRs its cells open take the numbers after the highest seeded cell.
        row(
            "/cherry-pick release-1.2",
            Pr,
            S::Merged,
            E::CherryPicked,
            [N, N, Y, N, N, N, N],
        )
        .refused_with("may request cherry-picks")
        .shown("`/cherry-pick <branch>` (a merged PR)"),
    ]
}

/// The README table: ✓ allowed, ✗ refused or without effect; GitLab differences inline.
fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| Command |");
    for role in ROLES {
        out.push_str(&format!(" {} |", role.title()));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(ROLES.len()));
    out.push('\n');
    let mark = |b: bool| if b { "✓" } else { "✗" };
    for r in rows {
        let shown = if r.shown.is_empty() {
            format!("`{}`", r.command)
        } else {
            r.shown.to_string()
        };
        out.push_str(&format!("| {shown}{} |", r.note));
        for i in 0..ROLES.len() {
            let github = r.allowed[i];
            let gitlab = r.allowed(ForgeKind::GitLab, i);
            if github == gitlab {
                out.push_str(&format!(" {} |", mark(github)));
            } else {
                out.push_str(&format!(" {} (GitLab {}) |", mark(github), mark(gitlab)));
            }
        }
        out.push('\n');
    }
    out
}

/// One forge's repository, group and fixtures.
struct Site {
    forge: ForgeKind,
    repo: &'static str,
    org: &'static str,
}

const GITHUB: Site = Site {
    forge: ForgeKind::GitHub,
    repo: GITHUB_REPO,
    org: "kubernetes",
};
const GITLAB: Site = Site {
    forge: ForgeKind::GitLab,
    repo: GITLAB_REPO,
    org: "gitlab-org",
};
/// The GitLab fixtures' item author id: a note whose user has it is by the author.
const GITLAB_AUTHOR_ID: u64 = 51764;

const PLUGINS: &str = r#"["approve", "assign", "blunderbuss", "dco", "help", "hold", "label", "lgtm", "lifecycle", "milestone", "milestonestatus", "release-note", "retitle", "verify-owners", "cherrypick", "shrug", "transfer-issue"]"#;
const OWNERS: &[u8] = b"approvers: [approver, ci-robot]\nreviewers: [rev-a, rev-b]\n";

impl Site {
    fn options(&self, db: Db) -> Options {
        let mut o = Options::new(db);
        o.top = "bot_accounts = [\"ci-robot\"]\n".into();
        o.extra = format!(
            "[plugins.\"{org}\"]\nenabled = {PLUGINS}\n\
             [settings.label.\"{org}\"]\nadditional_labels = [\"{EXTRA_LABEL}\"]\n\
             [settings.milestone.\"{org}\"]\nmaintainers_team = \"{MILESTONE_TEAM}\"\n",
            org = self.org
        );
        // 170 cells: more workers keep the run short.
        o.env.push(("BOSUN_QUEUE__WORKERS".into(), "4".into()));
        o
    }

    /// Members, OWNERS at the base commit and the labels the label plugin needs.
    fn seed_world(&self, bosun: &TestBosun) -> String {
        let forge = &bosun.forge;
        for who in [Role::Collaborator.login(), REVIEWER, "ci-robot", BOT] {
            forge.add_member(self.forge, self.repo, who, DEVELOPER);
        }
        for who in [Role::OrgMember.login(), "ci-robot", BOT] {
            forge.add_group_member(self.forge, self.org, who, REPORTER);
        }
        forge.add_group_member(
            self.forge,
            &format!("{}/{MILESTONE_TEAM}", self.org),
            Role::OrgMember.login(),
            REPORTER,
        );
        forge.seed_milestone(self.forge, self.repo, MILESTONE);
        forge.seed_repo(self.forge, &format!("{}/{TRANSFER_TO}", self.org));
        for who in ROLES.map(Role::login).iter().chain(&["rev-a", "rev-b"]) {
            forge.ensure_user(who);
        }
        // GitHub asks only collaborators for reviews (it refuses others with 422).
        for who in ["rev-a", "rev-b"] {
            forge.add_member(self.forge, self.repo, who, REPORTER);
        }
        forge.update(|w| {
            for name in ["kind/bug", "triage/accepted", EXTRA_LABEL] {
                let id = w.next_id();
                w.ensure_repo(self.forge, self.repo).labels.push(RepoLabel {
                    id,
                    name: name.into(),
                    color: "ededed".into(),
                    description: None,
                });
            }
        });
        // The branches `/cherry-pick release-1.2` reads (a merged cell's PR is on `main`).
        let owners = String::from_utf8_lossy(OWNERS).into_owned();
        forge.update(|w| {
            w.seed_branch(
                self.forge,
                self.repo,
                "main",
                &[("OWNERS", &owners), ("src/main.go", "package main\n")],
            );
            w.seed_branch(
                self.forge,
                self.repo,
                "release-1.2",
                &[
                    ("OWNERS", &owners),
                    ("src/main.go", "package main\n"),
                    ("RELEASE", "1.2\n"),
                ],
            );
        });
        forge.seed_commit(
            self.forge,
            self.repo,
            &[("OWNERS", OWNERS), ("src/main.go", b"package main\n")],
        )
    }

    /// Seeds one cell's item in the state its row needs.
    fn seed_cell(
        &self,
        bosun: &TestBosun,
        r: &Row,
        role: Role,
        number: u64,
        base: &str,
    ) -> ItemRef {
        let forge = &bosun.forge;
        let author = Role::Author.login();
        let item = match r.on {
            ItemKind::PullRequest => forge.seed_pr(self.forge, self.repo, number, author),
            ItemKind::Issue => forge.seed_issue(self.forge, self.repo, number, author),
        };
        forge.update_item(&item, |i| {
            i.base_sha = base.to_string();
            i.changed_files = vec![fake_forge::ChangedFile {
                path: "src/main.go".into(),
                previous_path: None,
                additions: 3,
                deletions: 1,
            }];
        });
        match r.setup {
            Setup::Fresh => {}
            Setup::Labels(labels) => forge.set_labels(&item, labels),
            Setup::CommenterAssigned => {
                forge.update_item(&item, |i| i.assignees = vec![role.login().to_string()])
            }
            Setup::ReviewerRequested => forge.update_item(&item, |i| {
                i.requested_reviewers = vec![REVIEWER.to_string()]
            }),
            Setup::Closed => forge.update_item(&item, |i| i.state = ItemState::Closed),
            Setup::Merged => forge.update(|w| {
                w.seed_pr_commits(
                    &item,
                    &[("Change", &[("src/main.go", Some("package main // v2\n"))])],
                );
                w.item_mut(&item).state = ItemState::Merged;
            }),
            Setup::ApprovedByApprover => {
                let approve = match self.forge {
                    ForgeKind::GitHub => "/approve",
                    ForgeKind::GitLab => "/bosun-approve",
                };
                forge.seed_comment(&item, Role::Approver.login(), approve);
                forge.set_labels(&item, &["approved"]);
            }
        }
        item
    }

    /// The comment webhook for `who` saying `body` on a cell's item.
    fn comment(
        &self,
        item: &ItemRef,
        closed: bool,
        who: Role,
        body: &str,
        id: u64,
    ) -> (&'static str, Vec<u8>) {
        let is_pr = item.kind == ItemKind::PullRequest;
        match self.forge {
            ForgeKind::GitHub => {
                let mut v: Value =
                    serde_json::from_slice(&github_pr_comment(item.number, who.login(), body))
                        .expect("json");
                v["comment"]["id"] = id.into();
                let issue = &mut v["issue"];
                issue["user"]["login"] = Role::Author.login().into();
                issue["state"] = if closed { "closed" } else { "open" }.into();
                issue["labels"] = Value::Array(vec![]);
                issue["assignees"] = Value::Array(vec![]);
                issue["assignee"] = Value::Null;
                if !is_pr && let Some(o) = issue.as_object_mut() {
                    o.remove("pull_request");
                }
                ("issue_comment", serde_json::to_vec(&v).expect("json"))
            }
            ForgeKind::GitLab => {
                let (fixture_path, key) = if is_pr {
                    ("gitlab/note/merge_request.json", "merge_request")
                } else {
                    ("gitlab/note/issue.json", "issue")
                };
                let mut v = fixture(fixture_path);
                // The item names its author by id only: the author's notes carry that id.
                let user_id = if who == Role::Author {
                    GITLAB_AUTHOR_ID
                } else {
                    7
                };
                v["user"]["username"] = who.login().into();
                v["user"]["id"] = user_id.into();
                v["object_attributes"]["note"] = body.into();
                v["object_attributes"]["id"] = id.into();
                v["object_attributes"]["author_id"] = user_id.into();
                v[key]["iid"] = item.number.into();
                v[key]["state"] = if closed { "closed" } else { "opened" }.into();
                v[key]["author_id"] = GITLAB_AUTHOR_ID.into();
                ("Note Hook", serde_json::to_vec(&v).expect("json"))
            }
        }
    }
}

struct Cell {
    row: usize,
    role: usize,
    item: ItemRef,
    delivery: String,
}

/// Whether the cell's effect is visible on the forge now.
fn effect_seen(bosun: &TestBosun, effect: Effect, item: &ItemRef, who: Role) -> bool {
    if let Effect::Transferred = effect {
        return !still_there(bosun, item) || bosun.forge.item(item).moved_to.is_some();
    }
    let it = bosun.forge.item(item);
    let has = |l: &str| it.labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    let assigned = it
        .assignees
        .iter()
        .any(|a| a.eq_ignore_ascii_case(who.login()));
    let requested = it.requested_reviewers.iter().any(|r| r == REVIEWER);
    match effect {
        Effect::HasLabel(l) => has(l),
        Effect::LacksLabel(l) => !has(l),
        Effect::CommenterAssigned => assigned,
        Effect::CommenterUnassigned => !assigned,
        Effect::ReviewerRequested => requested,
        Effect::ReviewerUnrequested => !requested,
        Effect::SomeReviewerRequested => !it.requested_reviewers.is_empty(),
        Effect::Closed => it.state == ItemState::Closed,
        Effect::Open => it.state == ItemState::Open,
        Effect::Retitled => it.title == NEW_TITLE,
        Effect::InMilestone(m) => bosun.forge.milestone(item).as_deref() == Some(m),
        Effect::Transferred => unreachable!("answered above"),
        Effect::CherryPicked => {
            let branch = format!("cherry-pick-{}-to-release-1.2", item.number);
            bosun.forge.read(|w| {
                w.site(item.forge)
                    .repo(item.repo.as_str())
                    .is_some_and(|r| {
                        r.items.iter().any(|i| {
                            i.head_ref == branch
                                && i.base_ref == "release-1.2"
                                && i.state == ItemState::Open
                        })
                    })
            })
        }
    }
}

/// Whether the item is still in its repository (GitHub moves a transferred issue away).
fn still_there(bosun: &TestBosun, item: &ItemRef) -> bool {
    bosun.forge.read(|w| {
        w.site(item.forge)
            .repo(item.repo.as_str())
            .is_some_and(|r| {
                r.items
                    .iter()
                    .any(|i| i.number == item.number && i.kind == item.kind)
            })
    })
}

/// The README's "Who may use what" is this test's expectation, verbatim.
#[test]
fn readme_shows_the_matrix() {
    let table = markdown(&matrix());
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    assert!(
        readme.contains(&table),
        "README's \"Who may use what\" must be this table:\n{table}"
    );
}

/// Every command × every role, on both forges and every database: the forge effect happens
/// exactly where prow.md allows it, refusals get Prow's reply, and bots get nothing at all.
#[tokio::test]
async fn permission_matrix_on_both_forges() {
    let rows = matrix();
    println!("{}", markdown(&rows));
    for db in databases() {
        let _combination = Combination::new(db);
        for site in [GITHUB, GITLAB] {
            let started = Instant::now();
            let bosun = spawn_bosun(site.options(db)).await;
            let base = site.seed_world(&bosun);
            let mut cells = Vec::new();
            for (r, row) in rows.iter().enumerate() {
                for (c, role) in ROLES.into_iter().enumerate() {
                    let number = 1000 + (r as u64) * 10 + c as u64;
                    let item = site.seed_cell(&bosun, row, role, number, &base);
                    let body = row.text(site.forge);
                    let id = bosun.forge.seed_comment(&item, role.login(), &body);
                    let closed = matches!(row.setup, Setup::Closed);
                    let (event, payload) = site.comment(&item, closed, role, &body, id);
                    let delivery = uuid::Uuid::new_v4().to_string();
                    let (status, text) = bosun.post(site.forge, event, &delivery, &payload).await;
                    assert_eq!(status, 202, "{text}");
                    cells.push(Cell {
                        row: r,
                        role: c,
                        item,
                        delivery: format!("{}:{delivery}", site.forge.as_str()),
                    });
                }
            }
            wait_until(
                "every cell's delivery finished",
                Duration::from_secs(240),
                || async {
                    let counts = bosun.store.status_counts().await.expect("counts");
                    counts.get("queued").copied().unwrap_or(0)
                        + counts.get("running").copied().unwrap_or(0)
                        == 0
                },
            )
            .await;

            let mut wrong = Vec::new();
            for cell in &cells {
                let row = &rows[cell.row];
                let role = ROLES[cell.role];
                let at = format!(
                    "{db:?} {:?} `{}` by {}",
                    site.forge,
                    row.text(site.forge),
                    role.title()
                );
                let status = bosun.status_of(&cell.delivery).await;
                if status.as_deref() != Some("done") {
                    wrong.push(format!("{at}: delivery {status:?}"));
                    continue;
                }
                let expected = row.allowed(site.forge, cell.role);
                let seen = effect_seen(&bosun, row.effect, &cell.item, role);
                if seen != expected {
                    wrong.push(format!(
                        "{at}: expected {}, the forge shows it {}",
                        if expected { "allowed" } else { "refused" },
                        if seen { "done" } else { "not done" }
                    ));
                }
                let comments = if still_there(&bosun, &cell.item) {
                    bosun.forge.comments(&cell.item)
                } else {
                    vec![]
                };
                let replies: Vec<String> = comments
                    .into_iter()
                    .filter(|c| c.author == BOT && c.body != row.text(site.forge))
                    .map(|c| c.body)
                    .collect();
                if role.is_bot() {
                    if !replies.is_empty() {
                        wrong.push(format!("{at}: a bot's comment was answered: {replies:?}"));
                    }
                    continue;
                }
                if let Some(refusal) = row.refusal_for(role) {
                    let replied = replies.iter().any(|b| b.contains(refusal));
                    if replied == expected {
                        wrong.push(format!(
                            "{at}: reply {refusal:?} {} ({replies:?})",
                            if expected {
                                "given to an allowed user"
                            } else {
                                "missing"
                            }
                        ));
                    }
                }
            }
            assert!(
                wrong.is_empty(),
                "{} cells disagree:\n{}",
                wrong.len(),
                wrong.join("\n")
            );
            println!(
                "{db:?} {:?}: {} cells in {:.1?}",
                site.forge,
                cells.len(),
                started.elapsed()
            );
            bosun.shutdown().await;
        }
    }
}
