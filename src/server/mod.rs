//! The HTTP side: the webhook receiver, the web pages and the operational endpoints.

pub mod chatops;
pub mod drone;
pub mod hook;
pub mod pages;

use crate::config::Settings;
use crate::intake::Intake;
use crate::store::{InsertOutcome, NewDelivery, Store, StoreError};
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// Shared by every request handler.
pub struct AppState {
    /// The settings bosun started with (listen address, database, limits: restart-only).
    pub settings: Arc<Settings>,
    /// The settings in force: webhook secrets and plugins follow a reload.
    pub live: Arc<crate::config::LiveSettings>,
    pub store: Arc<dyn Store>,
    pub intake: Intake,
    /// Wakes idle workers when a delivery is committed.
    pub work_available: Arc<Notify>,
    /// The items the workers are running: a delivery behind one wakes no worker.
    pub running_items: Arc<crate::queue::RunningItems>,
    /// Set on SIGTERM: the receiver answers 503 so the forge redelivers elsewhere or later.
    pub shutting_down: Arc<AtomicBool>,
    pub metrics: PrometheusHandle,
    /// DingTalk signatures already accepted (`/chat/dingtalk`).
    pub dingtalk_signatures: chatops::SeenDingTalkSignatures,
}

impl AppState {
    /// Journals a received delivery (group-committed by the intake) and, when it is new and
    /// was not handed to a waiting worker as it was journaled, wakes one idle worker for it.
    /// One delivery needs one worker: waking every idle worker made the others race for it
    /// with empty claims (three wasted queries per delivery with four workers). None while a
    /// worker runs the same item: that worker takes it next ([`crate::queue::RunningItems`]).
    pub async fn journal(&self, delivery: NewDelivery) -> Result<InsertOutcome, StoreError> {
        let item_key = delivery.item_key.clone();
        let submitted = self.intake.submit(delivery).await?;
        if submitted.outcome == InsertOutcome::Inserted
            && !submitted.handed
            && self.running_items.wake_for(&item_key)
        {
            self.work_available.notify_one();
        }
        Ok(submitted.outcome)
    }
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/hook", web::post().to(hook::receive))
        .route("/hook/drone", web::post().to(drone::receive))
        .route("/chat/dingtalk", web::post().to(chatops::dingtalk))
        .route("/chat/slack", web::post().to(chatops::slack))
        .route("/chat/slack/events", web::post().to(chatops::slack_events))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .configure(pages::routes);
}

/// Alive: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

/// Ready: not stopping, and the store answers.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.shutting_down.load(Ordering::Relaxed) {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("shutting down\n");
    }
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ready\n"),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("store unreachable\n"),
    }
}

/// Prometheus text format; queue depth is read from the store at scrape time.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if let Ok(counts) = state.store.status_counts().await {
        for status in ["queued", "running", "done", "failed", "ignored"] {
            let n = counts.get(status).copied().unwrap_or(0);
            metrics::gauge!("bosun_deliveries_stored", "status" => status).set(n as f64);
        }
        let depth = counts.get("queued").copied().unwrap_or(0)
            + counts.get("running").copied().unwrap_or(0);
        metrics::gauge!("bosun_queue_depth").set(depth as f64);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
