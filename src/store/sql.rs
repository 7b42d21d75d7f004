//! The SQL both backends run, defined once. `$1`-style placeholders work on SQLite too.
//!
//! Statements that write the current time differ between the backends only in how they say
//! "now" (Postgres `now()`, the database clock; SQLite an RFC 3339 text of its own clock), so
//! they are built once per backend from that expression ([`Statements::new`]). The queue claim
//! and the retry delay differ in more than that and stay in their backend's file.

use super::{DeliveryFilter, NewDelivery};
use sqlx::QueryBuilder;
use sqlx::query_builder::Separated;

/// A delivery's status as readers see it. A claim leaves `status` at `queued` and sets the lease
/// (changing an indexed column would make every claim write a new entry in each of the table's
/// indexes, where a lease alone is a heap-only update: BENCHMARKS.md §11), so a queued delivery
/// with a lease owner is running. Rows a previous release claimed say `running` themselves.
macro_rules! shown_status {
    () => {
        "CASE WHEN status = 'queued' AND lease_owner IS NOT NULL THEN 'running' ELSE status END"
    };
}

/// The `deliveries` columns a [`super::DeliveryRecord`] is read from.
macro_rules! delivery_columns {
    () => {
        concat!(
            "id, delivery_id, forge, event, repo, number, item_key, ",
            shown_status!(),
            " AS status, attempts, last_error, received_at, started_at, finished_at"
        )
    };
}

/// The `actions` columns a [`super::rows::ActionRow`] is read from.
macro_rules! action_columns {
    () => {
        "id, delivery, plugin, seq, kind, target, details, outcome, error, forge_calls, created_at, applied_at"
    };
}

const DELIVERY_COLUMNS: &str = delivery_columns!();
const ACTION_COLUMNS: &str = action_columns!();

pub(super) const PING: &str = "SELECT 1";

/// The condition that `$1` is a delivery worker `$2` holds the lease of: claimed by it and not
/// ended since (a claim keeps `status` at `queued`; a previous release's claims say `running`).
macro_rules! held_by_worker {
    () => {
        "id = $1 AND lease_owner = $2 AND status IN ('queued', 'running')"
    };
}

/// Gives a delivery back unfinished; the attempt does not count. `$1` id, `$2` worker.
pub(super) const RELEASE_DELIVERY: &str = concat!(
    "UPDATE deliveries SET status = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
        lease_owner = NULL, lease_until = NULL, run_after = received_at
 WHERE ",
    held_by_worker!()
);

pub(super) const MARK_DECIDED: &str = "UPDATE deliveries SET decided = TRUE WHERE id = $1";

/// The start every statement that ends an attempt shares.
const END_ATTEMPT: &str = "UPDATE deliveries SET ";

/// `end`, an update that ends an attempt, also marking the delivery decided when the attempt
/// holds its decision back until then (`Settlement::decides`).
pub(super) fn attempt_end(end: &str, decides: bool) -> std::borrow::Cow<'_, str> {
    debug_assert!(end.starts_with(END_ATTEMPT), "not an attempt's end: {end}");
    match decides {
        true => end
            .replacen(END_ATTEMPT, "UPDATE deliveries SET decided = TRUE, ", 1)
            .into(),
        false => end.into(),
    }
}

pub(super) const DELIVERY_ACTIONS: &str = concat!(
    "SELECT ",
    action_columns!(),
    " FROM actions WHERE delivery = $1 ORDER BY id"
);

/// Postgres: journals a decision in one statement. `$1` delivery, then arrays of plugin, seq,
/// kind, target and details, and `$7`: journal the first action `applying`. Returns the
/// inserted actions.
pub(super) const PG_RECORD_DECISION: &str = concat!(
    "WITH decided AS (UPDATE deliveries SET decided = TRUE WHERE id = $1)
     INSERT INTO actions (delivery, plugin, seq, kind, target, details, outcome, created_at)
     SELECT $1, x.plugin, x.seq, x.kind, x.target, x.details,
            CASE WHEN $7 AND x.n = 1 THEN 'applying' ELSE 'pending' END, now()
     FROM unnest($2::text[], $3::int4[], $4::text[], $5::text[], $6::text[])
          WITH ORDINALITY AS x(plugin, seq, kind, target, details, n)
     ON CONFLICT (delivery, plugin, seq) DO NOTHING
     RETURNING ",
    action_columns!()
);

