//! GitHub's webhook delivery logs ([`HookLog`]): repository hooks (`/repos/{o}/{r}/hooks`),
//! organisation hooks (`/orgs/{org}/hooks`) and the App's hook (`/app/hook`, with the App's
//! JWT). Deliveries are listed newest first, 100 a page, following the `Link` cursor;
//! redelivery is `POST …/deliveries/{id}/attempts` (202). github.com redelivers deliveries of
//! the past 3 days (GitHub Enterprise Server 7).

use super::transport::parse;
use super::{Auth, GitHubForge, Scope, Verb, repo_path_route};
use crate::forge::encode_segment;
use crate::forge::hooks::{Hook, HookLog, HookOwner, Listed, LoggedDelivery, Window};
use bosun_plugins::ForgeError;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Page size of delivery lists (GitHub's maximum).
const PER_PAGE: usize = 100;

#[derive(Deserialize)]
struct HookItem {
    id: u64,
    #[serde(default)]
    config: HookConfig,
}

#[derive(Deserialize, Default)]
struct HookConfig {
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct DeliveryItem {
    id: u64,
    guid: String,
    #[serde(default)]
    delivered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    redelivery: bool,
    #[serde(default)]
    status_code: u16,
    #[serde(default)]
    event: String,
}

impl GitHubForge {
    /// The route of a hook's collection, and the credentials it is called with.
    fn hooks_route<'a>(&self, owner: &'a HookOwner) -> Result<(String, Scope<'a>), ForgeError> {
        match owner {
            HookOwner::Repo(repo) => Ok((
                format!("{}/hooks", repo_path_route(repo)?),
                Scope::Repo(repo),
            )),
            HookOwner::Org(org) => Ok((
                format!("/orgs/{}/hooks", encode_segment(org)),
                Scope::Account(org),
            )),
            HookOwner::App => match self.auth {
                Auth::App(_) => Ok(("/app/hook".into(), Scope::App)),
                Auth::Token(_) => Err(ForgeError::Invalid(
                    "the App's webhook deliveries need the App's credentials ([github] app_id)"
                        .into(),
                )),
            },
        }
    }

    /// `…/hooks/{id}` (the App's one hook has no id).
    fn hook_route<'a>(&self, hook: &'a Hook) -> Result<(String, Scope<'a>), ForgeError> {
        let (route, scope) = self.hooks_route(&hook.owner)?;
        Ok(match hook.owner {
            HookOwner::App => (route, scope),
            _ => (format!("{route}/{}", hook.id), scope),
        })
    }
}

#[async_trait::async_trait]
impl HookLog for GitHubForge {
    async fn hooks(&self, owner: &HookOwner) -> Result<Listed<Hook>, ForgeError> {
        let (route, scope) = self.hooks_route(owner)?;
        if *owner == HookOwner::App {
            let config: HookConfig = self
                .send_json(scope, Verb::Get, &format!("{route}/config"))
                .await?;
            return Ok(Listed {
                items: vec![Hook {
                    id: 0,
                    owner: owner.clone(),
                    url: config.url.unwrap_or_default(),
                }],
                calls: 1,
            });
        }
        // An owner has at most 20 hooks of each event: one page.
        let items: Vec<HookItem> = self
            .send_json(scope, Verb::Get, &format!("{route}?per_page=100"))
            .await?;
        Ok(Listed {
            items: items
                .into_iter()
                .map(|h| Hook {
                    id: h.id,
                    owner: owner.clone(),
                    url: h.config.url.unwrap_or_default(),
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
        let (route, scope) = self.hook_route(hook)?;
        let mut listed = Listed::default();
        let mut next = Some(format!("{route}/deliveries?per_page={PER_PAGE}"));
        while let Some(page) = next.take() {
            let reply = self.send(scope, Verb::Get, &page).await?;
            listed.calls += 1;
            let items: Vec<DeliveryItem> = parse(&reply.body, &page)?;
            // Newest first: a page reaching past the window is the last one read.
            let mut past = false;
            for d in items {
                if listed.items.len() >= window.max {
                    return Ok(listed);
                }
                if d.delivered_at.is_some_and(|at| at < window.since) {
                    past = true;
                    continue;
                }
                listed.items.push(LoggedDelivery {
                    id: d.id,
                    journal_id: Some(format!("github:{}", d.guid)),
                    event: d.event,
                    at: d.delivered_at,
                    ok: (200..300).contains(&d.status_code),
                    redelivery: d.redelivery,
                });
            }
            next = reply.next.filter(|n| !past && *n != page);
        }
        Ok(listed)
    }

    async fn redeliver(&self, hook: &Hook, delivery: &LoggedDelivery) -> Result<(), ForgeError> {
        let (route, scope) = self.hook_route(hook)?;
        let route = format!("{route}/deliveries/{}/attempts", delivery.id);
        self.send(scope, Verb::Post(&serde_json::json!({})), &route)
            .await?;
        Ok(())
    }
}
