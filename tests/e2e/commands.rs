//! The core Prow commands end to end on both forges: a real fixture webhook → bosun → the
//! fake forge's state (labels, assignees, reviewers, comments, state).

use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef, ItemState};
use fake_forge::access::DEVELOPER;

const ALL: &str = r#"["assign", "help", "hold", "label", "lgtm", "lifecycle", "retitle", "wip"]"#;

pub(crate) fn options(db: Db, lgtm_settings: &str) -> Options {
    let mut o = Options::new(db);
    o.extra = format!(
        "[plugins.\"kubernetes\"]\nenabled = {ALL}\n[plugins.\"gitlab-org\"]\nenabled = {ALL}\n[plugins.\"Codertocat\"]\nenabled = {ALL}\n[plugins.\"anbraten\"]\nenabled = {ALL}\n{lgtm_settings}"
    );
    o
}

/// One PR/MR on one forge, with the author the fixtures name.
#[derive(Clone, Copy)]
pub(crate) struct Case {
    pub(crate) forge: ForgeKind,
    pub(crate) repo: &'static str,
    pub(crate) number: u64,
    pub(crate) author: &'static str,
}

pub(crate) const GITHUB: Case = Case {
    forge: ForgeKind::GitHub,
    repo: GITHUB_REPO,
    number: 947,
    author: "spxtr",
};
pub(crate) const GITLAB: Case = Case {
    forge: ForgeKind::GitLab,
    repo: GITLAB_REPO,
    number: 1,
    author: "mr-author",
};
const GITLAB_AUTHOR_ID: u64 = 51764;

impl Case {
    /// GitLab runs its own quick actions; bosun's form of `verb` there is `/bosun-verb`.
    pub(crate) fn verb(&self, command: &str) -> String {
        match self.forge {
            ForgeKind::GitHub => command.to_string(),
            ForgeKind::GitLab => command.replacen('/', "/bosun-", 1),
        }
    }

    /// A PR webhook from a fixture of each forge, moved to this case's PR (bosun reads the PR
    /// itself, so only the routing fields matter).
    fn pr_hook(&self, github: &str, gitlab: &str) -> (&'static str, Vec<u8>) {
        match self.forge {
            ForgeKind::GitHub => {
                let mut v = fixture(github);
                patch(&mut v, "/number", self.number.into());
                patch(&mut v, "/pull_request/number", self.number.into());
                patch(&mut v, "/repository/full_name", self.repo.into());
                patch(
                    &mut v,
                    "/pull_request/base/repo/full_name",
                    self.repo.into(),
                );
                ("pull_request", serde_json::to_vec(&v).expect("json"))
            }
            ForgeKind::GitLab => {
                let mut v = fixture(gitlab);
                patch(&mut v, "/project/path_with_namespace", self.repo.into());
                patch(&mut v, "/object_attributes/iid", self.number.into());
                ("Merge Request Hook", serde_json::to_vec(&v).expect("json"))
            }
        }
    }

    /// New commits on the PR: GitHub `synchronize`, GitLab `update` with `oldrev` (another
    /// project's capture, moved to this one).
    pub(crate) fn pushed(&self) -> (&'static str, Vec<u8>) {
        self.pr_hook(
            "github/pull_request/synchronize.json",
            "gitlab/merge_request/update.oldrev.json",
        )
    }

    /// Commits pushed to a branch of this case's repository (a PR merged into it, say): GitHub
    /// `push`, GitLab `Push Hook`.
    pub(crate) fn branch_pushed(&self, branch: &str, after: &str) -> (&'static str, Vec<u8>) {
        let git_ref = format!("refs/heads/{branch}");
        match self.forge {
            ForgeKind::GitHub => {
                let mut v = fixture("github/push/payload.json");
                patch(&mut v, "/ref", git_ref.into());
                patch(&mut v, "/after", after.into());
                patch(&mut v, "/deleted", false.into());
                patch(&mut v, "/repository/full_name", self.repo.into());
                ("push", serde_json::to_vec(&v).expect("json"))
            }
            ForgeKind::GitLab => {
                let mut v = fixture("gitlab/push/push.json");
                patch(&mut v, "/ref", git_ref.into());
                patch(&mut v, "/after", after.into());
                patch(&mut v, "/checkout_sha", after.into());
                patch(&mut v, "/project/path_with_namespace", self.repo.into());
                ("Push Hook", serde_json::to_vec(&v).expect("json"))
            }
        }
    }

