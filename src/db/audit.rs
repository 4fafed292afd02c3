//! The audit trail: append-only events.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::audit_events;
use super::types::{Id, Ts};
use super::{Conn, run};
use crate::domain::AuditEvent;
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct AuditRow {
    id: Id,
    at: Ts,
    type_: String,
    actor_id: Option<Id>,
    subject_id: Option<Id>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: String,
}

pub async fn insert(conn: &mut Conn, event: &AuditEvent) -> Result<()> {
    let row = AuditRow {
        id: Id(event.id.0),
        at: Ts(event.at),
        type_: event.kind.as_str().to_owned(),
        actor_id: event.actor_id.map(|id| Id(id.0)),
        subject_id: event.subject_id.map(|id| Id(id.0)),
        ip: event.ip.clone(),
        user_agent: event.user_agent.clone(),
        detail: event.detail.to_string(),
    };
    run!(conn, |c| diesel::insert_into(audit_events::table)
        .values(&row)
        .execute(c)
        .await)?;
    Ok(())
}
