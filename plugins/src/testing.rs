//! An in-memory forge and event builders for plugin unit tests.

use crate::{
    Action, BotComment, CommentAction, CommentEvent, CommentSource, Context, Event, Forge,
    ForgeError, ForgeKind, ForgeRead, Item, ItemKind, ItemRef, ItemState, Login, Plugin,
    PluginError, RepoPath,
};
use async_trait::async_trait;
use std::sync::Mutex;

/// One repo with one PR (`org/repo#1`), its labels and comments, all in memory.
pub struct MemoryForge {
    state: Mutex<State>,
    bot: Login,
}

#[derive(Default)]
struct State {
    labels: Vec<String>,
    comments: Vec<BotComment>,
}

impl Default for MemoryForge {
    fn default() -> Self {
        MemoryForge { state: Mutex::new(State::default()), bot: Login::new("bosun-bot") }
    }
}

impl MemoryForge {
    /// The PR every builder here refers to.
    pub fn pr_ref(&self) -> ItemRef {
        pr_ref()
    }

    /// Replaces the PR's labels.
    pub fn set_labels(&self, labels: &[&str]) {
        self.lock().labels = labels.iter().map(|s| s.to_string()).collect();
    }

    /// The PR's labels now.
    pub fn current_labels(&self) -> Vec<String> {
        self.lock().labels.clone()
    }

    /// Runs a plugin on an event with no settings.
    pub async fn run(&self, plugin: &dyn Plugin, event: &Event) -> Result<Vec<Action>, PluginError> {
        let settings = serde_json::Value::Null;
        let cx = Context { forge: self, settings: &settings, bot: &self.bot };
        plugin.handle(event, &cx).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ForgeRead for MemoryForge {
    async fn labels(&self, _item: &ItemRef) -> Result<Vec<String>, ForgeError> {
        Ok(self.lock().labels.clone())
    }
    async fn comments(&self, _item: &ItemRef) -> Result<Vec<BotComment>, ForgeError> {
        Ok(self.lock().comments.clone())
    }
    async fn bot_login(&self) -> Result<Login, ForgeError> {
        Ok(self.bot.clone())
    }
}

#[async_trait]
impl Forge for MemoryForge {
    async fn add_labels(&self, _item: &ItemRef, labels: &[String]) -> Result<(), ForgeError> {
        let mut s = self.lock();
        for l in labels {
            if !s.labels.iter().any(|x| x.eq_ignore_ascii_case(l)) {
                s.labels.push(l.clone());
            }
        }
        Ok(())
    }
    async fn remove_label(&self, _item: &ItemRef, label: &str) -> Result<(), ForgeError> {
        self.lock().labels.retain(|l| !l.eq_ignore_ascii_case(label));
        Ok(())
    }
    async fn create_comment(&self, _item: &ItemRef, body: &str) -> Result<u64, ForgeError> {
        let mut s = self.lock();
        let id = s.comments.len() as u64 + 1;
        s.comments.push(BotComment { id, author: self.bot.clone(), body: body.to_string() });
        Ok(id)
    }
    async fn edit_comment(&self, _item: &ItemRef, id: u64, body: &str) -> Result<(), ForgeError> {
        let mut s = self.lock();
        let c = s.comments.iter_mut().find(|c| c.id == id);
        let c = c.ok_or_else(|| ForgeError::NotFound(format!("comment {id}")))?;
        c.body = body.to_string();
        Ok(())
    }
}

/// `org/repo#1` on GitHub.
pub fn pr_ref() -> ItemRef {
    ItemRef {
        forge: ForgeKind::GitHub,
        repo: RepoPath::parse("org/repo").expect("valid repo"),
        number: 1,
        kind: ItemKind::PullRequest,
    }
}

/// A new comment by `author` on `org/repo#1`, a PR opened by `pr-author`.
pub fn comment_on_pr(author: &str, body: &str) -> Event {
    Event::Comment(CommentEvent {
        item: Item {
            reference: pr_ref(),
            author: Login::new("pr-author"),
            state: ItemState::Open,
            title: "A change".into(),
            labels: vec![],
            assignees: vec![],
            draft: false,
            html_url: "https://github.com/org/repo/pull/1".into(),
        },
        author: Login::new(author),
        body: body.into(),
        action: CommentAction::Created,
        source: CommentSource::Comment,
        review: None,
        html_url: "https://github.com/org/repo/pull/1#issuecomment-1".into(),
    })
}