    /// New commits on the PR, its head now `sha`.
    pub(crate) fn pushed_at(&self, sha: &str) -> (&'static str, Vec<u8>) {
        let (event, body) = self.pushed();
        let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        match self.forge {
            ForgeKind::GitHub => patch(&mut v, "/pull_request/head/sha", sha.into()),
            ForgeKind::GitLab => patch(&mut v, "/object_attributes/last_commit/id", sha.into()),
        }
        (event, serde_json::to_vec(&v).expect("json"))
    }

    /// The PR opened.
    pub(crate) fn opened(&self) -> (&'static str, Vec<u8>) {
        self.pr_hook(
            "github/pull_request/opened.json",
            "gitlab/merge_request/open.json",
        )
    }

    /// The PR's title or description edited.
    pub(crate) fn edited(&self) -> (&'static str, Vec<u8>) {
        self.pr_hook(
            "github/pull_request/edited.json",
            "gitlab/merge_request/update.title-description.json",
        )
    }

    /// A label change on the PR.
    pub(crate) fn labeled(&self) -> (&'static str, Vec<u8>) {
        self.pr_hook(
            "github/pull_request/labeled.json",
            "gitlab/merge_request/update.labels-added.json",
        )
    }

    /// A GitLab `Pipeline Hook` for this MR: pipeline `id` (if given) on `sha` in `status`.
    pub(crate) fn pipeline_hook(&self, id: Option<u64>, sha: &str, status: &str) -> Vec<u8> {
        let mut hook = fixture("gitlab/pipeline/pipeline.go-gitlab.json");
        if let Some(id) = id {
            patch(&mut hook, "/object_attributes/id", id.into());
        }
        patch(&mut hook, "/object_attributes/sha", sha.into());
        patch(&mut hook, "/object_attributes/status", status.into());
        patch(&mut hook, "/merge_request/iid", self.number.into());
        patch(&mut hook, "/project/path_with_namespace", self.repo.into());
        serde_json::to_vec(&hook).expect("json")
    }

    pub(crate) fn comment(&self, who: &str, body: &str) -> (&'static str, Vec<u8>) {
        match self.forge {
            ForgeKind::GitHub => ("issue_comment", github_pr_comment(self.number, who, body)),
            ForgeKind::GitLab => {
                let mut v = fixture("gitlab/note/merge_request.json");
                patch(&mut v, "/object_attributes/note", body.into());
                patch(&mut v, "/user/username", who.into());
                patch(&mut v, "/merge_request/iid", self.number.into());
                // The MR names its author by id only; the note's user is the author when the ids match.
                let id = if who == self.author {
                    GITLAB_AUTHOR_ID
                } else {
                    7
                };
                v["user"]["id"] = id.into();
                ("Note Hook", serde_json::to_vec(&v).expect("json"))
            }
        }
    }
}

pub(crate) async fn setup(bosun: &TestBosun, case: Case) -> ItemRef {
    let pr = bosun
        .forge
        .seed_pr(case.forge, case.repo, case.number, case.author);
    for user in ["alice", "bob", case.author] {
        bosun
            .forge
            .add_member(case.forge, case.repo, user, DEVELOPER);
    }
    pr
}

pub(crate) async fn say(bosun: &TestBosun, case: Case, who: &str, body: &str) {
    let (event, payload) = case.comment(who, body);
    let id = uuid::Uuid::new_v4().to_string();
    let (status, text) = bosun.post(case.forge, event, &id, &payload).await;
    assert_eq!(status, 202, "{text}");
    bosun.run_until_idle().await;
}

fn bot_comments(bosun: &TestBosun, pr: &ItemRef) -> Vec<String> {
    bosun
        .forge
        .comments(pr)
        .into_iter()
        .filter(|c| c.author == BOT)
        .map(|c| c.body)
        .collect()
}