/// Postgres: sets `n` actions' outcomes, four parameters each from `$first`: id, outcome,
/// error, and forge calls to add. Scalar parameters, one statement text per `n`: with arrays
/// (`unnest`, `= ANY`) Postgres may keep a generic plan made while the table was young, a
/// sequential scan, as the table grows; `id IN ($…)` is an index lookup in every plan.
pub(super) fn pg_set_outcomes(first: usize, n: usize) -> String {
    let param = |k: usize, field: usize| format!("${}", first + 4 * k + field);
    let case = |field: usize, cast: &str| {
        let arms: String = (0..n)
            .map(|k| format!(" WHEN {} THEN {}::{cast}", param(k, 0), param(k, field)))
            .collect();
        format!("CASE id{arms} END")
    };
    let ids: Vec<String> = (0..n).map(|k| param(k, 0)).collect();
    let outcome = case(1, "text");
    format!(
        "UPDATE actions SET outcome = {outcome}, error = {}, forge_calls = forge_calls + {},
                applied_at = CASE WHEN {outcome} IN ('applied', 'dry-run') THEN now() ELSE applied_at END
         WHERE id IN ({})",
        case(2, "text"),
        case(3, "int4"),
        ids.join(", ")
    )
}

/// What an attempt's end writes besides the end itself, which decides its statement's text
/// and parameters on Postgres.
#[derive(Debug, Clone, Copy)]
pub(super) struct EndWrites {
    /// How many journaled actions' outcomes it sets.
    pub outcomes: usize,
    /// Whether it keeps held-back facts.
    pub facts: bool,
    /// Whether it journals a held decision.
    pub decision: bool,
}

impl EndWrites {
    /// The first parameter of the held-back facts' six arrays.
    fn first_fact(self) -> usize {
        11 + 4 * self.outcomes
    }

    /// The first parameter of the held decision's eight arrays.
    fn first_decided(self) -> usize {
        self.first_fact() + if self.facts { 6 } else { 0 }
    }

    /// How many parameters [`pg_settled`]'s statement takes: the end's and the PR's ten, four
    /// per outcome, six arrays when it keeps facts and eight when it journals a decision.
    pub(super) fn params(self) -> usize {
        self.first_decided() - 1 + if self.decision { 8 } else { 0 }
    }
}

/// Postgres: an attempt's end and its held-back writes in one statement: `end` (an update of
/// the delivery `$1` using `$1`…`$4`), the PR's record from `$5` forge … `$10` labels (written
/// when `$5` is not NULL), action outcomes as in [`pg_set_outcomes`] from `$11`, then facts and
/// a held decision as [`EndWrites`] says. Returns `ended`, the number of deliveries ended (0
/// when the lease was lost).
pub(super) fn pg_settled(end: &str, writes: EndWrites) -> String {
    let (settled, ends) = pg_settled_ctes(end, writes);
    format!("WITH {settled} SELECT ({ends}) AS ended")
}

