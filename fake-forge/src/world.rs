//! The fake forge's state: one world that both the GitHub and the GitLab API read and change.
//!
//! Tests seed it and assert on it; the HTTP handlers only translate between it and the wire
//! shapes. Timestamps come from a fake clock that ticks one second per event, so responses are
//! reproducible.

use bosun_plugins::{ForgeKind, ItemKind, ItemRef, ItemState};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::BTreeMap;

/// Everything the fake knows, for both forges.
#[derive(Debug, Clone)]
pub struct World {
    /// The GitHub side.
    pub github: Site,
    /// The GitLab side.
    pub gitlab: Site,
    /// Numeric ids of users by login, shared by both sites so ids are stable.
    users: BTreeMap<String, u64>,
    next_id: u64,
    clock: DateTime<Utc>,
}

/// One forge's repositories and the account bosun acts as there.
#[derive(Debug, Clone)]
pub struct Site {
    /// The login `GET /user` answers with and that authors the bot's comments.
    pub bot: String,
    /// Repositories (GitHub) or projects (GitLab), in creation order.
    pub repos: Vec<Repo>,
}

/// A repository or project.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The numeric id (GitLab accepts it in place of the encoded path).
    pub id: u64,
    /// `org/repo` or `group/sub/project`.
    pub path: String,
    /// The repository's label definitions; adding an unknown label to an item creates one.
    pub labels: Vec<RepoLabel>,
    /// PRs/MRs and issues.
    pub items: Vec<Item>,
}

/// A label defined on a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLabel {
    /// The label's numeric id.
    pub id: u64,
    /// The label's name, as first defined.
    pub name: String,
    /// Six hex digits, no `#`.
    pub color: String,
    /// An optional description.
    pub description: Option<String>,
}

/// A pull/merge request or an issue.
#[derive(Debug, Clone)]
pub struct Item {
    /// The global id (distinct from the number).
    pub id: u64,
    /// The GitHub number or GitLab iid.
    pub number: u64,
    /// Pull/merge request or issue.
    pub kind: ItemKind,
    /// The login of whoever opened it.
    pub author: String,
    /// The title.
    pub title: String,
    /// Open, closed or merged.
    pub state: ItemState,
    /// Label names, in the order they were added.
    pub labels: Vec<String>,
    /// Comments/notes, oldest first.
    pub comments: Vec<Comment>,
    /// When it was opened (fake clock).
    pub created_at: DateTime<Utc>,
}

/// A comment (GitHub) or note (GitLab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The comment/note id, unique in the world.
    pub id: u64,
    /// The login that wrote it.
    pub author: String,
    /// The text.
    pub body: String,
    /// GitLab system notes ("added ~lgtm label"); GitHub has none.
    pub system: bool,
    /// When it was written (fake clock).
    pub created_at: DateTime<Utc>,
    /// When it was last edited (fake clock).
    pub updated_at: DateTime<Utc>,
}

impl Default for World {
    fn default() -> Self {
        World {
            github: Site::new("bosun-bot"),
            gitlab: Site::new("bosun-bot"),
            users: BTreeMap::new(),
            next_id: 1000,
            clock: Utc
                .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
        }
    }
}

impl World {
    /// The side of the world for one forge.
    pub fn site(&self, kind: ForgeKind) -> &Site {
        match kind {
            ForgeKind::GitHub => &self.github,
            ForgeKind::GitLab => &self.gitlab,
        }
    }

    /// The side of the world for one forge, to change.
    pub fn site_mut(&mut self, kind: ForgeKind) -> &mut Site {
        match kind {
            ForgeKind::GitHub => &mut self.github,
            ForgeKind::GitLab => &mut self.gitlab,
        }
    }

    /// A fresh id, unique across everything in this world.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The fake clock: one second later on every call.
    pub fn tick(&mut self) -> DateTime<Utc> {
        self.clock += chrono::Duration::seconds(1);
        self.clock
    }

    /// The numeric id of a user, assigned on first sight.
    pub fn user_id(&mut self, login: &str) -> u64 {
        if let Some(id) = self.users.get(login) {
            return *id;
        }
        let id = self.next_id();
        self.users.insert(login.to_string(), id);
        id
    }

    /// Creates the repository if it does not exist yet.
    pub fn ensure_repo(&mut self, kind: ForgeKind, path: &str) -> &mut Repo {
        let id = self.next_id();
        let site = self.site_mut(kind);
        let idx = match site.repos.iter().position(|r| r.path == path) {
            Some(i) => i,
            None => {
                site.repos.push(Repo {
                    id,
                    path: path.to_string(),
                    labels: Vec::new(),
                    items: Vec::new(),
                });
                site.repos.len() - 1
            }
        };
        &mut site.repos[idx]
    }

    /// Adds a PR/MR or issue; panics if the item exists, since that is a mistake in the test.
    pub fn seed_item(&mut self, item: &ItemRef, author: &str) {
        let id = self.next_id();
        let created_at = self.tick();
        self.user_id(author);
        let github = item.forge == ForgeKind::GitHub;
        let repo = self.ensure_repo(item.forge, item.repo.as_str());
        let kind = (!github).then_some(item.kind);
        assert!(
            repo.item(kind, item.number).is_none(),
            "fake forge: {item} is already seeded"
        );
        let title = match item.kind {
            ItemKind::PullRequest => format!("Pull request {}", item.number),
            ItemKind::Issue => format!("Issue {}", item.number),
        };
        repo.items.push(Item {
            id,
            number: item.number,
            kind: item.kind,
            author: author.to_string(),
            title,
            state: ItemState::Open,
            labels: Vec::new(),
            comments: Vec::new(),
            created_at,
        });
    }

