//! Admin replay: queue one delivery again, or every failed one. POST only, and only with the
//! admin token — `Authorization: Bearer …` (scripts) or the form's `token` field (the pages'
//! buttons). Without it: 401, and nothing is queued.
//!
//! Browsers get a 303 back to the page they came from; scripts (bearer) get a one-line answer.

use super::auth::require_admin;
use super::{PageError, delivery_href};
use crate::server::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

/// The pages' replay form: the token and which button was pressed.
#[derive(Debug, Default, Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    token: String,
    /// A delivery's button: its id.
    delivery: Option<String>,
    /// The "replay all failed" button.
    all: Option<String>,
}

enum Target {
    One(String),
    AllFailed,
}

async fn replay(
    req: &HttpRequest,
    state: &AppState,
    form_token: Option<&str>,
    target: Target,
) -> Result<HttpResponse, PageError> {
    require_admin(req, &state.settings, form_token)?;
    let from_browser = super::auth::bearer(req).is_none();
    match target {
        Target::One(id) => {
            let Some(record) = state.store.delivery(&id).await? else {
                return Err(PageError::NotFound(format!("no delivery {id:?}")));
            };
            if record.status == "running" || record.status == "queued" {
                return Err(PageError::Conflict(format!(
                    "delivery {id:?} is {}; replay it once it has finished",
                    record.status
                )));
            }
            if !state.store.requeue(&id).await? {
                return Err(PageError::Conflict(format!(
                    "delivery {id:?} started running; replay it once it has finished"
                )));
            }
            tracing::info!(delivery = %id, "replay requested from the web");
            state.work_available.notify_waiters();
            Ok(if from_browser {
                HttpResponse::SeeOther()
                    .insert_header(("Location", format!("{}?replayed=1", delivery_href(&id))))
                    .finish()
            } else {
                HttpResponse::Accepted()
                    .content_type("text/plain; charset=utf-8")
                    .body(format!("queued {id}\n"))
            })
        }
        Target::AllFailed => {
            let n = state.store.requeue_failed().await?;
            tracing::info!(
                count = n,
                "replay of every failed delivery requested from the web"
            );
            state.work_available.notify_waiters();
            Ok(if from_browser {
                HttpResponse::SeeOther()
                    .insert_header(("Location", format!("/?status=failed&replayed={n}")))
                    .finish()
            } else {
                HttpResponse::Accepted()
                    .content_type("text/plain; charset=utf-8")
                    .body(format!("queued {n} failed deliveries\n"))
            })
        }
    }
}

/// `POST /admin/replay`: the pages' form (`token`, and `delivery=ID` or `all=failed`).
pub async fn from_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Option<web::Form<ReplayForm>>,
) -> Result<HttpResponse, PageError> {
    let form = form.map(web::Form::into_inner).unwrap_or_default();
    let target = match (form.delivery, form.all) {
        (Some(id), _) if !id.is_empty() => Target::One(id),
        (_, Some(_)) => Target::AllFailed,
        _ => {
            // Refuse a missing token before saying anything else about the request.
            require_admin(&req, &state.settings, Some(&form.token))?;
            return Err(PageError::BadRequest(
                "say which delivery to replay (delivery=ID) or all=failed".into(),
            ));
        }
    };
    replay(&req, &state, Some(&form.token), target).await
}

/// `POST /admin/replay/{id}`.
pub async fn one(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Option<web::Form<ReplayForm>>,
) -> Result<HttpResponse, PageError> {
    let token = form.map(|f| f.into_inner().token);
    replay(&req, &state, token.as_deref(), Target::One(id.into_inner())).await
}

/// `POST /admin/replay-failed`.
pub async fn all_failed(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Option<web::Form<ReplayForm>>,
) -> Result<HttpResponse, PageError> {
    let token = form.map(|f| f.into_inner().token);
    replay(&req, &state, token.as_deref(), Target::AllFailed).await
}

/// The PR page's "look again" button: queues one `bosun/resync` delivery for an open PR bosun
/// knows, so tide and needs-rebase look at it as the forge has it now. Admin token required.
pub async fn resync_pr(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: Option<web::Form<ReplayForm>>,
) -> Result<HttpResponse, PageError> {
    require_admin(
        &req,
        &state.settings,
        form.as_ref().map(|f| f.token.as_str()),
    )?;
    let (forge_text, rest) = path.into_inner();
    let (forge, repo, number) = super::pull::pr_path(&forge_text, &rest)?;
    let Some(known) = state
        .store
        .pull_request(forge, repo.as_str(), number)
        .await?
        .filter(|p| p.state == "open")
    else {
        return Err(PageError::NotFound(format!(
            "bosun knows no open PR {forge} {repo} {number}"
        )));
    };
    let head = known.head_sha.unwrap_or_default();
    let now = chrono::Utc::now().timestamp_millis().to_string();
    let delivery =
        crate::resync::delivery_from_record(forge, &repo, number as u64, head, known.labels, &now)
            .ok_or_else(|| PageError::BadRequest("cannot build the look".into()))?;
    state.store.insert_deliveries(&[delivery]).await?;
    state.work_available.notify_waiters();
    tracing::info!(%forge, %repo, number, "look again requested from the web");
    let page = format!("/pr/{}/{repo}/{number}", forge.as_str());
    Ok(if super::auth::bearer(&req).is_none() {
        HttpResponse::SeeOther()
            .insert_header(("Location", page))
            .finish()
    } else {
        HttpResponse::Accepted()
            .content_type("text/plain; charset=utf-8")
            .body(format!("queued a look at {page}\n"))
    })
}