/// The CTEs of [`pg_settled`], and the expression that counts the deliveries ended. Held-back
/// facts are kept from six arrays (forge, repo, number, key, plugin, fact), at most one per PR
/// and key. A held decision's actions are journaled from eight (plugin, seq, kind, target,
/// details, outcome, error, forge calls), only when the end ended the delivery: a worker that
/// lost its lease leaves the journal to the one that holds it.
fn pg_settled_ctes(end: &str, writes: EndWrites) -> (String, &'static str) {
    let outcomes = match writes.outcomes {
        0 => String::new(),
        n => format!("outcomes AS ({}),", pg_set_outcomes(11, n)),
    };
    let facts = match writes.facts {
        false => String::new(),
        true => {
            let p = |k: usize| format!("${}", writes.first_fact() + k);
            format!(
                "facts AS (
            INSERT INTO pr_facts (forge, repo, number, fact_key, plugin, fact)
            SELECT * FROM unnest({}::text[], {}::text[], {}::int8[], {}::text[], {}::text[], {}::text[])
            ON CONFLICT (forge, repo, number, fact_key) DO UPDATE
            SET plugin = excluded.plugin, fact = excluded.fact),",
                p(0),
                p(1),
                p(2),
                p(3),
                p(4),
                p(5)
            )
        }
    };
    let decision = match writes.decision {
        false => String::new(),
        true => {
            let p = |k: usize| format!("${}", writes.first_decided() + k);
            format!(
                ",
         decision AS (
            INSERT INTO actions (delivery, plugin, seq, kind, target, details, outcome, error,
                                 forge_calls, applied_at, created_at)
            SELECT $1, x.plugin, x.seq, x.kind, x.target, x.details, x.outcome, x.error, x.calls,
                   CASE WHEN x.outcome IN ('applied', 'dry-run') THEN now() END, now()
            FROM unnest({}::text[], {}::int4[], {}::text[], {}::text[], {}::text[], {}::text[],
                        {}::text[], {}::int4[])
                 AS x(plugin, seq, kind, target, details, outcome, error, calls)
            WHERE EXISTS (SELECT 1 FROM ended)
            ON CONFLICT (delivery, plugin, seq) DO NOTHING)",
                p(0),
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6),
                p(7)
            )
        }
    };
    let ctes = format!(
        "{outcomes}{facts}
         pull_request AS (
            INSERT INTO pull_requests (forge, repo, number, state, head_sha, labels, updated_at)
            SELECT $5::text, $6::text, $7::int8, $8::text, $9::text, $10::text, now()
            WHERE $5::text IS NOT NULL
            {UPSERT_PULL_REQUEST_CONFLICT}),
         ended AS ({end} RETURNING id){decision}"
    );
    (ctes, "SELECT count(*) FROM ended")
}

/// Postgres: claims the first claimable head among the `$3` oldest pending deliveries (all of
/// them when `$3` is NULL) for worker `$1` with a lease of `$2` seconds. Always one row:
/// `pending_seen` (how many pending deliveries it read: fewer than `$3` means all of them),
/// `others_due` (how many of them were queued and due, not counting the one claimed), then
/// the claimed delivery's columns, NULL when none was claimable. The head of each item's
/// queue is found with one ordered pass over the pending index (DISTINCT ON), so the plan does
/// not depend on table statistics: a correlated NOT EXISTS per row degrades badly on a fresh,
/// unanalyzed table. The claimable heads are then tried oldest first, one row lock at a time,
/// and the first one not locked by another worker is taken: joining them all to the table before
/// picking one read every candidate's row (three buffers each) for the one it kept.
///
/// The claim leaves `status` at `queued` and moves `run_after` to the lease's end, so a claimed
/// delivery is due again exactly when its lease runs out, for this release and the previous one
/// alike (see `shown_status!`). `status = 'running'` rows are a previous release's claims.
///
/// The claim's transaction commits without waiting for its WAL to reach the disk
/// (`synchronous_commit` off for that transaction alone): a claim lost to a database crash only
/// leaves the delivery queued, to be claimed again, and the worker's next write, the decision,
/// is synchronous and flushes the claim with it. A synchronous commit cost 2.1 ms of fsync on
/// these machines (BENCHMARKS.md §12).
pub(super) static PG_CLAIM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH {}
     SELECT (SELECT count(*) FROM pending) AS pending_seen,
            (SELECT count(*) FROM pending
             WHERE status = 'queued' AND run_after <= now()
               AND id <> coalesce((SELECT id FROM claimed), 0)) AS others_due,
            set_config('synchronous_commit', 'off', true) AS commit_mode,
            claimed.*
     FROM (SELECT 1) AS one LEFT JOIN claimed ON TRUE",
        pg_claim_ctes("$1", "$2", "$3", None)
    )
});