/// Prow lgtm: a collaborator's /lgtm adds `lgtm` and assigns them; /lgtm cancel removes it.
#[tokio::test]
async fn lgtm_by_a_collaborator_then_cancel() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            say(&bosun, case, "alice", "/lgtm").await;
            assert_eq!(bosun.forge.labels(&pr), vec!["lgtm"], "{:?}", case.forge);
            assert!(
                bosun
                    .forge
                    .item(&pr)
                    .assignees
                    .contains(&"alice".to_string()),
                "{:?}",
                case.forge
            );
            say(&bosun, case, "alice", "/lgtm cancel").await;
            assert!(bosun.forge.labels(&pr).is_empty(), "{:?}", case.forge);
            bosun.shutdown().await;
        }
    }
}

/// Prow lgtm: the author's /lgtm is refused with Prow's reply and adds nothing.
#[tokio::test]
async fn lgtm_by_the_author_is_refused() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            say(&bosun, case, case.author, "/lgtm").await;
            assert!(bosun.forge.labels(&pr).is_empty(), "{:?}", case.forge);
            let replies = bot_comments(&bosun, &pr);
            assert_eq!(replies.len(), 1, "{:?}: {replies:?}", case.forge);
            assert!(
                replies[0].starts_with(&format!("@{}: you cannot LGTM your own PR.", case.author)),
                "{}",
                replies[0]
            );
            bosun.shutdown().await;
        }
    }
}

fn github_push(number: u64, head: &str) -> Vec<u8> {
    let mut v = fixture("github/pull_request/synchronize.json");
    patch(&mut v, "/number", number.into());
    patch(&mut v, "/pull_request/number", number.into());
    patch(&mut v, "/pull_request/head/sha", head.into());
    serde_json::to_vec(&v).expect("json")
}

/// Prow lgtm: new commits remove `lgtm`; with `store_tree_hash` a push with the same tree keeps it.
#[tokio::test]
async fn new_commits_remove_lgtm_unless_the_tree_is_the_same() {
    for db in databases() {
        let _combination = Combination::new(db);
        let settings = "[settings.lgtm.\"Codertocat\"]\nstore_tree_hash = true\n";
        let bosun = spawn_bosun(options(db, settings)).await;
        let case = Case {
            forge: ForgeKind::GitHub,
            repo: "Codertocat/Hello-World",
            number: 2,
            author: "Codertocat",
        };
        let pr = setup(&bosun, case).await;
        let first = bosun
            .forge
            .seed_commit(case.forge, case.repo, &[("README.md", b"hello")]);
        bosun.forge.update_item(&pr, |i| i.head_sha = first.clone());
        let mut v = fixture("github/issue_comment/created.on-pull-request.lgtm.json");
        patch(&mut v, "/repository/full_name", case.repo.into());
        patch(&mut v, "/issue/number", 2.into());
        patch(&mut v, "/issue/user/login", case.author.into());
        patch(&mut v, "/comment/user/login", "alice".into());
        bosun
            .post(
                case.forge,
                "issue_comment",
                "t-lgtm",
                &serde_json::to_vec(&v).expect("json"),
            )
            .await;
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), vec!["lgtm"]);
        assert!(
            bot_comments(&bosun, &pr)
                .iter()
                .any(|c| c.contains("Git tree hash:"))
        );

        let rebased = bosun
            .forge
            .seed_commit(case.forge, case.repo, &[("README.md", b"hello")]);
        bosun
            .post(
                case.forge,
                "pull_request",
                "t-push-1",
                &github_push(2, &rebased),
            )
            .await;
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), vec!["lgtm"], "same tree: kept");

        let changed = bosun
            .forge
            .seed_commit(case.forge, case.repo, &[("README.md", b"changed")]);
        bosun
            .post(
                case.forge,
                "pull_request",
                "t-push-2",
                &github_push(2, &changed),
            )
            .await;
        bosun.run_until_idle().await;
        assert!(bosun.forge.labels(&pr).is_empty(), "new content: removed");
        assert!(
            bot_comments(&bosun, &pr)
                .iter()
                .any(|c| c.contains("New changes are detected. LGTM label has been removed."))
        );
        bosun.shutdown().await;
    }
}

