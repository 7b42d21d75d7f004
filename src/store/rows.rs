//! The rows both backends read, decoded by sqlx (`FromRow`), and their conversions to the
//! public types, in one place. Times are `DateTime<Utc>` on both: Postgres keeps TIMESTAMPTZ,
//! SQLite RFC 3339 text (see `sqlite::stamp`).

use super::payload::decode;
use super::{
    ActionOutcome, ActionRecord, ClaimedDelivery, DeliveryDetail, DeliveryRecord, PullRequestState,
    PullRequestView, StoreError, StoredAction, parse_action, parse_forge,
};
use bosun_plugins::ForgeKind;
use chrono::{DateTime, Utc};

/// A claimed `deliveries` row, as the claim's `RETURNING` gives it.
#[derive(sqlx::FromRow)]
pub(super) struct ClaimRow {
    id: i64,
    delivery_id: String,
    forge: String,
    event: String,
    repo: Option<String>,
    number: Option<i64>,
    item_key: String,
    payload: Vec<u8>,
    payload_encoding: String,
    attempts: i32,
    decided: bool,
    received_at: DateTime<Utc>,
}

impl TryFrom<ClaimRow> for ClaimedDelivery {
    type Error = StoreError;

    fn try_from(r: ClaimRow) -> Result<Self, StoreError> {
        Ok(ClaimedDelivery {
            id: r.id,
            delivery_id: r.delivery_id,
            forge: parse_forge(&r.forge)?,
            event: r.event,
            repo: r.repo,
            number: r.number,
            item_key: r.item_key,
            payload: decode(&r.payload_encoding, r.payload)?,
            attempts: r.attempts,
            decided: r.decided,
            received_at: r.received_at,
        })
    }
}

/// A delivery with its headers and stored payload, as [`super::sql::DELIVERY_DETAIL`] and
/// [`super::sql::item_history`] select it.
#[derive(sqlx::FromRow)]
pub(super) struct DetailRow {
    #[sqlx(flatten)]
    record: DeliveryRecord,
    headers: String,
    payload: Vec<u8>,
    payload_encoding: String,
}

impl TryFrom<DetailRow> for DeliveryDetail {
    type Error = StoreError;

    fn try_from(r: DetailRow) -> Result<Self, StoreError> {
        Ok(DeliveryDetail {
            record: r.record,
            headers: r.headers,
            payload: decode(&r.payload_encoding, r.payload)?,
        })
    }
}

/// An `actions` row with the columns [`super::sql::ACTION_COLUMNS`] names.
#[derive(sqlx::FromRow)]
pub(super) struct ActionRow {
    id: i64,
    delivery: i64,
    plugin: String,
    seq: i32,
    kind: String,
    target: String,
    details: String,
    outcome: String,
    error: Option<String>,
    forge_calls: i32,
    created_at: DateTime<Utc>,
    applied_at: Option<DateTime<Utc>>,
}

impl TryFrom<ActionRow> for StoredAction {
    type Error = StoreError;

    fn try_from(r: ActionRow) -> Result<Self, StoreError> {
        Ok(StoredAction {
            id: r.id,
            plugin: r.plugin,
            seq: r.seq,
            kind: r.kind,
            target: r.target,
            action: parse_action(&r.details)?,
            outcome: ActionOutcome::parse(&r.outcome)?,
            error: r.error,
            forge_calls: r.forge_calls,
        })
    }
}

impl TryFrom<ActionRow> for ActionRecord {
    type Error = StoreError;

    fn try_from(r: ActionRow) -> Result<Self, StoreError> {
        let (delivery, created_at, applied_at) = (r.delivery, r.created_at, r.applied_at);
        Ok(ActionRecord {
            delivery,
            action: StoredAction::try_from(r)?,
            created_at,
            applied_at,
        })
    }
}

/// A `pull_requests` row with the columns [`super::sql::PULL_REQUEST_COLUMNS`] names.
#[derive(sqlx::FromRow)]
pub(super) struct PullRequestRow {
    state: String,
    head_sha: Option<String>,
    labels: String,
    updated_at: DateTime<Utc>,
}

impl PullRequestRow {
    /// The PR's recorded state.
    pub(super) fn into_state(
        self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
    ) -> Result<PullRequestState, StoreError> {
        Ok(PullRequestState {
            forge,
            repo: repo.to_string(),
            number,
            state: self.state,
            head_sha: self.head_sha,
            labels: serde_json::from_str(&self.labels)
                .map_err(|e| StoreError::Corrupt(format!("labels: {e}")))?,
        })
    }

    /// The row as the PR page shows it.
    pub(super) fn into_view(
        self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
    ) -> Result<PullRequestView, StoreError> {
        let updated_at = self.updated_at;
        Ok(PullRequestView {
            state: self.into_state(forge, repo, number)?,
            updated_at,
        })
    }
}