/// The claim's CTEs (`pending`, `heads`, `candidates`, `next`, `claimed`), with the
/// placeholders of the worker, the lease in seconds and the window. `after` names a CTE
/// of the same statement that ends a delivery (`$1`): that delivery is left out of the pending
/// set, so the next of its item can be its head, and nothing is claimed unless it ended.
/// A head is not claimed while another delivery of its item holds a lease: a replayed one goes
/// back to its place in line, but waits for the one running to end, and so does an earlier one
/// whose insert committed after a later one was claimed. The window's own rows answer that when
/// the window holds every pending delivery; when it is full, the one head about to be claimed is
/// also looked up among its item's deliveries ([`pg_item_leased_elsewhere`]).
fn pg_claim_ctes(worker: &str, lease: &str, window: &str, after: Option<&str>) -> String {
    let (pending_filter, candidate_filter) = match after {
        Some(ended) => (
            " AND id <> $1".to_string(),
            format!(" AND EXISTS (SELECT 1 FROM {ended})"),
        ),
        None => (String::new(), String::new()),
    };
    let leased_elsewhere = pg_item_leased_elsewhere("d", after.map(|_| "$1"));
    format!(
        "pending AS (
        SELECT id, item_key, status, run_after, lease_until
        FROM deliveries
        WHERE status IN ('queued', 'running'){pending_filter}
        ORDER BY id
        LIMIT {window}),
     heads AS (
        SELECT DISTINCT ON (item_key) id, status, run_after, lease_until,
               bool_or(lease_until > now()) OVER (PARTITION BY item_key ORDER BY id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS item_leased
        FROM pending
        ORDER BY item_key, id),
     candidates AS (
        SELECT id FROM heads
        WHERE ((status = 'queued' AND run_after <= now())
           OR (status = 'running' AND lease_until < now())){candidate_filter}
          AND item_leased IS NOT TRUE
        ORDER BY id),
     next AS (
        SELECT d.id FROM candidates c
        CROSS JOIN LATERAL (
            SELECT d.id FROM deliveries d
            WHERE d.id = c.id
              AND CASE WHEN {window} IS NULL OR (SELECT count(*) FROM pending) < {window} THEN TRUE
                       ELSE NOT {leased_elsewhere} END
            FOR UPDATE SKIP LOCKED) d
        LIMIT 1),
     claimed AS (
        UPDATE deliveries d
        SET status = 'queued', attempts = d.attempts + 1, lease_owner = {worker},
            lease_until = now() + make_interval(secs => {lease}),
            run_after = now() + make_interval(secs => {lease}), started_at = coalesce(d.started_at, now())
        FROM next
        WHERE d.id = next.id
          AND ((d.status = 'queued' AND d.run_after <= now()) OR (d.status = 'running' AND d.lease_until < now()))
        RETURNING d.id, d.delivery_id, d.forge, d.event, d.repo, d.number, d.item_key, d.payload,
                  d.payload_encoding, d.attempts, d.decided, d.received_at)"
    )
}

/// Postgres: whether a delivery of the item of row `d` other than `d` (and than `ended`, the
/// delivery the same statement ends) holds a lease, read through the indexes by repository
/// and time that inserts write anyway (`deliveries_item_history`: repository, number, forge,
/// time received), not through the pending deliveries, which a backlog makes many. Three
/// forms, one per shape of item key, so that each is one index range: a PR's or an issue's
/// deliveries, a repository's own, or those with no repository.
///
/// Only a live lease counts (every end clears it). Only deliveries received since ten minutes
/// before `d` are read: any other delivery of the item still pending was either received
/// before `d`, and then it is `d`'s head and in the claim's window, or after it, give or take
/// how long one insert statement ran between reading the clock and taking its id.
fn pg_item_leased_elsewhere(d: &str, ended: Option<&str>) -> String {
    let others = match ended {
        Some(ended) => format!(" AND l.id <> {ended}"),
        None => String::new(),
    };
    let leased = |key: &str| {
        format!(
            "EXISTS (SELECT 1 FROM deliveries l
                     WHERE {key} AND l.forge = {d}.forge
                       AND l.received_at >= {d}.received_at - interval '10 minutes'
                       AND l.item_key = {d}.item_key AND l.id <> {d}.id{others}
                       AND l.lease_until > now())"
        )
    };
    format!(
        "(CASE WHEN {d}.repo IS NULL THEN {none}
               WHEN {d}.number IS NULL THEN {repo}
               ELSE {numbered} END)",
        none = leased("l.repo IS NULL"),
        repo = leased(&format!("l.repo = {d}.repo AND l.number IS NULL")),
        numbered = leased(&format!("l.repo = {d}.repo AND l.number = {d}.number")),
    )
}