/// GitLab: new commits (an MR update with oldrev) remove `lgtm`.
#[tokio::test]
async fn gitlab_new_commits_remove_lgtm() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(options(db, "")).await;
        let case = Case {
            forge: ForgeKind::GitLab,
            repo: "anbraten/woodpecker",
            number: 3,
            author: "anbraten",
        };
        let pr = setup(&bosun, case).await;
        bosun.forge.set_labels(&pr, &["lgtm"]);
        bosun
            .post(
                case.forge,
                "Merge Request Hook",
                "gl-push",
                &fixture_bytes("gitlab/merge_request/update.oldrev.json"),
            )
            .await;
        bosun.run_until_idle().await;
        assert!(bosun.forge.labels(&pr).is_empty());
        bosun.shutdown().await;
    }
}

/// Prow assign (issue 12 item 5): GitHub decides who can be assigned. A user GitHub would
/// assign who is neither a collaborator nor an org member is assigned there; on GitLab only
/// members are, and the others are named in the reply.
#[tokio::test]
async fn assign_asks_the_forge_who_can_be_assigned() {
    for db in databases() {
        for case in [GITHUB, GITLAB] {
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            bosun.forge.ensure_user("triager");
            if case.forge == ForgeKind::GitHub {
                bosun.forge.add_assignable(case.repo, "triager");
            }
            say(&bosun, case, "carol", &case.verb("/assign @triager @alice")).await;
            let replies = bot_comments(&bosun, &pr);
            match case.forge {
                ForgeKind::GitHub => {
                    assert_eq!(bosun.forge.item(&pr).assignees, ["triager", "alice"]);
                    assert!(replies.is_empty(), "{replies:?}");
                }
                ForgeKind::GitLab => {
                    assert_eq!(bosun.forge.item(&pr).assignees, ["alice"]);
                    assert!(
                        replies.iter().any(|r| r.contains(
                            "GitLab didn't allow me to assign the following users: triager."
                        )),
                        "{replies:?}"
                    );
                }
            }
            bosun.shutdown().await;
        }
    }
}

/// Prow assign: /assign, /unassign, /cc, /uncc (GitLab: the /bosun- forms).
#[tokio::test]
async fn assign_and_cc() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            say(&bosun, case, "carol", &case.verb("/assign @alice @bob")).await;
            assert_eq!(
                bosun.forge.item(&pr).assignees,
                vec!["alice", "bob"],
                "{:?}",
                case.forge
            );
            say(&bosun, case, "carol", &case.verb("/unassign @bob")).await;
            assert_eq!(
                bosun.forge.item(&pr).assignees,
                vec!["alice"],
                "{:?}",
                case.forge
            );
            say(&bosun, case, "carol", &case.verb("/cc @bob")).await;
            assert_eq!(
                bosun.forge.item(&pr).requested_reviewers,
                vec!["bob"],
                "{:?}",
                case.forge
            );
            say(&bosun, case, "carol", &case.verb("/uncc @bob")).await;
            assert!(
                bosun.forge.item(&pr).requested_reviewers.is_empty(),
                "{:?}",
                case.forge
            );
            if case.forge == ForgeKind::GitLab {
                say(&bosun, case, "carol", "/assign @bob").await;
                assert_eq!(
                    bosun.forge.item(&pr).assignees,
                    vec!["alice"],
                    "GitLab ran /assign itself; bosun leaves it"
                );
            }
            bosun.shutdown().await;
        }
    }
}

