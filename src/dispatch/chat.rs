//! Commands from chat. A bound chat user's command becomes the comment event their forge
//! account would have made on the pull request, and runs through the same plugins with the
//! same rules; what the plugins would have replied on the forge is answered in chat instead,
//! and (unless configured off) a short note on the PR says the command came from chat. `status`
//! and `help` only read. An unbound user is told how to bind, and nothing else happens.

use super::{Dispatcher, Outcome, finish};
use crate::chat::command::{self, ChatCommand};
use crate::store::{ClaimedDelivery, FinalStatus, PlannedAction, StoreError};
use bosun_plugins::{
    Action, CommentAction, CommentEvent, CommentSource, Event, ForgeError, ForgeKind, Item,
    ItemRef, ItemState, Login,
};

/// The plugin name chat's own actions are journaled under.
const PLUGIN: &str = "chatops";

impl Dispatcher {
    /// Decides (once) and applies a chat command.
    pub(super) async fn handle_chat(
        &self,
        delivery: &ClaimedDelivery,
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
        if !delivery.decided {
            let planned = match self.decide_chat(&cmd).await {
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
            self.store.record_decision(delivery.id, &planned).await?;
        }
        let repo = cmd.target.as_ref().map(|t| t.repo.clone());
        let dry_run = self.settings.is_dry_run(delivery.forge, repo.as_ref());
        let mut problems = Vec::new();
        if let Err(retry) = self.apply_journal(delivery, dry_run, &mut problems).await? {
            return Ok(retry);
        }
        Ok(finish(problems, None))
    }

    /// What a chat command does, as journaled actions.
    async fn decide_chat(&self, cmd: &ChatCommand) -> Result<Vec<PlannedAction>, ForgeError> {
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
        let Some(login) = self.settings.chat.login_of(&cmd.user, target.forge) else {
            return only(format!(
                "You are not bound to a {forge} account, so bosun cannot act for you. An admin binds you in bosun's configuration: `[chat.users.\"{user}\"]` with `{key} = \"<your {forge} login>\"`.",
                forge = target.forge,
                user = cmd.user,
                key = target.forge.as_str(),
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
        if self.settings.chat.note_on_forge && !decision.planned.is_empty() {
            chosen.push((
                PLUGIN.into(),
                Action::Comment {
                    item: target.clone(),
                    body: format!(
                        "@{login} sent `{}` from {} ({}).",
                        cmd.text.replace('\n', "; "),
                        platform_name(&cmd.platform),
                        cmd.user_name
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
            "Send a command with the pull request it is for, as you would comment it: `/lgtm grp/proj!12`, `/hold org/repo#7`, `/assign @alice org/repo#7`. `status org/repo#7` shows labels, approvals and who LGTM'd. Every command: {}",
            self.settings.help_url
        )
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
            .settings
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