/// Postgres: an attempt's end as [`pg_settled`] makes it, and then, when it ended the delivery,
/// a claim as [`PG_CLAIM`] makes one within the `window` oldest pending deliveries, in one
/// statement: a worker that knows a delivery waits behind the one it ends saves the claim's
/// round trip and transaction. The lease in seconds is the parameter after the end's
/// ([`EndWrites::params`]).
/// Returns `ended`, then the claim's columns. The whole statement commits synchronously, as an
/// end must.
pub(super) fn pg_settled_then_claim(end: &str, writes: EndWrites, window: i64) -> String {
    let lease = format!("${}", writes.params() + 1);
    let (settled, ends) = pg_settled_ctes(end, writes);
    format!(
        "WITH {settled},
     {}
     SELECT ({ends}) AS ended,
            (SELECT count(*) FROM pending) AS pending_seen,
            (SELECT count(*) FROM pending
             WHERE status = 'queued' AND run_after <= now()
               AND id <> coalesce((SELECT id FROM claimed), 0)) AS others_due,
            claimed.*
     FROM (SELECT 1) AS one LEFT JOIN claimed ON TRUE",
        pg_claim_ctes("$2", &lease, &window.to_string(), Some("ended"))
    )
}

/// What recording a PR does to its existing row.
const UPSERT_PULL_REQUEST_CONFLICT: &str =
    "ON CONFLICT (forge, repo, number) DO UPDATE SET state = excluded.state,
     head_sha = coalesce(excluded.head_sha, pull_requests.head_sha), labels = excluded.labels,
     updated_at = excluded.updated_at";

/// A pull request's row, for [`super::rows::PullRequestRow`]. `$1` forge, `$2` repo, `$3` number.
pub(super) const PULL_REQUEST: &str =
    "SELECT state, head_sha, labels, updated_at FROM pull_requests
 WHERE forge = $1 AND repo = $2 AND number = $3";

pub(super) const DELIVERY: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM deliveries WHERE delivery_id = $1"
);

pub(super) const DELIVERY_DETAIL: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    ", headers, payload, payload_encoding FROM deliveries WHERE delivery_id = $1"
);