/// What the forge says it refused, in Prow's words on `case`'s forge, naming `names`.
fn refused_text(case: Case, target: &str, names: &str) -> String {
    match (case.forge, target) {
        (ForgeKind::GitHub, "assign") => {
            format!(
                "GitHub didn't allow me to assign the following users: {names}.\n\nNote that only [kubernetes members](https://github.com/orgs/kubernetes/people) with read permissions"
            )
        }
        (ForgeKind::GitHub, _) => format!(
            "GitHub didn't allow me to request PR reviews from the following users: {names}.\n\nNote that only [kubernetes members](https://github.com/orgs/kubernetes/people) and repo collaborators can review this PR"
        ),
        (ForgeKind::GitLab, "assign") => format!(
            "GitLab didn't allow me to assign the following users: {names}.\n\nNote that only project members can be assigned."
        ),
        (ForgeKind::GitLab, _) => format!(
            "GitLab didn't allow me to request reviews from the following users: {names}.\n\nNote that only project members can review this merge request"
        ),
    }
}

/// No delivery ended `failed`.
async fn expect_no_failed_delivery(bosun: &TestBosun) {
    let counts = bosun.store.status_counts().await.expect("counts");
    assert_eq!(counts.get("failed").copied().unwrap_or(0), 0, "{counts:?}");
}

/// Prow assign (§3.3, issue 12 item 5): after assigning or requesting reviews, the users the
/// forge's answer leaves out are named in Prow's words, quoting the command. bob passes every
/// check but the forge drops him at write time; nobody is refused by the check before acting:
/// each is named once, in its own reply.
#[tokio::test]
async fn assign_and_cc_name_the_users_the_forge_leaves_out() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            bosun.forge.drop_at_write(case.forge, case.repo, "bob");
            let command = case.verb("/assign @alice @bob @nobody");
            say(&bosun, case, "carol", &command).await;
            assert_eq!(bosun.forge.item(&pr).assignees, ["alice"]);
            let replies = bot_comments(&bosun, &pr);
            assert_eq!(replies.len(), 2, "{replies:?}");
            for names in ["bob", "nobody"] {
                let said = format!("@carol: {}", refused_text(case, "assign", names));
                let named: Vec<&String> = replies.iter().filter(|r| r.starts_with(&said)).collect();
                assert_eq!(named.len(), 1, "{names} once: {replies:?}");
                assert!(
                    named[0].contains(&format!("\n>{command}\n")),
                    "{}",
                    named[0]
                );
            }

            let command = case.verb("/cc @alice @bob");
            say(&bosun, case, "carol", &command).await;
            assert_eq!(bosun.forge.item(&pr).requested_reviewers, ["alice"]);
            let replies = bot_comments(&bosun, &pr);
            assert_eq!(replies.len(), 3, "{replies:?}");
            let said = format!("@carol: {}", refused_text(case, "cc", "bob"));
            assert!(
                replies[2].starts_with(&said) && replies[2].contains(&format!("\n>{command}\n")),
                "{replies:?}"
            );
            expect_no_failed_delivery(&bosun).await;
            bosun.shutdown().await;
        }
    }
}

/// Exactly once: the reply naming a user the forge left out is posted, but the answer to that
/// post is lost (502). The action stays `applying`; the retry assigns again, finds the reply
/// with the action's marker and posts nothing more.
#[tokio::test]
async fn the_reply_naming_left_out_users_survives_a_lost_answer_once() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            bosun.forge.drop_at_write(case.forge, case.repo, "bob");
            let comments = match case.forge {
                ForgeKind::GitHub => format!("/issues/{}/comments", case.number),
                ForgeKind::GitLab => format!("/merge_requests/{}/notes", case.number),
            };
            bosun
                .forge
                .fail_next(&comments, 1, fake_forge::Fault::LostResponse);
            say(&bosun, case, "carol", &case.verb("/assign @alice @bob")).await;
            assert_eq!(bosun.forge.item(&pr).assignees, ["alice"]);
            let replies = bot_comments(&bosun, &pr);
            assert_eq!(replies.len(), 1, "posted once: {replies:?}");
            assert!(
                replies[0].starts_with(&format!("@carol: {}", refused_text(case, "assign", "bob"))),
                "{replies:?}"
            );
            let posts: Vec<Option<u16>> = bosun
                .forge
                .requests()
                .iter()
                .filter(|r| r.method == "POST" && r.path.contains(&comments))
                .map(|r| r.status)
                .collect();
            assert_eq!(
                posts,
                [Some(502)],
                "the reply's answer was lost; the retry looked and did not post again"
            );
            expect_no_failed_delivery(&bosun).await;
            bosun.shutdown().await;
        }
    }
}

