//! The normalized event: what a GitHub or GitLab webhook means, independent of the forge.
//!
//! Like Prow's GenericCommentEvent, every text that can carry commands (a comment, a review
//! body, a note, a PR/issue description on open) becomes one [`CommentEvent`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which forge an event came from and which API carries out its actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    GitHub,
    GitLab,
}

impl ForgeKind {
    /// The lower-case name used in the database, metrics and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
        }
    }

    /// Parses the stored name back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "github" => Some(ForgeKind::GitHub),
            "gitlab" => Some(ForgeKind::GitLab),
            _ => None,
        }
    }
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A repository path: `org/repo` on GitHub, `group/subgroup/project` on GitLab.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RepoPath(String);

impl RepoPath {
    /// Accepts a non-empty path of at least two non-empty `/`-separated segments.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() <= 1024
            && s.split('/').count() >= 2
            && s.split('/')
                .all(|seg| !seg.is_empty() && !seg.chars().any(char::is_whitespace));
        ok.then(|| RepoPath(s.to_string()))
    }

    /// The full path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owner part: the GitHub org/user, or the GitLab namespace (all but the last segment).
    pub fn owner(&self) -> &str {
        self.0.rsplit_once('/').map(|(o, _)| o).unwrap_or(&self.0)
    }

    /// The repository's own name (the last segment).
    pub fn name(&self) -> &str {
        self.0.rsplit_once('/').map(|(_, n)| n).unwrap_or(&self.0)
    }

    /// The scopes to look settings up under, most specific first: `org/repo`, then each parent
    /// namespace (`group/sub`, `group`).
    pub fn scopes(&self) -> Vec<&str> {
        let mut out = vec![self.0.as_str()];
        let mut rest = self.0.as_str();
        while let Some((parent, _)) = rest.rsplit_once('/') {
            out.push(parent);
            rest = parent;
        }
        out
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user name. Forges treat logins case-insensitively, so equality ignores ASCII case and a
/// leading `@` is dropped.
#[derive(Debug, Clone, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct Login(String);

impl Login {
    /// Builds a login, dropping a leading `@`.
    pub fn new(s: &str) -> Self {
        Login(s.trim_start_matches('@').to_string())
    }

    /// The login as the forge spelled it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// GitHub Apps act as `name[bot]`; this is the login without that suffix.
    pub fn without_bot_suffix(&self) -> &str {
        self.0.strip_suffix("[bot]").unwrap_or(&self.0)
    }
}

impl PartialEq for Login {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl std::hash::Hash for Login {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_ascii_lowercase().hash(state)
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether an item is a pull/merge request or an issue; commands differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    PullRequest,
    Issue,
}

/// Open or closed (merged counts as closed, as in Prow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Open,
    Closed,
    Merged,
}

/// Names one pull request, merge request or issue; actions target it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemRef {
    pub forge: ForgeKind,
    pub repo: RepoPath,
    /// The PR/issue number on GitHub, the `iid` on GitLab.
    pub number: u64,
    pub kind: ItemKind,
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = match (self.forge, self.kind) {
            (ForgeKind::GitLab, ItemKind::PullRequest) => "!",
            _ => "#",
        };
        write!(f, "{}{}{}", self.repo, sep, self.number)
    }
}

/// What the webhook told us about the item at the time of the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub reference: ItemRef,
    pub author: Login,
    pub state: ItemState,
    pub title: String,
    pub labels: Vec<String>,
    pub assignees: Vec<Login>,
    pub draft: bool,
    pub html_url: String,
}

impl Item {
    /// Case-insensitive label test, as Prow's `HasLabel`.
    pub fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l.eq_ignore_ascii_case(label))
    }

    /// True for pull/merge requests.
    pub fn is_pr(&self) -> bool {
        self.reference.kind == ItemKind::PullRequest
    }
}

/// Prow's generalized comment action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CommentAction {
    Created,
    /// The old body, when the forge sends it, lets plugins run only newly added commands.
    Edited {
        previous_body: Option<String>,
    },
    Deleted,
}

/// Where the text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentSource {
    /// An issue/PR conversation comment or a GitLab note.
    Comment,
    /// An inline review comment on a diff (GitHub review comment, GitLab diff note).
    ReviewComment,
    /// A review's body (GitHub) or a native approval (GitLab).
    Review,
    /// The PR/issue description, when it is opened or edited.
    Description,
}

/// A review's verdict, when the text came with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    /// GitLab: an approval withdrawn.
    Unapproved,
}

/// Text that can carry commands, with who wrote it and on what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentEvent {
    pub item: Item,
    pub author: Login,
    pub body: String,
    pub action: CommentAction,
    pub source: CommentSource,
    pub review: Option<ReviewState>,
    pub html_url: String,
}

