//! Commands from chat. A bound chat user's command becomes the comment event their forge
//! account would have made on the pull request, and runs through the same plugins with the
//! same rules; what the plugins would have replied on the forge is answered in chat instead,
//! and (unless configured off) a short note on the PR says the command came from chat. `status`
//! and `help` only read. An unbound user is told how to bind, and nothing else happens.
//!
//! Binding: a chat user acts as a forge account bound to them in the configuration, or bound
//! by themselves: `bind <forge> <login>` in chat gives them a one-time code (kept only as its
//! SHA-256, valid [`CODE_TTL`]), which the forge user confirms by commenting
//! `/bosun-bind <code>` on any PR or issue of a repository bosun serves. Only a comment by that
//! very login (compared case-insensitively, never by display name) redeems it, once; the
//! configuration's binding of a chat user wins over theirs.

use super::{Dispatcher, Outcome, finish};
use crate::chat::command::{self, ChatCommand};
use crate::store::{
    BindingCode, ClaimedDelivery, FinalStatus, PlannedAction, Settlement, StoreError,
};
use bosun_plugins::{
    Action, CommentAction, CommentEvent, CommentSource, Event, ForgeError, ForgeKind, Item,
    ItemRef, ItemState, Login,
};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The plugin name chat's own actions are journaled under.
const PLUGIN: &str = "chatops";

/// How long a binding code can be confirmed.
pub const CODE_TTL: Duration = Duration::from_secs(30 * 60);

/// Letters of a binding code: lower case and digits without the look-alikes (0/o, 1/l/i).
const CODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A code's key in the store: its SHA-256, hex. The code itself is kept nowhere.
pub fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.trim().to_ascii_lowercase().as_bytes()))
}

