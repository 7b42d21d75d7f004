//! `/merge`: the merge queues. For each repository, the PRs tide last found ready (in the
//! order they merge: lowest number first) and every other open PR with the reason it is not
//! merging, the same text as its `bosun/merge` status. Read from bosun's store: the page costs
//! no forge call.

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

/// One repository's queue.
pub struct Queue {
    pub name: String,
    pub ready: Vec<MergeEntry>,
    pub waiting: Vec<MergeEntry>,
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
    let mut queues: BTreeMap<String, Queue> = BTreeMap::new();
    for row in rows {
        let name = format!("{} {}", row.forge, row.repo);
        let queue = queues.entry(name.clone()).or_insert_with(|| Queue {
            name,
            ready: Vec::new(),
            waiting: Vec::new(),
        });
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
