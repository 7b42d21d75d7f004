//! Drone's API as an executor target: `/retest` restarts a build (Drone makes a new build whose
//! `parent` is the old one), `/test all` and `/ok-to-test` with no build yet create one for the
//! PR's branch and head. Before repeating a restart found `applying` after a crash, bosun looks
//! for a build whose parent is the restarted one: if there is one, the restart happened. A
//! creation cannot be told apart from a push's build, so a crash between Drone taking it and
//! bosun recording it may start a second build. 429 waits, 5xx retries, other errors are final
//! with Drone's message.

use super::config::DroneSettings;
use crate::executor::{EffectError, Target};
use crate::store::StoredAction;
use async_trait::async_trait;
use bosun_plugins::{Action, CiRun, ForgeError};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::{Duration, SystemTime};

/// A Drone server's API.
pub struct DroneTarget {
    http: reqwest::Client,
    url: String,
    token: Option<SecretString>,
}

#[derive(Deserialize)]
struct Build {
    #[serde(default)]
    parent: Option<u64>,
}

impl DroneTarget {
    /// A client for the configured server.
    pub fn new(settings: &DroneSettings) -> Self {
        DroneTarget {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            url: settings.url.clone(),
            token: settings.token.clone(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str) -> Result<String, ForgeError> {
        let Some(token) = &self.token else {
            return Err(ForgeError::Permanent(
                "no Drone token is configured ([drone] token_env)".into(),
            ));
        };
        let resp = self
            .http
            .request(method, format!("{}/api/{path}", self.url))
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| ForgeError::Transient {
                message: format!("Drone unreachable: {}", e.without_url()),
                retry_after: None,
            })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = resp.text().await.unwrap_or_default();
        let detail = || {
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| {
                    body.lines()
                        .next()
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect()
                });
            format!("Drone answered {}: {message}", status.as_u16())
        };
        match status.as_u16() {
            200..=299 => Ok(body),
            429 => Err(ForgeError::RateLimited {
                reset: SystemTime::now() + Duration::from_secs(retry_after.unwrap_or(60)),
            }),
            404 => Err(ForgeError::NotFound(detail())),
            401 | 403 => Err(ForgeError::Forbidden(detail())),
            500..=599 => Err(ForgeError::Transient {
                message: detail(),
                retry_after: retry_after.map(Duration::from_secs),
            }),
            _ => Err(ForgeError::Invalid(detail())),
        }
    }

    /// Whether a build restarted from `number` exists.
    async fn restarted(&self, slug: &str, number: &str) -> Result<bool, ForgeError> {
        let body = self
            .call(
                reqwest::Method::GET,
                &format!("repos/{slug}/builds?per_page=50"),
            )
            .await?;
        let builds: Vec<Build> = serde_json::from_str(&body).unwrap_or_default();
        Ok(builds
            .iter()
            .any(|b| b.parent.map(|p| p.to_string()).as_deref() == Some(number)))
    }
}

fn query(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[async_trait]
impl Target for DroneTarget {
    async fn apply(
        &self,
        stored: &StoredAction,
        maybe_done: bool,
        calls: &mut i32,
    ) -> Result<(), EffectError> {
        let Action::RunCi { item, run, .. } = &stored.action else {
            return Err(
                ForgeError::Permanent(format!("{} is not a CI action", stored.kind)).into(),
            );
        };
        let slug = item.repo.as_str();
        match run {
            CiRun::Rerun { run_id, .. } => {
                if !run_id.chars().all(|c| c.is_ascii_digit()) {
                    return Err(ForgeError::Invalid(format!(
                        "{run_id:?} is not a Drone build number"
                    ))
                    .into());
                }
                if maybe_done {
                    *calls += 1;
                    if self.restarted(slug, run_id).await? {
                        return Ok(());
                    }
                }
                *calls += 1;
                self.call(
                    reqwest::Method::POST,
                    &format!("repos/{slug}/builds/{run_id}"),
                )
                .await?;
            }
            CiRun::Dispatch { .. } => {
                return Err(ForgeError::Permanent(
                    "Drone has no workflow dispatch: it builds what it is asked to".into(),
                )
                .into());
            }
            CiRun::Start { git_ref, sha } => {
                *calls += 1;
                self.call(
                    reqwest::Method::POST,
                    &format!(
                        "repos/{slug}/builds?branch={}&commit={}",
                        query(git_ref),
                        query(sha)
                    ),
                )
                .await?;
            }
        }
        Ok(())
    }
}