/// Newest first; `$1` limit, `$2` the id to stay below (NULL: from the newest).
pub(super) const RECENT_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM deliveries WHERE (CAST($2 AS BIGINT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $1"
);

pub(super) const REQUEUE_ACTIONS: &str = "UPDATE actions SET outcome = 'pending', error = NULL WHERE delivery = $1 AND outcome = 'failed'";

pub(super) const REQUEUE_FAILED_ACTIONS: &str =
    "UPDATE actions SET outcome = 'pending', error = NULL
 WHERE outcome = 'failed' AND delivery IN (SELECT id FROM deliveries WHERE status = 'failed')";

pub(super) const STATUS_COUNTS: &str = concat!(
    "SELECT ",
    shown_status!(),
    " AS status, count(*) AS n FROM deliveries GROUP BY 1"
);

pub(super) const OWNERS_CACHE_GET: &str = "SELECT value FROM owners_cache WHERE key = $1";

pub(super) const OWNERS_CACHE_PUT: &str =
    "INSERT INTO owners_cache (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";

/// `$1` forge, `$2` repo.
pub(super) const OPEN_REVIEW_REQUEST_TARGETS: &str = "SELECT a.target FROM actions a
 JOIN deliveries d ON d.id = a.delivery
 JOIN pull_requests p ON p.forge = d.forge AND p.repo = d.repo AND p.number = d.number
 WHERE d.forge = $1 AND d.repo = $2 AND a.kind = 'request_reviewers'
   AND a.outcome = 'applied' AND p.state = 'open'";

/// The start of the batch insert: [`insert_deliveries`] adds the rows' values and
/// [`INSERT_DELIVERIES_END`]; `insert_delivery_after` one row of its own.
pub(super) const INSERT_DELIVERIES: &str = "INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload, payload_encoding, received_at, run_after) ";

pub(super) const INSERT_DELIVERIES_END: &str =
    " ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id";

/// How many of the oldest pending deliveries a leasing insert reads to learn which items are
/// busy; with this many pending or more, it leases nothing (a backlog: the workers claim it in
/// order). Bounded, so the check is one short ordered read of the pending index whatever the
/// table's size or statistics.
const LEASE_WINDOW: i64 = 256;

/// Binds a delivery's stored columns, `delivery_id` to `payload_encoding`, as a row of
/// [`INSERT_DELIVERIES`] or of a leasing insert's `batch` starts.
fn push_delivery<DB>(row: &mut Separated<'_, DB, &'static str>, d: &NewDelivery)
where
    DB: sqlx::Database,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<&'t str>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<i64>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'t [u8]: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    row.push_bind(d.delivery_id.as_str())
        .push_bind(d.forge.as_str())
        .push_bind(d.event.as_str())
        .push_bind(d.repo.as_deref())
        .push_bind(d.number)
        .push_bind(d.item_key.as_str())
        .push_bind(d.headers.as_str())
        .push_bind(d.payload.stored())
        .push_bind(d.payload.encoding().as_str());
}

/// The batch insert of `rows`, received and due at `now` (the backend's "now"); returns the
/// ids it stored.
pub(super) fn insert_deliveries<'a, DB>(
    rows: impl IntoIterator<Item = &'a NewDelivery>,
    now: &str,
) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<&'t str>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<i64>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'t [u8]: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut qb = QueryBuilder::new(INSERT_DELIVERIES);
    qb.push_values(rows, |mut row, d| {
        push_delivery(&mut row, d);
        row.push(now).push(now);
    });
    qb.push(INSERT_DELIVERIES_END);
    qb
}

/// How a leasing insert learns which of its rows' items have nothing pending.
pub(super) enum ItemsFree<'p> {
    /// From the window of pending deliveries in `pending` (a table expression), read once as
    /// the statement starts: enough where one writer inserts at a time (SQLite).
    Window(&'p str),
    /// From `bosun_items_free` (Postgres, migration `…item_turns`), which first waits for the
    /// items' turns, so that another process's insert of the same item is either committed and
    /// seen, or waits for this one.
    InTurn,
}

impl ItemsFree<'_> {
    /// The CTE (after `batch`) that learns which items are free, and the condition that a
    /// batch row `b`'s item is one of them.
    fn answer(&self) -> (String, String) {
        match self {
            ItemsFree::Window(pending) => (
                format!(
                    "pending AS MATERIALIZED (
        SELECT item_key FROM {pending} WHERE status IN ('queued', 'running')
        ORDER BY id LIMIT {LEASE_WINDOW})"
                ),
                format!(
                    "(SELECT count(*) FROM pending) < {LEASE_WINDOW}
                     AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.item_key = b.item_key)"
                ),
            ),
            ItemsFree::InTurn => (
                format!(
                    "free AS MATERIALIZED (
        SELECT unnest(bosun_items_free(
            ARRAY(SELECT item_key FROM batch WHERE lease_owner IS NOT NULL), {LEASE_WINDOW})) AS item_key)"
                ),
                "b.item_key IN (SELECT item_key FROM free)".to_string(),
            ),
        }
    }
}