/// What happened to a pull/merge request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PrAction {
    Opened,
    Reopened,
    Closed,
    Merged,
    /// New commits: GitHub `synchronize`, GitLab `update` with `oldrev`.
    Synchronized {
        before: Option<String>,
    },
    Labeled {
        label: String,
    },
    Unlabeled {
        label: String,
    },
    Edited,
    ReadyForReview,
    ConvertedToDraft,
    Assigned,
    Unassigned,
    /// Reviews were asked of these users (GitHub names one per delivery; GitLab those added
    /// in one update). A request of a team names nobody here.
    ReviewRequested {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reviewers: Vec<Login>,
    },
    ReviewRequestRemoved,
    /// GitLab: a native approval was given / withdrawn.
    Approved,
    Unapproved,
    /// Any other change (e.g. a GitLab `update` without new commits).
    Updated,
    /// Nothing happened: bosun's periodic resync looks at the PR again (merge automation).
    Resync,
}

/// A pull/merge request changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequestEvent {
    pub pr: Item,
    pub action: PrAction,
    pub sender: Login,
    pub head_sha: String,
    pub base_sha: Option<String>,
    pub head_ref: String,
    pub base_ref: String,
}

/// What happened to an issue (not its description's commands: those are a [`CommentEvent`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueAction {
    Opened,
    Edited,
    Closed,
    Reopened,
    Labeled,
    Unlabeled,
    Assigned,
    Unassigned,
    Deleted,
    Other,
}

/// An issue changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueEvent {
    pub issue: Item,
    pub action: IssueAction,
    pub sender: Login,
}

/// Commits pushed to a branch or tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushEvent {
    pub forge: ForgeKind,
    pub repo: RepoPath,
    pub git_ref: String,
    pub before: String,
    pub after: String,
    pub pusher: Login,
    /// The repository's default branch, when the payload names it: a push to it may change
    /// the repository's own `.bosun.toml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    /// Every path the pushed commits added, modified or removed, when the payload lists all
    /// of them (forges list at most 20 commits); `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_paths: Option<Vec<String>>,
}

/// GitHub's hook-created ping; nothing to do but acknowledge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingEvent {
    pub forge: ForgeKind,
    pub repo: Option<RepoPath>,
    pub hook_id: Option<u64>,
}

/// One normalized event. A delivery yields one or two (a PR opened is also a comment event for
/// its description, as in Prow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Event {
    Comment(CommentEvent),
    PullRequest(PullRequestEvent),
    Issue(IssueEvent),
    Push(PushEvent),
    Ping(PingEvent),
    Ci(CiEvent),
    DeliveryFailed(DeliveryFailedEvent),
}

/// bosun itself gave up on a delivery after its last attempt: told to plugins as an event of
/// its own (journaled as a delivery of its own), so a chat group can hear of it like of any
/// other event, through the same journal, outbox and rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFailedEvent {
    /// The forge the failed delivery came from (or acted on, for Drone and chat).
    pub forge: ForgeKind,
    /// The repository the failed delivery was about (plugins are enabled per repository).
    pub repo: RepoPath,
    /// Its PR, MR or issue, when it named one.
    #[serde(default)]
    pub number: Option<u64>,
    /// The failed delivery's id (`github:<GUID>`, `drone:…`).
    pub delivery_id: String,
    /// Its event (`pull_request`, `Note Hook`, `drone`, `chat_command` …).
    pub event: String,
    /// How many times bosun tried.
    pub attempts: u32,
    /// The last error, as recorded on the delivery.
    pub error: String,
    /// The delivery's page on bosun's dashboard.
    pub page_url: String,
}

/// The CI systems bosun hears from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiSystem {
    /// A GitHub Actions workflow run.
    GithubActions,
    /// A GitHub check run or check suite of any app.
    GithubChecks,
    /// A GitHub commit status (any CI that reports statuses).
    GithubStatus,
    /// A GitLab pipeline (or a commit status on GitLab).
    GitlabCi,
    /// A Drone build.
    Drone,
}

