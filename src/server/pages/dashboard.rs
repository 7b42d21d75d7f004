//! `/`: the most recent deliveries, newest first, filterable by repo, status and forge, with
//! keyset pagination ("older" continues after the last row shown). Failed rows carry their
//! error and a replay button; the failed view offers "replay all failed".

use super::auth::require_reader;
use super::{Chrome, PageError, delivery_href, excerpt, html, item_href, item_label, time, took};
use crate::server::AppState;
use crate::store::{Cursor, DeliveryFilter, DeliveryRecord};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

/// Rows per page.
pub const PAGE_SIZE: i64 = 50;

/// The statuses a delivery can have, in the filter's order.
pub const STATUSES: [&str; 5] = ["queued", "running", "done", "failed", "ignored"];

/// The list's query string.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    repo: Option<String>,
    status: Option<String>,
    forge: Option<String>,
    before: Option<String>,
    replayed: Option<String>,
}

/// One row of the list.
pub struct Row {
    pub received: String,
    pub forge: String,
    pub event: String,
    /// `org/repo#12`, or the repo alone, or empty.
    pub item_label: String,
    /// The item's page, or empty.
    pub item_href: String,
    pub status: String,
    pub attempts: i32,
    pub latency: String,
    pub href: String,
    pub delivery_id: String,
    pub error: Option<String>,
    pub replayable: bool,
}

impl Row {
    /// A stored delivery as the list shows it.
    pub fn of(d: &DeliveryRecord) -> Row {
        let (item_label, item_href) = match (&d.repo, d.number) {
            (Some(repo), Some(n)) => (
                // The receiver keyed an MR's deliveries (its notes and chat commands too)
                // with `!`.
                item_label(&d.forge, repo, n, d.item_key.ends_with(&format!("!{n}"))),
                item_href(&d.forge, repo, n),
            ),
            (Some(repo), None) => (repo.clone(), String::new()),
            _ => (String::new(), String::new()),
        };
        Row {
            received: time(d.received_at),
            forge: d.forge.clone(),
            event: d.event.clone(),
            item_label,
            item_href,
            status: d.status.clone(),
            attempts: d.attempts,
            latency: took(d.received_at, d.finished_at),
            href: delivery_href(&d.delivery_id),
            delivery_id: d.delivery_id.clone(),
            error: d.last_error.as_deref().map(|e| excerpt(e, 300)),
            replayable: d.status == "failed",
        }
    }
}

/// One `<option>` of a filter.
struct Choice {
    value: &'static str,
    selected: bool,
}

fn choices(values: &[&'static str], current: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: v,
            selected: *v == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    repo: String,
    status_options: Vec<Choice>,
    forge_options: Vec<Choice>,
    failed_view: bool,
    rows: Vec<Row>,
    older: Option<String>,
    newest: String,
    paged: bool,
    notice: Option<String>,
    any_replayable: bool,
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", super::encode(v)))
        .collect();
    if parts.is_empty() {
        "/".into()
    } else {
        format!("/?{}", parts.join("&"))
    }
}

/// `GET /`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    require_reader(&req, &state.settings)?;
    let repo = super::filter_value(&query.repo, "repo")?;
    let status = super::filter_value(&query.status, "status")?;
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(PageError::BadRequest(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    let forge = super::filter_value(&query.forge, "forge")?;
    if let Some(f) = &forge
        && bosun_plugins::ForgeKind::parse(f).is_none()
    {
        return Err(PageError::BadRequest(
            "forge must be github or gitlab".into(),
        ));
    }
    let before = match super::filter_value(&query.before, "before")? {
        None => None,
        Some(c) => Some(Cursor::decode(&c).ok_or_else(|| {
            PageError::BadRequest("before must be a cursor from an 'older' link".into())
        })?),
    };
    let filter = DeliveryFilter {
        repo: repo.clone(),
        number: None,
        status: status.clone(),
        forge: forge.clone(),
    };
    let mut records = state
        .store
        .list_deliveries(&filter, before, PAGE_SIZE + 1)
        .await?;
    let more = records.len() as i64 > PAGE_SIZE;
    records.truncate(PAGE_SIZE as usize);
    let (repo, status, forge) = (
        repo.unwrap_or_default(),
        status.unwrap_or_default(),
        forge.unwrap_or_default(),
    );
    let older = records.last().filter(|_| more).map(|last| {
        query_string(&[
            ("repo", &repo),
            ("status", &status),
            ("forge", &forge),
            ("before", &Cursor::of(last).encode()),
        ])
    });
    let notice = match query.replayed.as_deref() {
        Some(n) if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => Some(format!(
            "{n} failed {} queued again.",
            if n == "1" { "delivery" } else { "deliveries" }
        )),
        _ => None,
    };
    let rows: Vec<Row> = records.iter().map(Row::of).collect();
    html(&DashboardPage {
        chrome: Chrome {
            private_pages: state.settings.private_pages,
        },
        newest: query_string(&[("repo", &repo), ("status", &status), ("forge", &forge)]),
        any_replayable: rows.iter().any(|r| r.replayable),
        status_options: choices(&STATUSES, &status),
        forge_options: choices(&["github", "gitlab"], &forge),
        failed_view: status == "failed",
        repo,
        rows,
        older,
        paged: before.is_some(),
        notice,
    })
}