fn seed_repo_labels(bosun: &TestBosun, case: Case, names: &[&str]) {
    bosun.forge.update(|w| {
        let repo = w.ensure_repo(case.forge, case.repo);
        for (i, n) in names.iter().enumerate() {
            repo.labels.push(fake_forge::RepoLabel {
                id: 9000 + i as u64,
                name: n.to_string(),
                color: "ededed".into(),
                description: None,
            });
        }
    });
}

/// Prow label: /kind bug adds `kind/bug`, /remove-kind bug removes it; a label the repo lacks is refused.
#[tokio::test]
async fn kind_and_missing_labels() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            seed_repo_labels(&bosun, case, &["kind/bug"]);
            say(&bosun, case, "carol", "/kind bug").await;
            assert_eq!(
                bosun.forge.labels(&pr),
                vec!["kind/bug"],
                "{:?}",
                case.forge
            );
            say(&bosun, case, "carol", "/remove-kind bug").await;
            assert!(bosun.forge.labels(&pr).is_empty(), "{:?}", case.forge);
            say(&bosun, case, "carol", "/kind nonexistent").await;
            assert!(bosun.forge.labels(&pr).is_empty());
            let replies = bot_comments(&bosun, &pr);
            assert!(replies.iter().any(|r| r.contains("The label(s) `kind/nonexistent` cannot be applied, because the repository doesn't have them.")), "{replies:?}");
            bosun.shutdown().await;
        }
    }
}

/// Prow lifecycle: the author closes and reopens (GitLab: /bosun-close, /bosun-reopen).
#[tokio::test]
async fn close_and_reopen() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            say(&bosun, case, "alice", &case.verb("/close")).await;
            assert_eq!(
                bosun.forge.item(&pr).state,
                ItemState::Closed,
                "{:?}",
                case.forge
            );
            // The next webhook carries the closed state, as the forge would send it.
            let (event, mut payload) = case.comment("alice", &case.verb("/reopen"));
            let mut v: serde_json::Value = serde_json::from_slice(&payload).expect("json");
            match case.forge {
                ForgeKind::GitHub => v["issue"]["state"] = "closed".into(),
                ForgeKind::GitLab => v["merge_request"]["state"] = "closed".into(),
            }
            payload = serde_json::to_vec(&v).expect("json");
            bosun.post(case.forge, event, "reopen-1", &payload).await;
            bosun.run_until_idle().await;
            assert_eq!(
                bosun.forge.item(&pr).state,
                ItemState::Open,
                "{:?}",
                case.forge
            );
            let replies = bot_comments(&bosun, &pr);
            assert!(
                replies.iter().any(|r| r.contains("Closed this PR."))
                    && replies.iter().any(|r| r.contains("Reopened this PR.")),
                "{replies:?}"
            );
            bosun.shutdown().await;
        }
    }
}

/// The comment webhook for `who` saying `body` on an open issue (GitHub: the fixture's PR
/// comment without its `pull_request`; GitLab: the issue note fixture).
pub(crate) fn issue_comment(
    case: Case,
    number: u64,
    who: &str,
    body: &str,
) -> (&'static str, Vec<u8>) {
    match case.forge {
        ForgeKind::GitHub => {
            let mut v: serde_json::Value =
                serde_json::from_slice(&github_pr_comment(number, who, body)).expect("json");
            if let Some(o) = v["issue"].as_object_mut() {
                o.remove("pull_request");
            }
            ("issue_comment", serde_json::to_vec(&v).expect("json"))
        }
        ForgeKind::GitLab => {
            let mut v = fixture("gitlab/note/issue.json");
            patch(&mut v, "/object_attributes/note", body.into());
            patch(&mut v, "/user/username", who.into());
            patch(&mut v, "/issue/iid", number.into());
            ("Note Hook", serde_json::to_vec(&v).expect("json"))
        }
    }
}

