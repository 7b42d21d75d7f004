//! `/deliveries/{id}`: one delivery — the headers that matter, what it normalized to, every
//! action the plugins decided with its outcome, error and timings, and the raw payload.

use super::auth::require_reader;
use super::dashboard::Row;
use super::{Chrome, PageError, html, time, took};
use crate::server::AppState;
use crate::store::{ActionRecord, DeliveryDetail};
use crate::webhook::{self, Normalized};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use bosun_plugins::ForgeKind;
use serde::Deserialize;

/// Payloads larger than this are shown cut (the page stays usable; the database has it all).
const PAYLOAD_SHOWN: usize = 256 * 1024;

/// One action as the page shows it.
pub struct ActionView {
    pub seq: i32,
    pub plugin: String,
    pub kind: String,
    pub target: String,
    pub outcome: &'static str,
    pub error: Option<String>,
    pub forge_calls: i32,
    pub decided: String,
    pub applied: String,
    pub took: String,
    pub details: String,
    /// For a chat message: where it stands in the outbox (queued, sent, failed and why).
    pub chat: Option<String>,
}

impl ActionView {
    /// A journaled action with its timings.
    pub fn of(a: &ActionRecord) -> ActionView {
        ActionView {
            seq: a.action.seq,
            plugin: a.action.plugin.clone(),
            kind: a.action.kind.clone(),
            target: a.action.target.clone(),
            outcome: a.action.outcome.as_str(),
            error: a.action.error.clone(),
            forge_calls: a.action.forge_calls,
            decided: time(a.created_at),
            applied: a.applied_at.map(time).unwrap_or_default(),
            took: took(a.created_at, a.applied_at),
            details: serde_json::to_value(&a.action.action)
                .map(|mut v| {
                    hide_reply_urls(&mut v);
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                })
                .unwrap_or_default(),
            chat: None,
        }
    }
}

/// A chat message's place in the outbox, in a few words.
fn chat_state(c: &crate::store::OutboxState) -> String {
    let tries = match c.attempts {
        0 | 1 => String::new(),
        n => format!(" after {n} attempts"),
    };
    match (c.state.as_str(), &c.last_error) {
        ("sent", _) => match &c.batch {
            Some(b) if b.starts_with("bosun-digest-") => format!("sent in a digest{tries}"),
            _ => format!("sent{tries}"),
        },
        ("failed", Some(e)) => format!("failed{tries}: {e}"),
        ("pending", Some(e)) if !e.is_empty() => format!("waiting to be sent again: {e}"),
        _ => "queued: waiting for its turn within the channel's rate limit".into(),
    }
}

#[derive(Template)]
#[template(path = "delivery.html")]
struct DeliveryPage {
    chrome: Chrome,
    row: Row,
    started: String,
    finished: String,
    last_error: Option<String>,
    headers: Vec<(String, String)>,
    normalized: String,
    actions: Vec<ActionView>,
    payload: String,
    payload_cut: bool,
    notice: Option<&'static str>,
}

/// What a payload means to bosun, as text: the events as JSON, or why there are none.
pub fn normalized_text(forge: &str, event: &str, payload: &[u8]) -> String {
    let result = match ForgeKind::parse(forge) {
        Some(forge) => webhook::normalize(forge, event, payload),
        None => return format!("unknown forge {forge:?}"),
    };
    match result {
        Ok(Normalized::Events(events)) => serde_json::to_string_pretty(&events)
            .unwrap_or_else(|e| format!("events could not be shown: {e}")),
        Ok(Normalized::Ignored(reason)) => format!("ignored: {reason}"),
        Err(e) => format!("not normalized: {e}"),
    }
}

/// The stored headers object as name/value pairs.
fn header_pairs(text: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        Ok(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// What the pages show instead of a chat reply's URL.
const HIDDEN_URL: &str = "(hidden: it posts into the conversation as bosun)";

/// Hides every chat reply address in `value` (an object with a `platform` and a `url`, as
/// `ReplyTo` is serialized): DingTalk's `sessionWebhook` and Slack's `response_url` post into
/// the conversation with no other credential, and the pages may be public.
fn hide_reply_urls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("platform").is_some_and(|p| p.is_string())
                && let Some(url) = map.get_mut("url").filter(|u| u.is_string())
            {
                *url = HIDDEN_URL.into();
            }
            map.values_mut().for_each(hide_reply_urls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(hide_reply_urls),
        _ => {}
    }
}

/// The payload pretty-printed when it is JSON (chat reply addresses hidden), cut at
/// [`PAYLOAD_SHOWN`].
fn payload_text(payload: &[u8]) -> (String, bool) {
    let text = match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(mut v) => {
            hide_reply_urls(&mut v);
            serde_json::to_string_pretty(&v).unwrap_or_default()
        }
        Err(_) => String::from_utf8_lossy(payload).into_owned(),
    };
    if text.len() <= PAYLOAD_SHOWN {
        return (text, false);
    }
    let mut end = PAYLOAD_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
}

/// `?replayed=1` after a replay from this page.
#[derive(Debug, Deserialize)]
pub struct DeliveryQuery {
    replayed: Option<String>,
}

/// `GET /deliveries/{id}`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, PageError> {
    require_reader(&req, &state.settings)?;
    let Some(DeliveryDetail {
        record,
        headers,
        payload,
    }) = state.store.delivery_detail(&id).await?
    else {
        return Err(PageError::NotFound(format!(
            "no delivery {:?}",
            id.as_str()
        )));
    };
    let actions = state.store.actions_of(&[record.id]).await?;
    let chat_ids: Vec<i64> = actions
        .iter()
        .filter(|a| a.action.kind == "notify")
        .map(|a| a.action.id)
        .collect();
    let chat = state.store.outbox_states(&chat_ids).await?;
    let mut views: Vec<ActionView> = actions.iter().map(ActionView::of).collect();
    for (view, a) in views.iter_mut().zip(&actions) {
        view.chat = chat
            .iter()
            .find(|c| c.action_id == a.action.id)
            .map(chat_state);
    }
    let normalized = normalized_text(&record.forge, &record.event, &payload);
    let (payload, payload_cut) = payload_text(&payload);
    html(&DeliveryPage {
        chrome: Chrome {
            private_pages: state.settings.private_pages,
        },
        started: record.started_at.map(time).unwrap_or_default(),
        finished: record.finished_at.map(time).unwrap_or_default(),
        last_error: record.last_error.clone(),
        headers: header_pairs(&headers),
        normalized,
        actions: views,
        row: Row::of(&record),
        payload,
        payload_cut,
        notice: query
            .replayed
            .as_ref()
            .map(|_| "Queued again; reload to follow it."),
    })
}