impl CiSystem {
    /// The name used in the store and on pages.
    pub fn as_str(self) -> &'static str {
        match self {
            CiSystem::GithubActions => "github_actions",
            CiSystem::GithubChecks => "github_checks",
            CiSystem::GithubStatus => "github_status",
            CiSystem::GitlabCi => "gitlab_ci",
            CiSystem::Drone => "drone",
        }
    }

    /// The forge whose own API re-runs this system's contexts; Drone has its own.
    pub fn forge(self) -> Option<ForgeKind> {
        match self {
            CiSystem::GithubActions | CiSystem::GithubChecks | CiSystem::GithubStatus => {
                Some(ForgeKind::GitHub)
            }
            CiSystem::GitlabCi => Some(ForgeKind::GitLab),
            CiSystem::Drone => None,
        }
    }

    /// Reads [`CiSystem::as_str`] back.
    pub fn parse(s: &str) -> Option<CiSystem> {
        [
            CiSystem::GithubActions,
            CiSystem::GithubChecks,
            CiSystem::GithubStatus,
            CiSystem::GitlabCi,
            CiSystem::Drone,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Where a CI context stands, in Prow's (and GitHub statuses') terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiState {
    Pending,
    Success,
    Failure,
    Error,
    Cancelled,
}

impl CiState {
    /// The name used in the store and on pages.
    pub fn as_str(self) -> &'static str {
        match self {
            CiState::Pending => "pending",
            CiState::Success => "success",
            CiState::Failure => "failure",
            CiState::Error => "error",
            CiState::Cancelled => "cancelled",
        }
    }

    /// Reads [`CiState::as_str`] back.
    pub fn parse(s: &str) -> Option<CiState> {
        [
            CiState::Pending,
            CiState::Success,
            CiState::Failure,
            CiState::Error,
            CiState::Cancelled,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// Finished, one way or another.
    pub fn is_final(self) -> bool {
        self != CiState::Pending
    }

    /// Failed in a way `/retest` re-runs (failure or error).
    pub fn is_failed(self) -> bool {
        matches!(self, CiState::Failure | CiState::Error)
    }
}

/// A CI context changed state on a commit: a workflow run, a check, a status, a pipeline, a
/// Drone build, all in one shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiEvent {
    pub forge: ForgeKind,
    pub repo: RepoPath,
    pub system: CiSystem,
    /// The commit the context is about.
    pub sha: String,
    /// The PR/MR, when the event says (otherwise bosun maps the SHA to the PR it knows).
    pub number: Option<u64>,
    /// The context's name, as the forge shows it (`ci/test`, a workflow's name, a check's name,
    /// `gitlab-ci`, `continuous-integration/drone/pr`).
    pub context: String,
    pub state: CiState,
    /// Where to see it.
    pub url: Option<String>,
    /// The run to act on for a re-run: a workflow run id, check suite id, pipeline id, Drone
    /// build number.
    pub run_id: Option<String>,
}

impl Event {
    /// The forge the event came from.
    pub fn forge(&self) -> ForgeKind {
        match self {
            Event::Comment(c) => c.item.reference.forge,
            Event::PullRequest(p) => p.pr.reference.forge,
            Event::Issue(i) => i.issue.reference.forge,
            Event::Push(p) => p.forge,
            Event::Ping(p) => p.forge,
            Event::Ci(c) => c.forge,
            Event::DeliveryFailed(f) => f.forge,
        }
    }

    /// The repository the event is about, if any.
    pub fn repo(&self) -> Option<&RepoPath> {
        match self {
            Event::Comment(c) => Some(&c.item.reference.repo),
            Event::PullRequest(p) => Some(&p.pr.reference.repo),
            Event::Issue(i) => Some(&i.issue.reference.repo),
            Event::Push(p) => Some(&p.repo),
            Event::Ping(p) => p.repo.as_ref(),
            Event::Ci(c) => Some(&c.repo),
            Event::DeliveryFailed(f) => Some(&f.repo),
        }
    }

    /// The PR/issue the event is about, if any.
    pub fn item(&self) -> Option<&Item> {
        match self {
            Event::Comment(c) => Some(&c.item),
            Event::PullRequest(p) => Some(&p.pr),
            Event::Issue(i) => Some(&i.issue),
            Event::Push(_) | Event::Ping(_) | Event::Ci(_) | Event::DeliveryFailed(_) => None,
        }
    }

    /// Who caused the event.
    pub fn actor(&self) -> Option<&Login> {
        match self {
            Event::Comment(c) => Some(&c.author),
            Event::PullRequest(p) => Some(&p.sender),
            Event::Issue(i) => Some(&i.sender),
            Event::Push(p) => Some(&p.pusher),
            Event::Ping(_) | Event::Ci(_) | Event::DeliveryFailed(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_compare_case_insensitively_and_drop_at() {
        assert_eq!(Login::new("@Alice"), Login::new("alice"));
        assert_ne!(Login::new("alice"), Login::new("alicia"));
        assert_eq!(Login::new("bosun[bot]").without_bot_suffix(), "bosun");
    }

    #[test]
    fn repo_path_scopes_go_from_specific_to_general() {
        let r = RepoPath::parse("grp/sub/proj").expect("valid");
        assert_eq!(r.scopes(), vec!["grp/sub/proj", "grp/sub", "grp"]);
        assert_eq!(r.owner(), "grp/sub");
        assert_eq!(r.name(), "proj");
        assert!(RepoPath::parse("noslash").is_none());
        assert!(RepoPath::parse("a//b").is_none());
    }
}
