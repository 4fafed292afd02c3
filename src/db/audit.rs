//! The audit trail: append-only events.

use diesel::dsl;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::prepared::by_text;
use super::schema::audit_events;
use super::types::{Id, Ts};
use super::{Conn, run};
use crate::domain::{AuditEvent, AuditEventId, AuditKind, Page, PageRequest, UserId};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(super) struct AuditRow {
    id: Id,
    at: Ts,
    type_: String,
    actor_id: Option<Id>,
    subject_id: Option<Id>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: String,
}

/// Appends `event`, and queues it for the webhooks subscribed to its type (same
/// transaction: see `webhooks::enqueue`).
pub async fn insert(conn: &mut Conn, event: &AuditEvent) -> Result<()> {
    let row = AuditRow::from(event);
    run!(conn, |c| insert_statement(&row).execute(c).await)?;
    super::webhooks::enqueue(conn, event).await
}

/// The statement that `insert` executes.
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn insert_statement<'a>(row: &'a AuditRow) -> _ {
    by_text(dsl::insert_into(audit_events::table).values(row))
}

impl From<&AuditEvent> for AuditRow {
    fn from(event: &AuditEvent) -> Self {
        Self {
            id: Id(event.id.0),
            at: Ts(event.at),
            type_: event.kind.as_str().to_owned(),
            actor_id: event.actor_id.map(|id| Id(id.0)),
            subject_id: event.subject_id.map(|id| Id(id.0)),
            ip: event.ip.clone(),
            user_agent: event.user_agent.clone(),
            detail: event.detail.to_string(),
        }
    }
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = Error;

    fn try_from(row: AuditRow) -> Result<Self> {
        let kind = AuditKind::parse(&row.type_).ok_or_else(|| {
            Error::internal(anyhow::anyhow!("unknown audit event type {:?}", row.type_))
        })?;
        Ok(AuditEvent {
            id: AuditEventId(row.id.0),
            at: row.at.0,
            kind,
            actor_id: row.actor_id.map(|id| UserId(id.0)),
            subject_id: row.subject_id.map(|id| UserId(id.0)),
            ip: row.ip,
            user_agent: row.user_agent,
            detail: serde_json::from_str(&row.detail).unwrap_or_else(|_| serde_json::json!({})),
        })
    }
}

/// Events newest first; `user` matches actor or subject.
pub async fn list(
    conn: &mut Conn,
    user: Option<UserId>,
    kind: Option<AuditKind>,
    page: PageRequest,
) -> Result<Page<AuditEvent>> {
    let (rows, total): (Vec<AuditRow>, i64) = run!(conn, |c| {
        let rows = filtered(user, kind)
            .order((audit_events::at.desc(), audit_events::id.desc()))
            .limit(page.limit)
            .offset(page.offset)
            .select(AuditRow::as_select())
            .load(c)
            .await?;
        let total = filtered(user, kind).count().get_result(c).await?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    let items = rows
        .into_iter()
        .map(AuditEvent::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total,
        request: page,
    })
}

/// The events that `list` selects: `user` as actor or subject, of `kind`.
fn filtered<'a, DB>(
    user: Option<UserId>,
    kind: Option<AuditKind>,
) -> audit_events::BoxedQuery<'a, DB>
where
    DB: diesel::backend::Backend,
    audit_events::table:
        diesel::query_dsl::methods::BoxedDsl<'a, DB, Output = audit_events::BoxedQuery<'a, DB>>,
    audit_events::BoxedQuery<'a, DB>: super::query::Filters<
            dsl::Or<dsl::Eq<audit_events::actor_id, Id>, dsl::Eq<audit_events::subject_id, Id>>,
        > + super::query::Filters<dsl::Eq<audit_events::type_, &'static str>>,
{
    let mut query = audit_events::table.into_boxed();
    if let Some(user) = user {
        let id = Id(user.0);
        query = query.filter(
            audit_events::actor_id
                .eq(id)
                .or(audit_events::subject_id.eq(id)),
        );
    }
    if let Some(kind) = kind {
        query = query.filter(audit_events::type_.eq(kind.as_str()));
    }
    query
}