/// Prow lifecycle: `/close not-planned` closes an issue as not planned (GitHub's
/// `state_reason`); GitLab records no reason and closes plainly.
#[tokio::test]
async fn close_not_planned_sends_the_reason() {
    for db in databases() {
        for case in [GITHUB, GITLAB] {
            let bosun = spawn_bosun(options(db, "")).await;
            let number = 12;
            let issue = bosun
                .forge
                .seed_issue(case.forge, case.repo, number, case.author);
            bosun
                .forge
                .add_member(case.forge, case.repo, "alice", DEVELOPER);
            let (event, payload) =
                issue_comment(case, number, "alice", &case.verb("/close not-planned"));
            let (status, text) = bosun.post(case.forge, event, "close-np", &payload).await;
            assert_eq!(status, 202, "{text}");
            bosun.run_until_idle().await;
            let item = bosun.forge.item(&issue);
            assert_eq!(item.state, ItemState::Closed, "{:?}", case.forge);
            let expected = (case.forge == ForgeKind::GitHub).then(|| "not_planned".to_string());
            assert_eq!(item.state_reason, expected, "{:?}", case.forge);
            let replies = bot_comments(&bosun, &issue);
            assert!(
                replies
                    .iter()
                    .any(|r| r.contains("Closing this issue, marking it as \"Not Planned\".")),
                "{:?}: {replies:?}",
                case.forge
            );
            bosun.shutdown().await;
        }
    }
}

/// Prow help: /help on an issue adds `help wanted` and a notice.
#[tokio::test]
async fn help_on_an_issue() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(options(db, "")).await;
        let mut v = fixture("github/issue_comment/created.on-pull-request.lgtm.json");
        v["issue"]
            .as_object_mut()
            .expect("issue")
            .remove("pull_request");
        patch(&mut v, "/comment/body", "/help".into());
        let issue = bosun
            .forge
            .seed_issue(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        bosun
            .post(
                ForgeKind::GitHub,
                "issue_comment",
                "help-1",
                &serde_json::to_vec(&v).expect("json"),
            )
            .await;
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&issue), vec!["help wanted"]);
        assert!(
            bot_comments(&bosun, &issue)
                .iter()
                .any(|c| c.contains("needing help from a contributor"))
        );
        bosun.shutdown().await;
    }
}

/// A comment by bosun itself changes nothing, whatever it says.
#[tokio::test]
async fn the_bots_own_commands_do_nothing() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            say(&bosun, case, BOT, "/hold\n/lgtm\n/kind bug").await;
            assert!(bosun.forge.labels(&pr).is_empty());
            assert!(bot_comments(&bosun, &pr).is_empty());
            bosun.shutdown().await;
        }
    }
}

/// GitLab: a native MR approval acts as `/lgtm` when `review_acts_as_lgtm` is set.
#[tokio::test]
async fn gitlab_approval_acts_as_lgtm() {
    for db in databases() {
        let _combination = Combination::new(db);
        let settings = "[settings.lgtm.\"anbraten\"]\nreview_acts_as_lgtm = true\n";
        let bosun = spawn_bosun(options(db, settings)).await;
        // A real approval, given here by a collaborator who is not the MR's author.
        let mut v = fixture("gitlab/merge_request/approved.json");
        patch(&mut v, "/user/username", "alice".into());
        patch(&mut v, "/user/id", 7.into());
        let case = Case {
            forge: ForgeKind::GitLab,
            repo: "anbraten/woodpecker",
            number: 3,
            author: "anbraten",
        };
        let pr = setup(&bosun, case).await;
        let (s, _) = bosun
            .post(
                ForgeKind::GitLab,
                "Merge Request Hook",
                "approved-1",
                &serde_json::to_vec(&v).expect("json"),
            )
            .await;
        assert_eq!(s, 202);
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), vec!["lgtm"], "{db:?}");
        bosun.shutdown().await;
    }
}

/// Prow label: `/label` of a label that is not configured is refused with one reply.
#[tokio::test]
async fn label_of_an_unconfigured_label_is_refused() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            say(&bosun, case, "carol", &case.verb("/label nonexistent")).await;
            assert!(bosun.forge.labels(&pr).is_empty());
            let replies = bot_comments(&bosun, &pr);
            assert!(
                replies
                    .iter()
                    .any(|r| r.contains("The label(s) `/label nonexistent` cannot be applied.")),
                "{:?}: {replies:?}",
                case.forge
            );
            bosun.shutdown().await;
        }
    }
}