    /// The item a reference names, if seeded.
    pub fn item(&self, item: &ItemRef) -> Option<&Item> {
        let kind = (item.forge == ForgeKind::GitLab).then_some(item.kind);
        self.site(item.forge)
            .repo(item.repo.as_str())?
            .item(kind, item.number)
    }

    /// The item a reference names, to change; panics if it was never seeded.
    #[track_caller]
    pub fn item_mut(&mut self, item: &ItemRef) -> &mut Item {
        let kind = (item.forge == ForgeKind::GitLab).then_some(item.kind);
        self.site_mut(item.forge)
            .repo_mut(item.repo.as_str())
            .and_then(|r| r.item_mut(kind, item.number))
            .unwrap_or_else(|| panic!("fake forge: {item} was never seeded"))
    }

    /// Where an item sits in its repository; panics if it was never seeded.
    #[track_caller]
    fn locate(&self, item: &ItemRef) -> usize {
        let kind = (item.forge == ForgeKind::GitLab).then_some(item.kind);
        self.site(item.forge)
            .repo(item.repo.as_str())
            .and_then(|r| r.item_index(kind, item.number))
            .unwrap_or_else(|| panic!("fake forge: {item} was never seeded"))
    }

    /// Replaces an item's labels; panics if it was never seeded.
    #[track_caller]
    pub fn set_labels(&mut self, item: &ItemRef, names: &[String]) {
        self.item_mut(item).labels.clear();
        let idx = self.locate(item);
        self.add_labels(item.forge, item.repo.as_str(), idx, names);
    }

    /// Adds a comment by `author` and returns its id; panics if the item was never seeded.
    #[track_caller]
    pub fn seed_comment(&mut self, item: &ItemRef, author: &str, body: &str) -> u64 {
        let idx = self.locate(item);
        self.add_comment(item.forge, item.repo.as_str(), idx, author, body)
            .unwrap_or_else(|| panic!("fake forge: {item} was never seeded"))
    }

    /// Adds labels to an item (creating repository labels as needed), keeping existing ones.
    pub fn add_labels(&mut self, forge: ForgeKind, repo: &str, idx: usize, names: &[String]) {
        for name in names {
            let id = self.next_id();
            let Some(repo) = self.site_mut(forge).repo_mut(repo) else {
                return;
            };
            let canonical = repo.ensure_label(id, name);
            let item = &mut repo.items[idx];
            if !item
                .labels
                .iter()
                .any(|l| l.eq_ignore_ascii_case(&canonical))
            {
                item.labels.push(canonical);
            }
        }
    }

    /// Adds a comment/note and returns its id.
    pub fn add_comment(
        &mut self,
        forge: ForgeKind,
        repo: &str,
        idx: usize,
        author: &str,
        body: &str,
    ) -> Option<u64> {
        let id = self.next_id();
        let now = self.tick();
        self.user_id(author);
        let item = self.site_mut(forge).repo_mut(repo)?.items.get_mut(idx)?;
        item.comments.push(Comment {
            id,
            author: author.to_string(),
            body: body.to_string(),
            system: false,
            created_at: now,
            updated_at: now,
        });
        Some(id)
    }
}

impl Site {
    fn new(bot: &str) -> Self {
        Site {
            bot: bot.to_string(),
            repos: Vec::new(),
        }
    }

    /// A repository by its path.
    pub fn repo(&self, path: &str) -> Option<&Repo> {
        self.repos.iter().find(|r| r.path == path)
    }

    /// A repository by its path, to change.
    pub fn repo_mut(&mut self, path: &str) -> Option<&mut Repo> {
        self.repos.iter_mut().find(|r| r.path == path)
    }
}

impl Repo {
    /// An item by number; `kind: None` matches either kind (GitHub numbers are shared).
    pub fn item(&self, kind: Option<ItemKind>, number: u64) -> Option<&Item> {
        self.items
            .iter()
            .find(|i| i.number == number && kind.is_none_or(|k| k == i.kind))
    }

    /// An item by number, to change.
    pub fn item_mut(&mut self, kind: Option<ItemKind>, number: u64) -> Option<&mut Item> {
        self.items
            .iter_mut()
            .find(|i| i.number == number && kind.is_none_or(|k| k == i.kind))
    }

    /// The index of an item, for handlers that need the world mutably afterwards.
    pub fn item_index(&self, kind: Option<ItemKind>, number: u64) -> Option<usize> {
        self.items
            .iter()
            .position(|i| i.number == number && kind.is_none_or(|k| k == i.kind))
    }

    /// The label definition with this name (case-insensitive, as on GitHub).
    pub fn label(&self, name: &str) -> Option<&RepoLabel> {
        self.labels
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }

    /// Defines a label unless one with that name exists; returns the name as defined.
    fn ensure_label(&mut self, id: u64, name: &str) -> String {
        if let Some(l) = self.label(name) {
            return l.name.clone();
        }
        self.labels.push(RepoLabel {
            id,
            name: name.to_string(),
            color: "ededed".to_string(),
            description: None,
        });
        name.to_string()
    }
}
