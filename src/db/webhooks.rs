//! Webhook endpoints and the outbox of their deliveries.
//!
//! An audit event written in a transaction (`audit::insert`) queues a delivery for each
//! active endpoint subscribed to its type, in the same transaction ([`enqueue`]). Whether
//! any endpoint wants a type is answered from memory first ([`Outbox`]), so a change nobody
//! subscribed to costs no query. Deliveries are claimed for one attempt with a lease
//! ([`claim`]): a conditional update that sets `locked_until`, so instances never attempt
//! the same delivery at the same time, and a crashed instance's claims lapse.
//!
//! An instance whose worker runs writes its deliveries already leased to that worker
//! ([`Outbox::lease_to`]) and hands them over by id once they are committed
//! ([`Outbox::committed`]): the worker reads them by primary key and attempts them without
//! a claim, so a delivery costs its insert and the record of its outcome. Past their lease
//! (the instance crashed) they are anyone's, like any claim. The due index is read once a
//! poll, for retries and for what other instances queued. On PostgreSQL that index keeps
//! an entry for every delivery that left `pending` until the table is next vacuumed, and a
//! claim that reads it steps over them all (measured in `bench/RESULTS.md` (j)).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel_async::RunQueryDsl;

use super::prepared::by_text;
use super::schema::{webhook_deliveries, webhook_endpoints};
use super::types::{Id, PortableTimestamp, PortableUuid, Ts};
use super::{Conn, run};
use crate::domain::{
    AttemptOutcome, AuditEvent, AuditEventId, AuditKind, ClaimedDelivery, Delivery, DeliveryId,
    DeliveryStatus, EventFilter, Page, PageRequest, User, Webhook, WebhookChanges, WebhookId,
    webhook_payload,
};
use crate::error::{Error, Result};

/// Ids the worker keeps at most for claiming by key; past them it finds the rest at its
/// next poll (a backlog the worker cannot keep up with, or a database that is away).
const COMMITTED_MAX: usize = 10_000;

/// This instance's view of the subscriptions, and the bell of its delivery worker.
#[derive(Debug, Default)]
pub struct Outbox {
    /// The audit kinds some active endpoint receives, as bits (`AuditKind::bit`). Set from
    /// the database when endpoints change here and at every turn of the worker, so a change
    /// made on another instance is seen within a second.
    subscribed: AtomicU32,
    /// The active endpoints as last read, with their stored `events` (see [`enqueue`]).
    endpoints: std::sync::Mutex<Arc<Vec<Subscription>>>,
    /// Deliveries this instance committed and its worker has not taken yet.
    committed: std::sync::Mutex<Vec<DeliveryId>>,
    /// The lease deliveries queued here are written with while this instance's worker runs
    /// (`None` without one, as in a command of the CLI, and once it stopped).
    lease: std::sync::Mutex<Option<Lease>>,
    wake: tokio::sync::Notify,
}

/// Whose a delivery is when it is queued, and for how long.
#[derive(Debug, Clone)]
pub struct Lease {
    pub holder: Arc<str>,
    pub length: chrono::TimeDelta,
}

impl Outbox {
    pub fn wants(&self, kind: AuditKind) -> bool {
        AtomicU32::load(&self.subscribed, Ordering::Relaxed) & kind.bit() != 0
    }

    /// Keeps the active endpoints as just read ([`subscriptions`]).
    pub fn set_subscribed(&self, endpoints: Vec<Subscription>) {
        let mask = endpoints
            .iter()
            .fold(0, |mask, endpoint| mask | endpoint.mask);
        *self.endpoints.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(endpoints);
        self.subscribed.store(mask, Ordering::Relaxed);
    }