/// A fresh code: 10 letters of a 31-letter alphabet (about 50 bits), from the thread's
/// cryptographically secure generator.
fn new_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..10)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Dispatcher {
    /// Decides (once) and applies a chat command.
    pub(super) async fn handle_chat(
        &self,
        delivery: &ClaimedDelivery,
        settlement: &mut Settlement,
    ) -> Result<Outcome, StoreError> {
        let cmd: ChatCommand = match serde_json::from_slice(&delivery.payload) {
            Ok(cmd) => cmd,
            Err(e) => {
                return Ok(Outcome::Finished(
                    FinalStatus::Ignored,
                    Some(format!("not a chat command bosun can use: {e}")),
                ));
            }
        };
        let mut journaled = None;
        let repo = cmd.target.as_ref().map(|t| t.repo.clone());
        let dry_run = self.settings().is_dry_run(delivery.forge, repo.as_ref());
        if !delivery.decided {
            // The store's binding is read first: deciding itself reads only the forge.
            let bound = match &cmd.target {
                Some(t) => match self.settings().chat.login_of(&cmd.user, t.forge) {
                    Some(login) => Some(login.to_string()),
                    None => self.store.chat_binding(&cmd.user, t.forge).await?,
                },
                None => None,
            };
            let decided = match command::bind_request(&cmd.text) {
                Some(request) => Ok(numbered(vec![(
                    PLUGIN.to_string(),
                    reply(&cmd, self.issue_code(&cmd, request).await?),
                )])),
                None => self.decide_chat(&cmd, bound.as_deref()).await,
            };
            let planned = match decided {
                Ok(planned) => planned,
                Err(e) if e.is_retryable() => {
                    return Ok(Outcome::Retry {
                        after: e.retry_after(),
                        error: e.to_string(),
                    });
                }
                Err(e) => numbered(vec![(
                    PLUGIN.to_string(),
                    reply(&cmd, format!("bosun could not read the pull request: {e}")),
                )]),
            };
            journaled = Some(
                self.journal_decision(delivery, planned, dry_run, true, settlement)
                    .await?,
            );
        }
        let mut problems = Vec::new();
        if let Err(retry) = self
            .apply_journal(delivery, journaled, dry_run, &mut problems, settlement)
            .await?
        {
            return Ok(retry);
        }
        Ok(finish(problems, None))
    }

    /// What a chat command does, as journaled actions; `bound` is the forge login the chat
    /// user is bound to on the target's forge.
    async fn decide_chat(
        &self,
        cmd: &ChatCommand,
        bound: Option<&str>,
    ) -> Result<Vec<PlannedAction>, ForgeError> {
        let only = |text: String| Ok(numbered(vec![(PLUGIN.to_string(), reply(cmd, text))]));
        if command::read_only(&cmd.text) == Some("help") || cmd.text.trim().is_empty() {
            return only(self.chat_help());
        }
        let Some(target) = &cmd.target else {
            return only(
                "Name the pull request the command is for: `/lgtm grp/proj!12`, `/hold org/repo#7`, `status org/repo#7`.".into(),
            );
        };
        let Some(forge) = self.forges.get(target.forge).cloned() else {
            return only(format!("{} is not configured in this bosun.", target.forge));
        };
        let Some(login) = bound else {
            return only(format!(
                "You are not bound to a {forge} account, so bosun cannot act for you. Send `bind {forge} <your {forge} login>` to bind yourself (you confirm it on {forge}), or an admin binds you in bosun's configuration: `[chat.users.\"{user}\"]` with `{forge} = \"<your {forge} login>\"`.",
                forge = target.forge,
                user = cmd.user,
            ));
        };
        let pr = match forge.pull_request(target).await {
            Ok(pr) => pr,
            Err(ForgeError::NotFound(_)) => {
                return only(format!("{target} is not a pull request bosun can see."));
            }
            Err(e) => return Err(e),
        };
        let item = Item {
            reference: target.clone(),
            author: pr.author.clone(),
            state: pr.state,
            title: pr.title.clone(),
            labels: pr.labels.clone(),
            assignees: pr.assignees.clone(),
            draft: pr.draft,
            html_url: self.web_url(target),
        };
        if command::read_only(&cmd.text) == Some("status") {
            return only(self.status_text(&item, &pr.head_sha).await);
        }
        let event = Event::Comment(CommentEvent {
            html_url: item.html_url.clone(),
            item: item.clone(),
            author: Login::new(login),
            body: command::as_comment(&cmd.text, target.forge),
            action: CommentAction::Created,
            source: CommentSource::Comment,
            review: None,
        });
        let decision = self
            .decide(std::slice::from_ref(&event), forge.as_ref())
            .await?;
        let mut chosen: Vec<(String, Action)> = Vec::new();
        if self.settings().chat.note_on_forge && !decision.planned.is_empty() {
            chosen.push((
                PLUGIN.into(),
                Action::Comment {
                    item: target.clone(),
                    body: format!(
                        "@{login} sent {} from {} ({}).",
                        code_span(&cmd.text),
                        platform_name(&cmd.platform),
                        code_span(&cmd.user_name)
                    ),
                },
            ));
        }
        let mut replied = false;
        let mut done = Vec::new();
        for p in decision.planned {
            match p.action {
                // What a plugin would have answered on the forge is answered in chat.
                Action::Comment { body, .. } => {
                    replied = true;
                    chosen.push((p.plugin, reply(cmd, body)));
                }
                action => {
                    done.push(describe(&action));
                    chosen.push((p.plugin, action));
                }
            }
        }
        if !replied {
            let text = match (done.is_empty(), decision.problems.is_empty()) {
                (true, true) => format!("Nothing to change on {target}."),
                (false, true) => format!("Done on {target}: {}.", done.join("; ")),
                (_, false) => format!("On {target}: {}", decision.problems.join("; ")),
            };
            chosen.push((PLUGIN.into(), reply(cmd, text)));
        }
        Ok(numbered(chosen))
    }

    /// `help` in chat.
    fn chat_help(&self) -> String {
        format!(
            "Send a command with the pull request it is for, as you would comment it: `/lgtm grp/proj!12`, `/hold org/repo#7`, `/assign @alice org/repo#7`. `status org/repo#7` shows labels, approvals and who LGTM'd. `bind gitlab <username>` (or `bind github <login>`) lets you act as your forge account. Every command: {}",
            self.settings().help_url
        )
    }

    /// `bind <forge> <login>`: a one-time code for the forge user to confirm, kept (as its
    /// hash) until [`CODE_TTL`] passes; or why there is none.
    async fn issue_code(
        &self,
        cmd: &ChatCommand,
        request: Result<(Option<ForgeKind>, String), &'static str>,
    ) -> Result<String, StoreError> {
        let (forge, login) = match request {
            Ok(r) => r,
            Err(why) => {
                return Ok(format!(
                    "{why}: `bind gitlab <username>` or `bind github <login>`."
                ));
            }
        };
        let forge = match forge {
            Some(f) => f,
            None if self.settings().github.is_some() != self.settings().gitlab.is_some() => {
                if self.settings().github.is_some() {
                    ForgeKind::GitHub
                } else {
                    ForgeKind::GitLab
                }
            }
            None => {
                return Ok(
                    "Say which forge: `bind github <login>` or `bind gitlab <username>`.".into(),
                );
            }
        };
        if self.forges.get(forge).is_none() {
            return Ok(format!("{forge} is not configured in this bosun."));
        }
        if let Some(configured) = self.settings().chat.login_of(&cmd.user, forge) {
            return Ok(format!(
                "bosun's configuration binds you to {forge} `{configured}`, and it wins over any binding made here."
            ));
        }
        let code = new_code();
        let now = now_ms();
        self.store
            .create_binding_code(&BindingCode {
                code_hash: code_hash(&code),
                chat_user: cmd.user.clone(),
                forge,
                login: login.to_lowercase(),
                created_ms: now,
                expires_ms: now + CODE_TTL.as_millis() as i64,
                used_action: None,
            })
            .await?;
        Ok(format!(
            "To act as {forge} user `{login}` from chat, comment `{confirm} {code}` on any pull request or issue of a repository bosun serves, signed in to {forge} as `{login}`, within {minutes} minutes. The code works once, and only for `{login}`.",
            confirm = command::CONFIRM_BINDING,
            minutes = CODE_TTL.as_secs() / 60,
        ))
    }

    /// The bindings a delivery's comments confirm (`/bosun-bind <code>`), as journaled actions:
    /// for a code issued to the comment's author on this forge, unused and unexpired, and
    /// found in a comment of theirs when the forge is asked, the binding and a reply; for any
    /// other, a reply saying nothing was bound. Comments by bots, edited or deleted comments
    /// and those over `[limits]` confirm nothing.
    pub(super) async fn decide_bindings(
        &self,
        events: &[Event],
        forge: &dyn bosun_plugins::Forge,
    ) -> Result<Result<Vec<PlannedAction>, ForgeError>, StoreError> {
        let mut chosen: Vec<(String, Action)> = Vec::new();
        let mut bot: Option<Login> = None;
        for event in events {
            let Event::Comment(c) = event else { continue };
            let limits = &self.settings().limits;
            if c.action != CommentAction::Created || c.body.len() > limits.max_comment_bytes {
                continue;
            }
            let mut codes = command::confirmed_codes(&c.body);
            codes.truncate(limits.max_commands_per_comment);
            if codes.is_empty() {
                continue;
            }
            if bot.is_none() {
                bot = Some(match forge.bot_login().await {
                    Ok(login) => login,
                    Err(e) if e.is_retryable() => return Ok(Err(e)),
                    Err(_) => Login::new(""),
                });
            }
            if self.is_from_a_bot(event, bot.as_ref().unwrap_or(&Login::new(""))) {
                continue;
            }
            for code in codes {
                let hash = code_hash(&code);
                let issued = self.store.binding_code(&hash).await?;
                let item = c.item.reference.clone();
                let author = &c.author;
                let valid = issued.filter(|b| {
                    b.used_action.is_none()
                        && b.expires_ms > now_ms()
                        && b.forge == item.forge
                        && Login::new(&b.login) == *author
                });
                // The webhook proves only that its sender holds the secret of this repository,
                // which may be scoped to it, while a binding acts everywhere: the forge itself
                // must show the author's comment with the code.
                let valid = match valid {
                    Some(b) => match forge.comments(&item).await {
                        Ok(comments) => comments
                            .iter()
                            .any(|m| {
                                m.author == *author
                                    && command::confirmed_codes(&m.body).contains(&code)
                            })
                            .then_some(b),
                        Err(e) if e.is_retryable() => return Ok(Err(e)),
                        Err(_) => None,
                    },
                    None => None,
                };
                let (action, body) = match valid {
                    Some(b) => (
                        Some(Action::BindChatUser {
                            item: item.clone(),
                            chat_user: b.chat_user,
                            login: author.clone(),
                            code_hash: hash,
                        }),
                        format!(
                            "@{author}: your chat account is bound to you; what it sends bosun from chat now acts as {} `{author}`.",
                            item.forge
                        ),
                    ),
                    None => (
                        None,
                        format!(
                            "@{author}: that binding code is unknown, used, expired or not yours, so nothing was bound. Ask bosun in chat for a new one: `bind {} {author}`.",
                            item.forge
                        ),
                    ),
                };
                chosen.extend(action.map(|a| (PLUGIN.to_string(), a)));
                chosen.push((PLUGIN.to_string(), Action::Comment { item, body }));
            }
        }
        Ok(Ok(numbered(chosen)))
    }

    /// `status` in chat: what the forge and bosun's record say about the PR.
    async fn status_text(&self, item: &Item, head_sha: &str) -> String {
        let state = match item.state {
            ItemState::Open if item.draft => "open (draft)",
            ItemState::Open => "open",
            ItemState::Closed => "closed",
            ItemState::Merged => "merged",
        };
        let labels = if item.labels.is_empty() {
            "none".to_string()
        } else {
            item.labels.join(", ")
        };
        let mut lines = vec![
            format!("**[{}]({})** {}", item.reference, item.html_url, item.title),
            format!(
                "State: {state} · Head: `{}`",
                head_sha.chars().take(12).collect::<String>()
            ),
            format!("Labels: {labels}"),
        ];
        let facts = self
            .store
            .facts(
                item.reference.forge,
                item.reference.repo.as_str(),
                item.reference.number as i64,
            )
            .await
            .unwrap_or_default();
        lines.extend(facts.iter().map(|f| f.fact.to_string()));
        lines.join("\n")
    }

    /// The PR's page on the forge's web site.
    fn web_url(&self, target: &ItemRef) -> String {
        let api = self
            .settings()
            .forge(target.forge)
            .map(|f| f.api_url.trim_end_matches('/').to_string())
            .unwrap_or_default();
        match target.forge {
            ForgeKind::GitHub => {
                let web = match api.as_str() {
                    "https://api.github.com" => "https://github.com".to_string(),
                    other => other.trim_end_matches("/api/v3").to_string(),
                };
                format!("{web}/{}/pull/{}", target.repo, target.number)
            }
            ForgeKind::GitLab => {
                format!("{api}/{}/-/merge_requests/{}", target.repo, target.number)
            }
        }
    }
}