/// The leasing insert (`insert_and_lease`) of `rows`, each with the worker to lease it to (or
/// none); `now` is the backend's "now", `free` how it learns which items have nothing
/// pending, and `push_until` pushes the lease's end as SQL. A row is leased to its worker only
/// when nothing of its item is pending (so it is its item's head and runs in order) and the
/// pending window is not full. Returns each stored row's id, delivery id, lease owner (NULL:
/// queued) and receipt time.
pub(super) fn leasing_insert<'a, DB>(
    rows: impl IntoIterator<Item = (&'a NewDelivery, Option<&'a str>)>,
    now: &str,
    free: ItemsFree<'_>,
    push_until: impl FnOnce(&mut QueryBuilder<DB>),
) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<&'t str>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<i64>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'t [u8]: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let (answer, free_item) = free.answer();
    let mut qb = QueryBuilder::new(
        "WITH batch (delivery_id, forge, event, repo, number, item_key, headers, payload, payload_encoding, lease_owner) AS (",
    );
    qb.push_values(rows, |mut row, (d, owner)| {
        push_delivery(&mut row, d);
        row.push_bind(owner);
    });
    qb.push(format!("),\n     {answer}"));
    qb.push(format!(
        ",
     leased AS (
        SELECT b.*, (b.lease_owner IS NOT NULL AND {free_item}) AS handed,
               "
    ));
    push_until(&mut qb);
    qb.push(format!(
        " AS until FROM batch b)
     INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload, payload_encoding,
                             received_at, run_after, lease_owner, lease_until, attempts, started_at)
     SELECT delivery_id, forge, event, repo, number, item_key, headers, payload, payload_encoding, {now},
            CASE WHEN handed THEN until ELSE {now} END, CASE WHEN handed THEN lease_owner END,
            CASE WHEN handed THEN until END, CASE WHEN handed THEN 1 ELSE 0 END,
            CASE WHEN handed THEN {now} END
     FROM leased WHERE TRUE
     ON CONFLICT (delivery_id) DO NOTHING
     RETURNING id, delivery_id, lease_owner, received_at"
    ));
    qb
}

/// The statements that write the time, in one backend's words for "now".
pub(super) struct Statements {
    /// `$1` id, `$2` worker, `$3` status, `$4` note.
    pub finish_delivery: String,
    /// `$1` delivery id; returns the row's `id`.
    pub requeue: String,
    pub requeue_failed: String,
    /// `$1` delivery, `$2` plugin, `$3` seq, `$4` kind, `$5` target, `$6` details, `$7` outcome.
    pub insert_action: String,
    /// `$1` action id, `$2` outcome, `$3` error, `$4` forge calls to add.
    pub set_action_outcome: String,
    /// A held decision's action with its outcome: `$1` delivery, `$2` plugin … `$6` details,
    /// `$7` outcome, `$8` error, `$9` forge calls.
    pub insert_settled_action: String,
    /// `$1` forge … `$6` labels. (Who LGTM'd and approved are facts: [`super::FactStore`].)
    pub upsert_pull_request: String,
}

impl Statements {
    /// The statements with `now` as the SQL expression for the current time.
    pub fn new(now: &str) -> Statements {
        Statements {
            finish_delivery: format!(
                "UPDATE deliveries SET status = $3, last_error = coalesce($4, last_error), finished_at = {now},
                        lease_owner = NULL, lease_until = NULL
                 WHERE {}",
                held_by_worker!()
            ),
            requeue: format!(
                "UPDATE deliveries SET status = 'queued', attempts = 0, run_after = {now}, finished_at = NULL,
                        lease_owner = NULL, lease_until = NULL
                 WHERE delivery_id = $1 AND status <> 'running' AND lease_owner IS NULL RETURNING id"
            ),
            requeue_failed: format!(
                "UPDATE deliveries SET status = 'queued', attempts = 0, run_after = {now}, finished_at = NULL
                 WHERE status = 'failed'"
            ),
            insert_action: format!(
                "INSERT INTO actions (delivery, plugin, seq, kind, target, details, outcome, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, {now})
                 ON CONFLICT (delivery, plugin, seq) DO NOTHING"
            ),
            set_action_outcome: format!(
                "UPDATE actions SET outcome = $2, error = $3, forge_calls = forge_calls + $4,
                        applied_at = CASE WHEN $2 IN ('applied', 'dry-run') THEN {now} ELSE applied_at END
                 WHERE id = $1"
            ),
            insert_settled_action: format!(
                "INSERT INTO actions (delivery, plugin, seq, kind, target, details, outcome, error,
                                      forge_calls, applied_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                         CASE WHEN $7 IN ('applied', 'dry-run') THEN {now} END, {now})
                 ON CONFLICT (delivery, plugin, seq) DO NOTHING"
            ),
            upsert_pull_request: format!(
                "INSERT INTO pull_requests (forge, repo, number, state, head_sha, labels, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, {now}) {UPSERT_PULL_REQUEST_CONFLICT}"
            ),
        }
    }
}