    fn endpoints(&self) -> Arc<Vec<Subscription>> {
        Arc::clone(&self.endpoints.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Hands deliveries that were just committed to the worker, and rings it.
    pub fn committed(&self, ids: Vec<DeliveryId>) {
        {
            let mut committed = self.committed.lock().unwrap_or_else(|e| e.into_inner());
            let room = COMMITTED_MAX.saturating_sub(committed.len());
            committed.extend(ids.into_iter().take(room));
        }
        self.wake.notify_one();
    }

    /// The deliveries committed since the last call, oldest first.
    pub fn take_committed(&self) -> Vec<DeliveryId> {
        std::mem::take(&mut *self.committed.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// From now on, deliveries queued here are written leased to `lease.holder` (the
    /// worker) for `lease.length` from their event.
    pub fn lease_to(&self, lease: Lease) {
        *self.lease.lock().unwrap_or_else(|e| e.into_inner()) = Some(lease);
    }

    /// From now on, deliveries queued here are written free for any instance's worker.
    pub fn stop_leasing(&self) {
        *self.lease.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn lease(&self) -> Option<Lease> {
        self.lease.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for the bell that [`Outbox::committed`] rings.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct EndpointRow {
    id: Id,
    url: String,
    events: String,
    description: Option<String>,
    /// Sealed under `DOORMAN_DATA_KEY` when it is set (`service::webhooks`).
    secret: String,
    is_active: bool,
    created_at: Ts,
    updated_at: Ts,
}

/// An endpoint's row without its secret.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct EndpointView {
    id: Id,
    url: String,
    events: String,
    description: Option<String>,
    is_active: bool,
    created_at: Ts,
    updated_at: Ts,
}

fn parse_events(stored: &str) -> Result<EventFilter> {
    let names: Vec<String> = serde_json::from_str(stored).map_err(Error::internal)?;
    EventFilter::parse(&names)
        .map_err(|e| Error::internal(anyhow::anyhow!("stored webhook events: {}", e.message)))
}

fn store_events(events: &EventFilter) -> String {
    serde_json::Value::from(events.names()).to_string()
}

impl TryFrom<EndpointView> for Webhook {
    type Error = Error;

    fn try_from(row: EndpointView) -> Result<Self> {
        Ok(Webhook {
            id: WebhookId(row.id.0),
            url: row.url,
            events: parse_events(&row.events)?,
            description: row.description,
            is_active: row.is_active,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct DeliveryRow {
    id: Id,
    endpoint_id: Id,
    event_id: Id,
    type_: String,
    payload: String,
    status: String,
    attempts: i32,
    next_attempt_at: Option<Ts>,
    locked_until: Option<Ts>,
    locked_by: Option<String>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    created_at: Ts,
    delivered_at: Option<Ts>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = Error;

    fn try_from(row: DeliveryRow) -> Result<Self> {
        let status = DeliveryStatus::parse(&row.status).ok_or_else(|| {
            Error::internal(anyhow::anyhow!("unknown delivery status {:?}", row.status))
        })?;
        Ok(Delivery {
            id: DeliveryId(row.id.0),
            endpoint_id: WebhookId(row.endpoint_id.0),
            event_id: AuditEventId(row.event_id.0),
            kind: row.type_,
            status,
            attempts: row.attempts,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            next_attempt_at: row.next_attempt_at.map(|t| t.0),
            delivered_at: row.delivered_at.map(|t| t.0),
            created_at: row.created_at.0,
        })
    }
}

pub async fn insert_endpoint(conn: &mut Conn, webhook: &Webhook, secret: &str) -> Result<()> {
    let row = EndpointRow {
        id: Id(webhook.id.0),
        url: webhook.url.clone(),
        events: store_events(&webhook.events),
        description: webhook.description.clone(),
        secret: secret.to_owned(),
        is_active: webhook.is_active,
        created_at: Ts(webhook.created_at),
        updated_at: Ts(webhook.updated_at),
    };
    run!(conn, |c| diesel::insert_into(webhook_endpoints::table)
        .values(&row)
        .execute(c)
        .await)?;
    Ok(())
}

/// Endpoints, oldest first.
pub async fn list_endpoints(conn: &mut Conn, page: PageRequest) -> Result<Page<Webhook>> {
    let (rows, total): (Vec<EndpointView>, i64) = run!(conn, |c| {
        let rows = webhook_endpoints::table
            .order((webhook_endpoints::created_at, webhook_endpoints::id))
            .limit(page.limit)
            .offset(page.offset)
            .select(EndpointView::as_select())
            .load(c)
            .await?;
        let total = webhook_endpoints::table.count().get_result(c).await?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(Webhook::try_from)
            .collect::<Result<_>>()?,
        total,
        request: page,
    })
}

pub async fn find_endpoint(conn: &mut Conn, id: WebhookId) -> Result<Option<Webhook>> {
    let row: Option<EndpointView> = run!(conn, |c| webhook_endpoints::table
        .find(Id(id.0))
        .select(EndpointView::as_select())
        .get_result(c)
        .await
        .optional())?;
    row.map(Webhook::try_from).transpose()
}

#[derive(AsChangeset)]
#[diesel(table_name = webhook_endpoints)]
struct EndpointChanges {
    url: Option<String>,
    events: Option<String>,
    description: Option<Option<String>>,
    is_active: Option<bool>,
    updated_at: Ts,
}

/// Applies `changes`; the endpoint after them, or `None` when there is none.
pub async fn update_endpoint(
    conn: &mut Conn,
    id: WebhookId,
    changes: &WebhookChanges,
    now: DateTime<Utc>,
) -> Result<Option<Webhook>> {
    use crate::domain::Patch;
    let set = EndpointChanges {
        url: changes.url.as_ref().map(|url| url.as_str().to_owned()),
        events: changes.events.as_ref().map(store_events),
        description: match &changes.description {
            Patch::Keep => None,
            Patch::Clear => Some(None),
            Patch::Set(text) => Some(Some(text.clone())),
        },
        is_active: changes.is_active,
        updated_at: Ts(now),
    };
    let row: Option<EndpointView> = run!(conn, |c| by_text(
        diesel::update(webhook_endpoints::table.find(Id(id.0)))
            .set(&set)
            .returning(EndpointView::as_returning())
    )
    .get_result(c)
    .await
    .optional())?;
    row.map(Webhook::try_from).transpose()
}

/// Deletes the endpoint and its deliveries; whether it existed.
pub async fn delete_endpoint(conn: &mut Conn, id: WebhookId) -> Result<bool> {
    let deleted = run!(conn, |c| {
        diesel::delete(
            webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(Id(id.0))),
        )
        .execute(c)
        .await?;
        diesel::delete(webhook_endpoints::table.find(Id(id.0)))
            .execute(c)
            .await
    })?;
    Ok(deleted == 1)
}

/// An active endpoint as the outbox keeps it.
#[derive(Debug, Clone)]
pub struct Subscription {
    id: Id,
    /// As stored: a delivery is queued for it only while the row still holds this text.
    events: String,
    /// The audit kinds it receives, as bits.
    mask: u32,
}

/// The active endpoints and what they receive.
pub async fn subscriptions(conn: &mut Conn) -> Result<Vec<Subscription>> {
    let stored: Vec<(Id, String)> = run!(conn, |c| webhook_endpoints::table
        .filter(webhook_endpoints::is_active)
        .select((webhook_endpoints::id, webhook_endpoints::events))
        .load(c)
        .await)?;
    stored
        .into_iter()
        .map(|(id, events)| {
            let mask = parse_events(&events)?.mask();
            Ok(Subscription { id, events, mask })
        })
        .collect()
}

/// Queues `event` for every active endpoint subscribed to its type; part of the caller's
/// transaction (see the module doc). `subject` is the event's subject user as the
/// transaction left it, when the caller has it (read otherwise). The worker is handed the
/// deliveries once the transaction commits.
///
/// The endpoints come from the outbox: one `INSERT … SELECT` each, which writes the row only
/// while the endpoint is active and still receives what the outbox read. Should one have
/// changed since (on another instance, within the last poll), the endpoints are read afresh
/// for what was not queued.
pub async fn enqueue(conn: &mut Conn, event: &AuditEvent, subject: Option<&User>) -> Result<()> {
    if !conn.1.outbox.wants(event.kind) {
        return Ok(());
    }
    let read;
    let subject = match (subject, event.subject_id) {
        (Some(user), _) => Some(user),
        (None, Some(id)) => {
            read = super::users::find(conn, id).await?;
            read.as_ref()
        }
        (None, None) => None,
    };
    let payload = webhook_payload(event, subject).to_string();
    let lease = conn.1.outbox.lease();
    let bit = event.kind.bit();
    let mut queued: Vec<Id> = Vec::new();
    let mut stale = false;
    for endpoint in conn.1.outbox.endpoints().iter() {
        if endpoint.mask & bit == 0 {
            continue;
        }
        match queue(conn, endpoint, event, &payload, lease.as_ref()).await? {
            Some(id) => {
                queued.push(endpoint.id);
                conn.1.queued.push(id);
            }
            None => stale = true,
        }
    }
    if stale {
        for endpoint in subscriptions(conn).await? {
            if endpoint.mask & bit == 0 || queued.contains(&endpoint.id) {
                continue;
            }
            if let Some(id) = queue(conn, &endpoint, event, &payload, lease.as_ref()).await? {
                conn.1.queued.push(id);
            }
        }
    }
    Ok(())
}

/// `INSERT … SELECT` of a pending delivery of `event` to `endpoint`, written only while the
/// endpoint is active and its `events` are as the outbox read them, and under `lease` when
/// there is one; its id when written.
async fn queue(
    conn: &mut Conn,
    endpoint: &Subscription,
    event: &AuditEvent,
    payload: &str,
    lease: Option<&Lease>,
) -> Result<Option<DeliveryId>> {
    let id = DeliveryId::new();
    let (at, pending) = (Ts(event.at), DeliveryStatus::Pending.as_str());
    let holder = lease.map(|lease| &*lease.holder);
    let leased_until = lease.map(|lease| Ts(event.at + lease.length));
    let written = run!(conn, |c| {
        let values = webhook_endpoints::table
            .filter(webhook_endpoints::id.eq(endpoint.id))
            .filter(webhook_endpoints::is_active)
            .filter(webhook_endpoints::events.eq(endpoint.events.as_str()))
            .select((
                Id(id.0).into_sql::<PortableUuid>(),
                webhook_endpoints::id,
                Id(event.id.0).into_sql::<PortableUuid>(),
                event.kind.as_str().into_sql::<Text>(),
                payload.into_sql::<Text>(),
                pending.into_sql::<Text>(),
                0.into_sql::<Integer>(),
                at.into_sql::<Nullable<PortableTimestamp>>(),
                leased_until.into_sql::<Nullable<PortableTimestamp>>(),
                holder.into_sql::<Nullable<Text>>(),
                at.into_sql::<PortableTimestamp>(),
            ));
        by_text(
            diesel::insert_into(webhook_deliveries::table)
                .values(values)
                .into_columns((
                    webhook_deliveries::id,
                    webhook_deliveries::endpoint_id,
                    webhook_deliveries::event_id,
                    webhook_deliveries::type_,
                    webhook_deliveries::payload,
                    webhook_deliveries::status,
                    webhook_deliveries::attempts,
                    webhook_deliveries::next_attempt_at,
                    webhook_deliveries::locked_until,
                    webhook_deliveries::locked_by,
                    webhook_deliveries::created_at,
                )),
        )
        .execute(c)
        .await
    })?;
    Ok((written != 0).then_some(id))
}

/// An endpoint's deliveries, newest first.
pub async fn list_deliveries(
    conn: &mut Conn,
    endpoint: WebhookId,
    page: PageRequest,
) -> Result<Page<Delivery>> {
    let id = Id(endpoint.0);
    let (rows, total): (Vec<DeliveryRow>, i64) = run!(conn, |c| {
        let rows = webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(id))
            .order((
                webhook_deliveries::created_at.desc(),
                webhook_deliveries::id.desc(),
            ))
            .limit(page.limit)
            .offset(page.offset)
            .select(DeliveryRow::as_select())
            .load(c)
            .await?;
        let total = webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(id))
            .count()
            .get_result(c)
            .await?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(Delivery::try_from)
            .collect::<Result<_>>()?,
        total,
        request: page,
    })
}

/// Which deliveries a claim considers.
#[derive(Debug, Clone, Copy)]
pub enum Due<'a> {
    /// Those the due index lists, oldest first, up to a number.
    Any(i64),
    /// These (committed on this instance, most of them leased to its worker as they were
    /// queued), by primary key.
    Only(&'a [DeliveryId]),
}

/// Takes due deliveries of active endpoints for `holder` until `lease_until`, and returns
/// what their attempts need. Of [`Due::Only`]'s, those already leased to `holder` with at
/// least half a lease left are taken as they are, with one read. The others are claimed
/// with one conditional update of those unclaimed, lapsed or `holder`'s already (a worker
/// runs one turn at a time), so of two instances claiming at once each delivery goes to
/// one.
pub async fn claim(
    conn: &mut Conn,
    holder: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    due: Due<'_>,
) -> Result<Vec<ClaimedDelivery>> {
    // Long enough for an attempt and its record (`service::webhooks::LEASE`).
    let lasting = Ts(now + (lease_until - now) / 2);
    let rows: Vec<(Id, String, String, String, i32, Ts)> = run!(conn, |c| {
        let free = || {
            webhook_deliveries::locked_until
                .is_null()
                .or(webhook_deliveries::locked_until.lt(Ts(now)))
        };
        let (mut rest, rounds): (Vec<Id>, &[bool]) = match due {
            Due::Only(ids) => (ids.iter().map(|id| Id(id.0)).collect(), &[false, true]),
            Due::Any(limit) => {
                let candidates = webhook_deliveries::table
                    .inner_join(webhook_endpoints::table)
                    .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
                    .filter(webhook_deliveries::next_attempt_at.le(Ts(now)))
                    .filter(free())
                    .filter(webhook_endpoints::is_active)
                    .order(webhook_deliveries::next_attempt_at)
                    .limit(limit)
                    .select(webhook_deliveries::id)
                    .load(c)
                    .await?;
                (candidates, &[true])
            }
        };
        // For `Only`, a first round takes what is already `holder`'s; the last round claims
        // the rest and takes what it claimed.
        let mut taken = Vec::new();
        for &claiming in rounds {
            if claiming && !rest.is_empty() {
                let active = webhook_endpoints::table
                    .filter(webhook_endpoints::is_active)
                    .select(webhook_endpoints::id);
                rest = diesel::update(
                    webhook_deliveries::table
                        .filter(webhook_deliveries::id.eq_any(&rest))
                        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
                        .filter(webhook_deliveries::next_attempt_at.le(Ts(now)))
                        .filter(free().or(webhook_deliveries::locked_by.eq(holder)))
                        .filter(webhook_deliveries::endpoint_id.eq_any(active)),
                )
                .set((
                    webhook_deliveries::locked_until.eq(Ts(lease_until)),
                    webhook_deliveries::locked_by.eq(holder),
                ))
                .returning(webhook_deliveries::id)
                .get_results(c)
                .await?;
            }
            if rest.is_empty() {
                break;
            }
            // The secret as stored (sealed); the sender opens it to sign.
            let rows: Vec<(Id, String, String, String, i32, Ts)> = webhook_deliveries::table
                .inner_join(webhook_endpoints::table)
                .filter(webhook_deliveries::id.eq_any(&rest))
                .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
                .filter(webhook_deliveries::locked_by.eq(holder))
                .filter(webhook_deliveries::locked_until.ge(lasting))
                .filter(webhook_endpoints::is_active)
                .select((
                    webhook_deliveries::id,
                    webhook_endpoints::url,
                    webhook_endpoints::secret,
                    webhook_deliveries::payload,
                    webhook_deliveries::attempts,
                    webhook_deliveries::created_at,
                ))
                .load(c)
                .await?;
            rest.retain(|id| !rows.iter().any(|row| row.0 == *id));
            taken.extend(rows);
        }
        Ok::<_, diesel::result::Error>(taken)
    })?;
    Ok(rows
        .into_iter()
        .map(
            |(id, url, secret, payload, attempts, created_at)| ClaimedDelivery {
                id: DeliveryId(id.0),
                url,
                secret,
                payload,
                attempts,
                created_at: created_at.0,
            },
        )
        .collect())
}

/// Frees those of `ids` that are still leased to `holder` and unattempted (its worker
/// stopped before it took them), for any instance to claim at its next poll.
pub async fn release(conn: &mut Conn, holder: &str, ids: &[DeliveryId]) -> Result<()> {
    let ids: Vec<Id> = ids.iter().map(|id| Id(id.0)).collect();
    run!(conn, |c| diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq_any(&ids))
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
            .filter(webhook_deliveries::locked_by.eq(holder))
    )
    .set(webhook_deliveries::locked_until.eq(None::<Ts>))
    .execute(c)
    .await)?;
    Ok(())
}

/// Records an attempt of a delivery that `holder` claimed: delivered, or pending again
/// until `retry_at`, or failed when `retry_at` is `None` (given up).
pub async fn record(
    conn: &mut Conn,
    claimed: &ClaimedDelivery,
    holder: &str,
    outcome: &AttemptOutcome,
    now: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let retry_or_fail = if retry_at.is_some() {
        DeliveryStatus::Pending
    } else {
        DeliveryStatus::Failed
    };
    let (status, code, error) = match outcome {
        AttemptOutcome::Delivered { status } => {
            return record_delivered(conn, &[claimed.id], holder, *status, now).await;
        }
        AttemptOutcome::Refused { status } => {
            (retry_or_fail, Some(*status), format!("answered {status}"))
        }
        AttemptOutcome::Failed { error } => {
            (retry_or_fail, None, error.chars().take(500).collect())
        }
    };
    let next = if status == DeliveryStatus::Pending {
        retry_at.map(Ts)
    } else {
        None
    };
    run!(conn, |c| by_text(
        diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::id.eq(Id(claimed.id.0)))
                .filter(webhook_deliveries::locked_by.eq(holder))
        )
        .set((
            webhook_deliveries::status.eq(status.as_str()),
            webhook_deliveries::attempts.eq(claimed.attempts + 1),
            webhook_deliveries::next_attempt_at.eq(next),
            webhook_deliveries::locked_until.eq(None::<Ts>),
            webhook_deliveries::last_status_code.eq(code.map(i32::from)),
            webhook_deliveries::last_error.eq(Some(error)),
            webhook_deliveries::delivered_at.eq(None::<Ts>),
        ))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Records attempts that `holder` claimed and that were answered `status` (a 2xx): all of
/// them delivered, at `now`, in one statement.
pub async fn record_delivered(
    conn: &mut Conn,
    ids: &[DeliveryId],
    holder: &str,
    status: u16,
    now: DateTime<Utc>,
) -> Result<()> {
    let ids: Vec<Id> = ids.iter().map(|id| Id(id.0)).collect();
    run!(conn, |c| diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq_any(&ids))
            .filter(webhook_deliveries::locked_by.eq(holder))
    )
    .set((
        webhook_deliveries::status.eq(DeliveryStatus::Delivered.as_str()),
        webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
        webhook_deliveries::next_attempt_at.eq(None::<Ts>),
        webhook_deliveries::locked_until.eq(None::<Ts>),
        webhook_deliveries::last_status_code.eq(Some(i32::from(status))),
        webhook_deliveries::last_error.eq(None::<String>),
        webhook_deliveries::delivered_at.eq(Some(Ts(now))),
    ))
    .execute(c)
    .await)?;
    Ok(())
}

/// Every endpoint's stored signing secret (for sealing them again under a new data key).
pub async fn all_secrets(conn: &mut Conn) -> Result<Vec<(WebhookId, String)>> {
    let rows: Vec<(Id, String)> = run!(conn, |c| webhook_endpoints::table
        .select((webhook_endpoints::id, webhook_endpoints::secret))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, secret)| (WebhookId(id.0), secret))
        .collect())
}

/// Replaces an endpoint's stored signing secret by the same secret sealed anew.
pub async fn reseal_secret(conn: &mut Conn, id: WebhookId, secret: &str) -> Result<()> {
    run!(conn, |c| by_text(
        diesel::update(webhook_endpoints::table.find(Id(id.0)))
            .set(webhook_endpoints::secret.eq(secret))
    )
    .execute(c)
    .await)?;
    Ok(())
}
