//! Drone's webhook (`X-Drone-Event: build`, actions `created` and `updated`) as a
//! [`CiEvent`]. The context is the one Drone reports on the forge,
//! `continuous-integration/drone/pr` (or `/push`, `/tag`, `/promote`), so a build and its forge
//! status are one context; the run id is the build number, which `/retest` restarts. Drone
//! sends `updated` for every step: the dispatcher keeps the latest state and lets plugins see
//! a context only when its state changes. Statuses: `success` passes; `failure` fails; `error`
//! errs; `killed`, `declined` and `skipped` are cancelled; the rest are pending.

use super::{NormalizeError, Normalized, need, parse};
use bosun_plugins::{CiEvent, CiState, CiSystem, Event, ForgeKind, RepoPath};
use serde::Deserialize;

#[derive(Deserialize)]
struct DroneRepo {
    slug: Option<String>,
}

#[derive(Deserialize)]
struct Build {
    number: Option<u64>,
    status: Option<String>,
    event: Option<String>,
    after: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

#[derive(Deserialize)]
struct System {
    link: Option<String>,
}

#[derive(Deserialize)]
struct DronePayload {
    event: Option<String>,
    action: Option<String>,
    repo: Option<DroneRepo>,
    build: Option<Build>,
    system: Option<System>,
}

/// The event name Drone deliveries are journaled under.
pub const EVENT: &str = "drone";

/// A Drone build status as a CI state.
pub fn build_state(status: &str) -> CiState {
    match status {
        "success" => CiState::Success,
        "failure" => CiState::Failure,
        "error" => CiState::Error,
        "killed" | "declined" | "skipped" => CiState::Cancelled,
        _ => CiState::Pending,
    }
}

/// The PR or MR a Drone build ref names (`refs/pull/7/head`, `refs/merge-requests/12/head`).
pub fn number_of_ref(git_ref: &str) -> Option<u64> {
    let rest = git_ref
        .strip_prefix("refs/pull/")
        .or_else(|| git_ref.strip_prefix("refs/merge-requests/"))?;
    rest.split('/').next()?.parse().ok()
}

/// Normalizes a Drone webhook body for the forge Drone builds.
pub fn normalize(forge: ForgeKind, body: &[u8]) -> Result<Normalized, NormalizeError> {
    const EV: &str = "drone";
    let p: DronePayload = parse(EV, body)?;
    match (p.event.as_deref(), p.action.as_deref()) {
        (Some("build"), Some("created" | "updated")) => {}
        (event, action) => {
            return Ok(Normalized::Ignored(format!(
                "Drone {}:{} is not handled",
                super::clip(event.unwrap_or("-")),
                super::clip(action.unwrap_or("-"))
            )));
        }
    }
    let slug = need(p.repo.and_then(|r| r.slug), EV, "repo.slug")?;
    let repo = RepoPath::parse(&slug).ok_or_else(|| super::malformed(EV, "invalid repo.slug"))?;
    let build = need(p.build, EV, "build")?;
    let number = need(build.number, EV, "build.number")?;
    let kind = match build.event.as_deref() {
        Some("pull_request") => "pr",
        Some("tag") => "tag",
        Some("promote") => "promote",
        _ => "push",
    };
    let url = p
        .system
        .and_then(|s| s.link)
        .map(|link| format!("{}/{slug}/{number}", link.trim_end_matches('/')));
    Ok(Normalized::Events(vec![Event::Ci(CiEvent {
        forge,
        repo,
        system: CiSystem::Drone,
        sha: need(build.after, EV, "build.after")?,
        number: build.git_ref.as_deref().and_then(number_of_ref),
        context: format!("continuous-integration/drone/{kind}"),
        state: build_state(&need(build.status, EV, "build.status")?),
        url,
        run_id: Some(number.to_string()),
    })]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_name_their_pull_request() {
        assert_eq!(number_of_ref("refs/pull/7/head"), Some(7));
        assert_eq!(number_of_ref("refs/merge-requests/12/head"), Some(12));
        assert_eq!(number_of_ref("refs/heads/main"), None);
    }
}
