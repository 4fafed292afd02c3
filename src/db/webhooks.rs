//! Webhook endpoints and the outbox of their deliveries.
//!
//! An audit event written in a transaction (`audit::insert`) queues a delivery for each
//! active endpoint subscribed to its type, in the same transaction ([`enqueue`]). Whether
//! any endpoint wants a type is answered from memory first ([`Outbox`]), so a change nobody
//! subscribed to costs no query. Deliveries are claimed for one attempt with a lease
//! ([`claim`]): a conditional update that sets `locked_until`, so instances never attempt
//! the same delivery at the same time, and a crashed instance's claims lapse.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::prepared::by_text;
use super::schema::{webhook_deliveries, webhook_endpoints};
use super::types::{Id, Ts};
use super::{Conn, run};
use crate::domain::{
    AttemptOutcome, AuditEvent, AuditEventId, AuditKind, ClaimedDelivery, Delivery, DeliveryId,
    DeliveryStatus, EventFilter, Page, PageRequest, Webhook, WebhookChanges, WebhookId,
    webhook_payload,
};
use crate::error::{Error, Result};

/// This instance's view of the subscriptions, and the bell of its delivery worker.
#[derive(Debug, Default)]
pub struct Outbox {
    /// The audit kinds some active endpoint receives, as bits (`AuditKind::bit`). Set from
    /// the database when endpoints change here and at every turn of the worker, so a change
    /// made on another instance is seen within a second.
    subscribed: AtomicU32,
    wake: tokio::sync::Notify,
}

impl Outbox {
    pub fn wants(&self, kind: AuditKind) -> bool {
        AtomicU32::load(&self.subscribed, Ordering::Relaxed) & kind.bit() != 0
    }

    pub fn set_subscribed(&self, mask: u32) {
        self.subscribed.store(mask, Ordering::Relaxed);
    }

    /// Rings the worker: deliveries were committed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits for [`Outbox::wake`].
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

/// The audit kinds that some active endpoint receives, as bits.
pub async fn subscribed_mask(conn: &mut Conn) -> Result<u32> {
    let stored: Vec<String> = run!(conn, |c| webhook_endpoints::table
        .filter(webhook_endpoints::is_active)
        .select(webhook_endpoints::events)
        .load(c)
        .await)?;
    stored
        .iter()
        .try_fold(0, |mask, events| Ok(mask | parse_events(events)?.mask()))
}

/// Queues `event` for every active endpoint subscribed to its type; part of the caller's
/// transaction (see the module doc). The worker is woken once the transaction commits.
pub async fn enqueue(conn: &mut Conn, event: &AuditEvent) -> Result<()> {
    if !conn.1.outbox.wants(event.kind) {
        return Ok(());
    }
    let endpoints: Vec<(Id, String)> = run!(conn, |c| webhook_endpoints::table
        .filter(webhook_endpoints::is_active)
        .select((webhook_endpoints::id, webhook_endpoints::events))
        .load(c)
        .await)?;
    let mut targets = Vec::new();
    for (id, events) in endpoints {
        if parse_events(&events)?.matches(event.kind) {
            targets.push(id);
        }
    }
    if targets.is_empty() {
        return Ok(());
    }
    let subject = match event.subject_id {
        Some(id) => super::users::find(conn, id).await?,
        None => None,
    };
    let payload = webhook_payload(event, subject.as_ref()).to_string();
    let rows: Vec<DeliveryRow> = targets
        .into_iter()
        .map(|endpoint_id| DeliveryRow {
            id: Id(DeliveryId::new().0),
            endpoint_id,
            event_id: Id(event.id.0),
            type_: event.kind.as_str().to_owned(),
            payload: payload.clone(),
            status: DeliveryStatus::Pending.as_str().to_owned(),
            attempts: 0,
            next_attempt_at: Some(Ts(event.at)),
            locked_until: None,
            locked_by: None,
            last_status_code: None,
            last_error: None,
            created_at: Ts(event.at),
            delivered_at: None,
        })
        .collect();
    // One statement a row: SQLite cannot batch rows with `NULL` columns in diesel (and
    // an event rarely has more than a few endpoints).
    for row in &rows {
        run!(conn, |c| by_text(
            diesel::insert_into(webhook_deliveries::table).values(row)
        )
        .execute(c)
        .await)?;
    }
    conn.1.queued = true;
    Ok(())
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

/// Claims up to `limit` due deliveries of active endpoints for `holder` until `lease_until`:
/// reads candidates, then takes those still unclaimed in one conditional update, so of two
/// instances claiming at once each delivery goes to one. Returns what the attempts need.
pub async fn claim(
    conn: &mut Conn,
    holder: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ClaimedDelivery>> {
    let rows: Vec<(Id, String, String, String, i32, Ts)> = run!(conn, |c| {
        let free = || {
            webhook_deliveries::locked_until
                .is_null()
                .or(webhook_deliveries::locked_until.lt(Ts(now)))
        };
        let candidates: Vec<Id> = webhook_deliveries::table
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
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let claimed: Vec<Id> = diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::id.eq_any(&candidates))
                .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
                .filter(free()),
        )
        .set((
            webhook_deliveries::locked_until.eq(Ts(lease_until)),
            webhook_deliveries::locked_by.eq(holder),
        ))
        .returning(webhook_deliveries::id)
        .get_results(c)
        .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        // The secret as stored (sealed); the sender opens it to sign.
        webhook_deliveries::table
            .inner_join(webhook_endpoints::table)
            .filter(webhook_deliveries::id.eq_any(&claimed))
            .select((
                webhook_deliveries::id,
                webhook_endpoints::url,
                webhook_endpoints::secret,
                webhook_deliveries::payload,
                webhook_deliveries::attempts,
                webhook_deliveries::created_at,
            ))
            .load(c)
            .await
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
    let (status, code, error) = match outcome {
        AttemptOutcome::Delivered { status } => (DeliveryStatus::Delivered, Some(*status), None),
        AttemptOutcome::Refused { status } => (
            if retry_at.is_some() {
                DeliveryStatus::Pending
            } else {
                DeliveryStatus::Failed
            },
            Some(*status),
            Some(format!("answered {status}")),
        ),
        AttemptOutcome::Failed { error } => (
            if retry_at.is_some() {
                DeliveryStatus::Pending
            } else {
                DeliveryStatus::Failed
            },
            None,
            Some(error.chars().take(500).collect::<String>()),
        ),
    };
    let delivered = status == DeliveryStatus::Delivered;
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
            webhook_deliveries::last_error.eq(error),
            webhook_deliveries::delivered_at.eq(delivered.then_some(Ts(now))),
        ))
    )
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