fn platform_name(platform: &str) -> &str {
    match platform {
        "dingtalk" => "DingTalk",
        "slack" => "Slack",
        other => other,
    }
}

/// An action in a few words, for the chat answer.
fn describe(action: &Action) -> String {
    format!("{} {}", action.kind().replace('_', " "), action.target())
}

fn reply(cmd: &ChatCommand, text: String) -> Action {
    Action::ChatReply {
        to: cmd.reply.clone(),
        text,
    }
}

/// Numbers actions per plugin, as the journal wants them.
fn numbered(actions: Vec<(String, Action)>) -> Vec<PlannedAction> {
    let mut planned: Vec<PlannedAction> = Vec::new();
    for (plugin, action) in actions {
        let seq = planned.iter().filter(|p| p.plugin == plugin).count() as i32;
        planned.push(PlannedAction {
            plugin,
            seq,
            action,
        });
    }
    planned
}

/// `text` on one line as a Markdown code span, for a forge comment: chat users choose their
/// command's text and their display name, and outside a code span a backtick, a link or an
/// `@mention` in either would be posted as bosun's own Markdown.
fn code_span(text: &str) -> String {
    let flat: String = text
        .replace('\n', "; ")
        .chars()
        .map(|c| if c == '`' { '\'' } else { c })
        .collect();
    format!("`{flat}`")
}

#[cfg(test)]
mod tests {
    use super::code_span;

    #[test]
    fn chat_text_stays_inside_one_code_span() {
        assert_eq!(code_span("/lgtm"), "`/lgtm`");
        assert_eq!(
            code_span("/lgtm` @org/admins [x](https://evil.example) `"),
            "`/lgtm' @org/admins [x](https://evil.example) '`"
        );
        assert_eq!(code_span("/hold\n/assign @bob"), "`/hold; /assign @bob`");
    }
}
