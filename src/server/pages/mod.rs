//! bosun's web pages, served by the same process as the webhook receiver: the command help
//! (`/command-help`, `/plugin-help`), the dashboard of deliveries (`/`), one delivery
//! (`/deliveries/{id}`), a pull request's audit trail (`/pr/{forge}/{repo}/{number}`) and the
//! admin replay.
//!
//! Server-rendered with askama (templates are checked at compile time and escape everything
//! they print: payload text is hostile), with one hand-written stylesheet and no JavaScript.
//! Every response forbids scripts by Content-Security-Policy as a second line of defence.

pub mod auth;
pub mod dashboard;
pub mod delivery;
pub mod help;
pub mod merge;
pub mod pull;
pub mod replay;

use crate::store::StoreError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Registers the pages' routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(dashboard::page))
        .route("/deliveries/{id}", web::get().to(delivery::page))
        .route("/pr/{forge}/{path:.+}", web::get().to(pull::page))
        .route("/merge", web::get().to(merge::page))
        .route("/command-help", web::get().to(help::command_help))
        .route("/plugin-help", web::get().to(help::plugin_help))
        .route("/plugin-help", web::route().to(method_not_allowed))
        .route("/admin/replay", web::post().to(replay::from_form))
        .route("/admin/replay/{id}", web::post().to(replay::one))
        .route("/admin/replay-failed", web::post().to(replay::all_failed))
        .route(
            "/admin/resync/{forge}/{path:.+}",
            web::post().to(replay::resync_pr),
        )
        .route("/login", web::get().to(auth::login_form))
        .route("/login", web::post().to(auth::login))
        .route("/logout", web::post().to(auth::logout))
        .route("/static/bosun.css", web::get().to(stylesheet));
}

/// The stylesheet, compiled in so the binary is the whole deployment.
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../static/bosun.css"))
}

async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .content_type("text/plain; charset=utf-8")
        .body("405 Method not allowed\n")
}

/// What every page's frame needs: whether to offer signing in and out.
#[derive(Debug, Clone, Copy)]
pub struct Chrome {
    pub private_pages: bool,
}

/// Why a page could not be shown; rendered as a small HTML page with a one-line message.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the page could not be rendered")]
    Render(#[from] askama::Error),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    reason: &'a str,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let PageError::Store(e) = self {
            tracing::warn!(error = %e, "page: store unavailable");
        }
        let page = ErrorPage {
            // The sign-in link is harmless everywhere, so errors always offer it.
            chrome: Chrome {
                private_pages: true,
            },
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        let mut response = HttpResponse::build(status);
        secure_headers(&mut response);
        if matches!(self, PageError::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer realm=\"bosun\""));
        }
        match page.render() {
            Ok(body) => response.content_type("text/html; charset=utf-8").body(body),
            Err(_) => response
                .content_type("text/plain; charset=utf-8")
                .body(format!("{self}\n")),
        }
    }
}

/// Headers every page carries: no scripts, no framing, no sniffing, not cached by proxies.
fn secure_headers(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header(("Cache-Control", "no-store"));
}

/// A rendered page as a 200 response.
pub fn html(page: &impl Template) -> Result<HttpResponse, PageError> {
    let body = page.render()?;
    let mut response = HttpResponse::Ok();
    secure_headers(&mut response);
    Ok(response.content_type("text/html; charset=utf-8").body(body))
}

/// Characters left as they are in a path segment: unreserved ones, and `:`/`@` (delivery ids
/// are `forge:id`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'@');

/// Percent-encodes one path segment or query value.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// The link to a delivery's page.
pub fn delivery_href(delivery_id: &str) -> String {
    format!("/deliveries/{}", encode(delivery_id))
}

/// The link to a pull request's (or issue's) page; each repo segment is encoded on its own.
pub fn item_href(forge: &str, repo: &str, number: i64) -> String {
    let segments: Vec<String> = repo.split('/').map(encode).collect();
    format!("/pr/{}/{}/{number}", encode(forge), segments.join("/"))
}

/// How an item is written on its forge: `org/repo#12`, or `group/project!12` for a GitLab MR.
pub fn item_label(forge: &str, repo: &str, number: i64, is_mr: bool) -> String {
    let sep = if forge == "gitlab" && is_mr { "!" } else { "#" };
    format!("{repo}{sep}{number}")
}

/// A time as people read it in a table: UTC, to the millisecond.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

/// A duration between two times, short: `850 ms`, `2.4 s`, `3 min 5 s`.
pub fn took(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> String {
    let Some(to) = to else {
        return String::new();
    };
    let ms = (to - from).num_milliseconds().max(0);
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// The first `max` characters, with an ellipsis when cut.
pub fn excerpt(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Text with `code spans` marked, for templates to print each part escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub code: bool,
    pub text: String,
}

/// Splits help text on backticks into plain and code spans (Markdown's inline code only).
pub fn spans(text: &str) -> Vec<Span> {
    text.split('`')
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| Span {
            code: i % 2 == 1,
            text: t.to_string(),
        })
        .collect()
}

/// A filter value from a query string: empty means unset; at most 1024 characters.
pub fn filter_value(v: &Option<String>, what: &str) -> Result<Option<String>, PageError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.len() > 1024 => Err(PageError::BadRequest(format!("{what} is too long"))),
        Some(s) => Ok(Some(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_encode_what_a_path_cannot_carry() {
        assert_eq!(delivery_href("github:ab-1"), "/deliveries/github:ab-1");
        assert_eq!(delivery_href("x/../y z"), "/deliveries/x%2F..%2Fy%20z");
        assert_eq!(
            item_href("gitlab", "grp/sub/proj", 7),
            "/pr/gitlab/grp/sub/proj/7"
        );
        assert_eq!(item_href("github", "o/r?x", 1), "/pr/github/o/r%3Fx/1");
    }

    #[test]
    fn help_text_splits_into_code_spans() {
        assert_eq!(
            spans("Adds the `lgtm` label."),
            vec![
                Span {
                    code: false,
                    text: "Adds the ".into()
                },
                Span {
                    code: true,
                    text: "lgtm".into()
                },
                Span {
                    code: false,
                    text: " label.".into()
                },
            ]
        );
    }

    #[test]
    fn durations_read_short() {
        let t = DateTime::from_timestamp_millis(1_000_000).expect("time");
        assert_eq!(
            took(t, Some(t + chrono::Duration::milliseconds(850))),
            "850 ms"
        );
        assert_eq!(
            took(t, Some(t + chrono::Duration::milliseconds(2400))),
            "2.4 s"
        );
        assert_eq!(
            took(t, Some(t + chrono::Duration::seconds(185))),
            "3 min 5 s"
        );
        assert_eq!(took(t, None), "");
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(excerpt("abc", 3), "abc");
    }
}
