//! `/merge`: the merge queues. For each repository, per base branch the PR merging now and the
//! PRs in line behind it, then the PRs tide last found ready and every other open PR with the
//! reason it is not merging, the same text as its `bosun/merge` status. Read from bosun's
//! store: the page costs no forge call.

use super::auth::require_reader;
use super::{Chrome, PageError, html, item_label};
use crate::server::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use std::collections::BTreeMap;

/// One PR on the page.
pub struct MergeEntry {
    pub label: String,
    pub href: String,
    pub reason: String,
    pub labels: String,
}

/// A link to a PR.
pub struct PrLink {
    pub label: String,
    pub href: String,
}

/// One base branch's merge queue: the PR merging now and those in line behind it.
pub struct BranchQueue {
    pub branch: String,
    pub merging: Option<PrLink>,
    pub next: Vec<PrLink>,
}

/// One repository's queue.
pub struct Queue {
    pub name: String,
    pub branches: Vec<BranchQueue>,
    pub ready: Vec<MergeEntry>,
    pub waiting: Vec<MergeEntry>,
}

fn link(forge: &str, repo: &str, number: i64) -> PrLink {
    PrLink {
        label: item_label(forge, repo, number, true),
        href: format!("/pr/{forge}/{repo}/{number}"),
    }
}

#[derive(Template)]
#[template(path = "merge.html")]
struct MergePage {
    chrome: Chrome,
    queues: Vec<Queue>,
}

/// Renders the merge queues.
pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    require_reader(&req, &state.settings)?;
    let rows = state.store.merge_board().await?;
    let lines = state
        .store
        .merge_queues(chrono::Utc::now().timestamp_millis())
        .await?;
    let mut queues: BTreeMap<String, Queue> = BTreeMap::new();
    let new_queue = |name: String| Queue {
        name,
        branches: Vec::new(),
        ready: Vec::new(),
        waiting: Vec::new(),
    };
    for line in lines {
        // `forge:repo@branch`
        let Some((forge, rest)) = line.queue.split_once(':') else {
            continue;
        };
        let Some((repo, branch)) = rest.rsplit_once('@') else {
            continue;
        };
        let name = format!("{forge} {repo}");
        queues
            .entry(name.clone())
            .or_insert_with(|| new_queue(name))
            .branches
            .push(BranchQueue {
                branch: branch.to_string(),
                merging: line.merging.map(|n| link(forge, repo, n)),
                next: line.waiting.iter().map(|n| link(forge, repo, *n)).collect(),
            });
    }
    for row in rows {
        let name = format!("{} {}", row.forge, row.repo);
        let queue = queues
            .entry(name.clone())
            .or_insert_with(|| new_queue(name));
        let forge = row.forge.as_str();
        let entry = MergeEntry {
            label: item_label(forge, &row.repo, row.number, true),
            href: format!("/pr/{forge}/{}/{}", row.repo, row.number),
            reason: row
                .verdict
                .as_ref()
                .map(|(_, d)| d.clone())
                .unwrap_or_else(|| "Not evaluated yet.".into()),
            labels: row.labels.join(", "),
        };
        match row.verdict {
            Some((true, _)) => queue.ready.push(entry),
            _ => queue.waiting.push(entry),
        }
    }
    html(&MergePage {
        chrome: Chrome {
            private_pages: state.settings.private_pages,
        },
        queues: queues.into_values().collect(),
    })
}