/// How the dashboard's list finds its newest deliveries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Newest {
    /// By `(received_at, id)`, through the filter's index.
    Received,
    /// By `id` alone: where one writer stamps the rows as it inserts them (SQLite), that is
    /// the order received, and the table's own order serves it.
    ById,
}

/// The dashboard's list: deliveries matching `filter`, newest first (as `newest` finds them),
/// strictly before `before` (its time in the backend's form, and its id).
pub(super) fn list_deliveries<DB, T>(
    filter: &DeliveryFilter,
    before: Option<(T, i64)>,
    limit: i64,
    newest: Newest,
) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    T: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut qb = QueryBuilder::new(format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE TRUE"
    ));
    if let Some(repo) = &filter.repo {
        qb.push(" AND repo = ").push_bind(repo.clone());
    }
    if let Some(number) = filter.number {
        qb.push(" AND number = ").push_bind(number);
    }
    match filter.status.as_deref() {
        Some("running") => {
            qb.push(" AND (status = 'running' OR (status = 'queued' AND lease_owner IS NOT NULL))");
        }
        Some("queued") => {
            qb.push(" AND status = 'queued' AND lease_owner IS NULL");
        }
        Some(status) => {
            qb.push(" AND status = ").push_bind(status.to_string());
        }
        None => {}
    }
    if let Some(forge) = &filter.forge {
        qb.push(" AND forge = ").push_bind(forge.clone());
    }
    match (newest, before) {
        (Newest::Received, Some((received_at, id))) => {
            qb.push(" AND (received_at, id) < (")
                .push_bind(received_at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        (Newest::ById, Some((_, id))) => {
            qb.push(" AND id < ").push_bind(id);
        }
        (_, None) => {}
    }
    qb.push(match newest {
        Newest::Received => " ORDER BY received_at DESC, id DESC LIMIT ",
        Newest::ById => " ORDER BY id DESC LIMIT ",
    })
    .push_bind(limit);
    qb
}

/// A pull request's (or issue's) deliveries with headers and payload, oldest first, strictly
/// after `after` (its time in the backend's form, and its id).
pub(super) fn item_history<DB, T>(
    forge: &str,
    repo: &str,
    number: i64,
    after: Option<(T, i64)>,
    limit: i64,
) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    T: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut qb = QueryBuilder::new(format!(
        "SELECT {DELIVERY_COLUMNS}, headers, payload, payload_encoding FROM deliveries WHERE forge = "
    ));
    qb.push_bind(forge.to_string())
        .push(" AND repo = ")
        .push_bind(repo.to_string())
        .push(" AND number = ")
        .push_bind(number);
    if let Some((received_at, id)) = after {
        qb.push(" AND (received_at, id) > (")
            .push_bind(received_at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    qb.push(" ORDER BY received_at, id LIMIT ").push_bind(limit);
    qb
}

/// The actions of these deliveries (not empty), in the order they were journaled.
pub(super) fn actions_of<DB>(deliveries: &[i64]) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut qb = QueryBuilder::new(format!(
        "SELECT {ACTION_COLUMNS} FROM actions WHERE delivery IN ("
    ));
    let mut ids = qb.separated(", ");
    for id in deliveries {
        ids.push_bind(*id);
    }
    qb.push(") ORDER BY delivery, id");
    qb
}