/// Prow help on GitLab: /help in a note on an issue adds `help wanted` and a notice.
#[tokio::test]
async fn help_on_a_gitlab_issue() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(options(db, "")).await;
        let issue = bosun
            .forge
            .seed_issue(ForgeKind::GitLab, GITLAB_REPO, 1, "sytses");
        let mut v = fixture("gitlab/note/issue.json");
        patch(&mut v, "/object_attributes/note", "/help".into());
        let (s, _) = bosun
            .post(
                ForgeKind::GitLab,
                "Note Hook",
                "gl-help-1",
                &serde_json::to_vec(&v).expect("json"),
            )
            .await;
        assert_eq!(s, 202);
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&issue), vec!["help wanted"], "{db:?}");
        assert!(
            bot_comments(&bosun, &issue)
                .iter()
                .any(|c| c.contains("needing help from a contributor"))
        );
        bosun.shutdown().await;
    }
}

fn gitlab_push(iid: u64, head: &str) -> Vec<u8> {
    let mut v = fixture("gitlab/merge_request/update.oldrev.json");
    patch(&mut v, "/object_attributes/iid", iid.into());
    patch(&mut v, "/object_attributes/last_commit/id", head.into());
    serde_json::to_vec(&v).expect("json")
}

/// Prow lgtm on GitLab: with `store_tree_hash`, new commits with the same content keep `lgtm`,
/// and different content removes it.
#[tokio::test]
async fn gitlab_same_tree_keeps_lgtm() {
    for db in databases() {
        let _combination = Combination::new(db);
        let settings = "[settings.lgtm.\"anbraten\"]\nstore_tree_hash = true\n";
        let bosun = spawn_bosun(options(db, settings)).await;
        let case = Case {
            forge: ForgeKind::GitLab,
            repo: "anbraten/woodpecker",
            number: 3,
            author: "anbraten",
        };
        let pr = setup(&bosun, case).await;
        let first = bosun
            .forge
            .seed_commit(case.forge, case.repo, &[("README.md", b"hello")]);
        bosun.forge.update_item(&pr, |i| i.head_sha = first.clone());
        let mut v = fixture("gitlab/note/merge_request.json");
        patch(&mut v, "/object_attributes/note", "/lgtm".into());
        patch(&mut v, "/user/username", "alice".into());
        patch(&mut v, "/merge_request/iid", 3.into());
        patch(&mut v, "/project/path_with_namespace", case.repo.into());
        // The captured note was written by the MR's author; here a collaborator writes it.
        v["user"]["id"] = 7.into();
        bosun
            .post(
                case.forge,
                "Note Hook",
                "gl-lgtm",
                &serde_json::to_vec(&v).expect("json"),
            )
            .await;
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), vec!["lgtm"], "{db:?}");

        let rebased = bosun
            .forge
            .seed_commit(case.forge, case.repo, &[("README.md", b"hello")]);
        bosun
            .forge
            .update_item(&pr, |i| i.head_sha = rebased.clone());
        bosun
            .post(
                case.forge,
                "Merge Request Hook",
                "gl-push-1",
                &gitlab_push(3, &rebased),
            )
            .await;
        bosun.run_until_idle().await;
        assert_eq!(
            bosun.forge.labels(&pr),
            vec!["lgtm"],
            "{db:?}: same content keeps lgtm"
        );

        let changed = bosun
            .forge
            .seed_commit(case.forge, case.repo, &[("README.md", b"changed")]);
        bosun
            .forge
            .update_item(&pr, |i| i.head_sha = changed.clone());
        bosun
            .post(
                case.forge,
                "Merge Request Hook",
                "gl-push-2",
                &gitlab_push(3, &changed),
            )
            .await;
        bosun.run_until_idle().await;
        assert!(
            bosun.forge.labels(&pr).is_empty(),
            "{db:?}: new content removes lgtm"
        );
        bosun.shutdown().await;
    }
}
