//! GitLab's webhook event logs ([`HookLog`]): project hooks (`GET /projects/:id/hooks`), their
//! recent events (`GET /projects/:id/hooks/:hook_id/events`, newest first, 100 a page) and
//! resending one (`POST …/events/:hook_event_id/resend`). GitLab keeps only about a week of
//! events, so a longer window reads what is left. Group hooks are not listed (their event API
//! is a paid tier's); the GitHub App's hook has no GitLab counterpart.
//!
//! An event's journal key comes from its logged request headers (`Idempotency-Key`, else
//! `X-Gitlab-Event-UUID`), as the receiver derives it from the live request; see
//! [`crate::forge::hooks`].

use super::GitLabForge;
use crate::forge::hooks::{Hook, HookLog, HookOwner, Listed, LoggedDelivery, Window};
use bosun_plugins::ForgeError;
use chrono::{DateTime, Utc};
use gitlab::api::Endpoint;
use gitlab::api::common::NameOrId;
use gitlab::api::endpoint_prelude::{Method, QueryParams};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;

/// Page size of event lists (GitLab's maximum).
const PER_PAGE: u64 = 100;

/// `GET /projects/:id/hooks`, one page of 100 (a project has few hooks).
struct ProjectHooks<'a> {
    project: &'a str,
}

impl Endpoint for ProjectHooks<'_> {
    fn method(&self) -> Method {
        Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("projects/{}/hooks", NameOrId::from(self.project)).into()
    }

    fn parameters(&self) -> QueryParams<'_> {
        let mut params = QueryParams::default();
        params.push("per_page", PER_PAGE);
        params
    }
}

/// `GET /projects/:id/hooks/:hook_id/events`, one page.
struct HookEvents<'a> {
    project: &'a str,
    hook: u64,
    page: u64,
}

impl Endpoint for HookEvents<'_> {
    fn method(&self) -> Method {
        Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!(
            "projects/{}/hooks/{}/events",
            NameOrId::from(self.project),
            self.hook
        )
        .into()
    }

    fn parameters(&self) -> QueryParams<'_> {
        let mut params = QueryParams::default();
        params.push("page", self.page).push("per_page", PER_PAGE);
        params
    }
}

/// `POST /projects/:id/hooks/:hook_id/events/:hook_event_id/resend`.
struct Resend<'a> {
    project: &'a str,
    hook: u64,
    event: u64,
}

impl Endpoint for Resend<'_> {
    fn method(&self) -> Method {
        Method::POST
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!(
            "projects/{}/hooks/{}/events/{}/resend",
            NameOrId::from(self.project),
            self.hook,
            self.event
        )
        .into()
    }
}

#[derive(Deserialize)]
struct HookItem {
    id: u64,
    #[serde(default)]
    url: String,
}

#[derive(Deserialize)]
struct EventItem {
    id: u64,
    #[serde(default)]
    trigger: String,
    #[serde(default)]
    request_headers: HashMap<String, Value>,
    #[serde(default)]
    request_data: Value,
    /// A status code as text, or GitLab's words for a failure ("internal error").
    #[serde(default)]
    response_status: Value,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

/// The delivery id the receiver would have journaled this event under.
fn journal_id(event: &EventItem) -> Option<String> {
    let header = |name: &str| {
        event
            .request_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    match header("idempotency-key").or_else(|| header("x-gitlab-event-uuid")) {
        Some(id) => Some(format!("gitlab:{id}")),
        // Only a body logged as the text sent can be hashed as the receiver hashed it.
        None => event
            .request_data
            .as_str()
            .map(|body| format!("gitlab:sha256:{}", hex::encode(Sha256::digest(body)))),
    }
}

/// Whether the logged answer was a 2xx.
fn succeeded(status: &Value) -> bool {
    let code = match status {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    code.is_some_and(|c| (200..300).contains(&c))
}

fn project_of(owner: &HookOwner) -> Result<&str, ForgeError> {
    match owner {
        HookOwner::Repo(repo) => Ok(repo.as_str()),
        other => Err(ForgeError::Invalid(format!(
            "GitLab lists project hooks only, not those of {other}"
        ))),
    }
}

#[async_trait::async_trait]
impl HookLog for GitLabForge {
    async fn hooks(&self, owner: &HookOwner) -> Result<Listed<Hook>, ForgeError> {
        let project = project_of(owner)?;
        let items: Vec<HookItem> = self.query(ProjectHooks { project }).await?;
        Ok(Listed {
            items: items
                .into_iter()
                .map(|h| Hook {
                    id: h.id,
                    owner: owner.clone(),
                    url: h.url,
                })
                .collect(),
            calls: 1,
        })
    }

    async fn deliveries(
        &self,
        hook: &Hook,
        window: Window,
    ) -> Result<Listed<LoggedDelivery>, ForgeError> {
        let project = project_of(&hook.owner)?;
        let mut listed = Listed::default();
        for page in 1.. {
            let items: Vec<EventItem> = self
                .query(HookEvents {
                    project,
                    hook: hook.id,
                    page,
                })
                .await?;
            listed.calls += 1;
            let last = items.len() < PER_PAGE as usize;
            // Newest first: a page reaching past the window is the last one read.
            let mut past = false;
            for event in items {
                if listed.items.len() >= window.max {
                    return Ok(listed);
                }
                if event.created_at.is_some_and(|at| at < window.since) {
                    past = true;
                    continue;
                }
                listed.items.push(LoggedDelivery {
                    id: event.id,
                    journal_id: journal_id(&event),
                    ok: succeeded(&event.response_status),
                    event: event.trigger,
                    at: event.created_at,
                    // GitLab's log does not say; a resend is another entry with the same key.
                    redelivery: false,
                });
            }
            if last || past {
                break;
            }
        }
        Ok(listed)
    }

    async fn redeliver(&self, hook: &Hook, delivery: &LoggedDelivery) -> Result<(), ForgeError> {
        let project = project_of(&hook.owner)?;
        self.query_bytes(Resend {
            project,
            hook: hook.id,
            event: delivery.id,
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: Value) -> EventItem {
        serde_json::from_value(v).expect("an event")
    }

    #[test]
    fn journal_ids_follow_the_receiver() {
        let keyed = event(json!({"id": 1, "request_headers": {
            "X-Gitlab-Event-UUID": "uuid-1", "Idempotency-Key": "key-1"}}));
        assert_eq!(journal_id(&keyed).as_deref(), Some("gitlab:key-1"));
        let old = event(json!({"id": 2, "request_headers": {"X-Gitlab-Event-UUID": "uuid-2"}}));
        assert_eq!(journal_id(&old).as_deref(), Some("gitlab:uuid-2"));
        let bare = event(json!({"id": 3, "request_data": "{}"}));
        assert_eq!(
            journal_id(&bare).as_deref(),
            Some("gitlab:sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        );
        let unknowable = event(json!({"id": 4, "request_data": {"object_kind": "note"}}));
        assert_eq!(journal_id(&unknowable), None);
    }

    #[test]
    fn only_2xx_succeeded() {
        assert!(succeeded(&json!("200")));
        assert!(succeeded(&json!(202)));
        assert!(!succeeded(&json!("internal error")));
        assert!(!succeeded(&json!("503")));
    }
}
