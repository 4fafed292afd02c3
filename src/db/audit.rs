//! The audit trail: append-only events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::dsl;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{QueryFragment, QueryId};
use diesel::sqlite::Sqlite;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::prepared::{ByText, by_text};
use super::schema::{audit_event_counts, audit_events};
use super::types::{Id, Ts};
use super::{Conn, run};
use crate::domain::{AuditEvent, AuditEventId, AuditKind, Page, PageRequest, User, UserId};
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

/// Appends `event`, counts it, and queues it for the webhooks subscribed to its type. Only
/// inside a transaction ([`super::Db::transaction`]): the event, its count and its
/// deliveries commit together or not at all.
pub async fn insert(conn: &mut Conn, event: &AuditEvent) -> Result<()> {
    insert_about(conn, event, None).await
}

/// [`insert`] of an event whose subject user the caller holds as the transaction left it
/// (so a webhook's payload needs no read of it).
pub async fn insert_about(
    conn: &mut Conn,
    event: &AuditEvent,
    subject: Option<&User>,
) -> Result<()> {
    let row = AuditRow::from(event);
    run!(conn, |c| insert_statement(&row).execute(c).await)?;
    conn.1.counts.push(Counted::one(&row));
    super::webhooks::enqueue(conn, event, subject).await
}

/// The statement that writes the event row of [`insert`].
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn insert_statement<'a>(row: &'a AuditRow) -> _ {
    by_text(dsl::insert_into(audit_events::table).values(row))
}

/// Shards per type in `audit_event_counts`: concurrent writers of one type (sign-ins) add to
/// eight rows, not one, so they seldom wait for each other's row lock on PostgreSQL.
const SHARDS: u8 = 8;

/// `events` added to a type's count in one shard (negative when retention deletes).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_event_counts)]
pub(super) struct Counted {
    type_: String,
    shard: i16,
    events: i64,
}

impl Counted {
    /// The count of `row`'s event: one more of its type, in a shard its random id picks.
    pub(super) fn one(row: &AuditRow) -> Self {
        let last = row.id.0.as_bytes()[15];
        Self {
            type_: row.type_.clone(),
            shard: i16::from(last % SHARDS),
            events: 1,
        }
    }

    /// `events` more (or fewer) of `type_`, in the shard that bulk changes use.
    fn bulk(type_: String, events: i64) -> Self {
        Self {
            type_,
            shard: 0,
            events,
        }
    }
}

/// Writes the counts that the unit of work on `conn` changed, right before it commits (see
/// `Db::guarded`): all together, in the order of (type, shard). On PostgreSQL a count's
/// row stays locked until the commit, so every transaction takes those locks last and in
/// one order, and two that count several types cannot deadlock on them; holding them for
/// the commit alone also keeps concurrent sign-ins from queuing behind each other's work.
pub(super) async fn write_counts(conn: &mut Conn) -> Result<()> {
    if conn.1.counts.is_empty() {
        return Ok(());
    }
    let counts = super::merged(
        std::mem::take(&mut conn.1.counts),
        |a, b| (&a.type_, a.shard).cmp(&(&b.type_, b.shard)),
        |c| &mut c.events,
    );
    for counted in &counts {
        run!(conn, |c| count_statement(counted).execute(c).await)?;
    }
    Ok(())
}

/// Adds `counted` to its type's shard: an upsert that PostgreSQL, SQLite and the
/// PostgreSQL-compatible distributed engines all run. (`auto_type` cannot name an upsert's
/// type, hence the `impl`.)
fn count_statement(
    counted: &Counted,
) -> ByText<impl QueryFragment<Pg> + QueryFragment<Sqlite> + QueryId + Send + '_> {
    by_text(
        dsl::insert_into(audit_event_counts::table)
            .values(counted)
            .on_conflict((audit_event_counts::type_, audit_event_counts::shard))
            .do_update()
            .set(
                audit_event_counts::events
                    .eq(audit_event_counts::events + excluded(audit_event_counts::events)),
            ),
    )
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
        // One person's events are few and indexed: counted. All events, or all of a type,
        // are millions: summed from the counts instead.
        let total = if user.is_some() {
            filtered(user, kind).count().get_result(c).await?
        } else {
            let mut counts = audit_event_counts::table
                .select(audit_event_counts::events)
                .into_boxed();
            if let Some(kind) = kind {
                counts = counts.filter(audit_event_counts::type_.eq(kind.as_str()));
            }
            counts.load::<i64>(c).await?.into_iter().sum()
        };
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

/// Deletes up to `batch` events older than `cutoff` and takes them off their types' counts.
/// Only inside a transaction, so that the rows and their counts go together.
pub async fn delete_older_than(
    conn: &mut Conn,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<usize> {
    let types: Vec<String> = run!(conn, |c| {
        let ids: Vec<Id> = audit_events::table
            .select(audit_events::id)
            .filter(audit_events::at.lt(Ts(cutoff)))
            .limit(batch)
            .load(c)
            .await?;
        diesel::delete(audit_events::table.filter(audit_events::id.eq_any(ids)))
            .returning(audit_events::type_)
            .get_results(c)
            .await
    })?;
    let deleted = types.len();
    conn.1
        .counts
        .extend(types.into_iter().map(|type_| Counted::bulk(type_, -1)));
    Ok(deleted)
}

/// What the counts are short of (or over) the events, per type; only types that differ.
/// One statement, so the counting and the reading of the counts see one snapshot, and
/// what commits afterwards changes both sides alike: adding (never setting) the difference
/// with [`add_to_counts`] makes the counts right, whatever was written in between. Only an
/// instance older than the counts (during an upgrade) writes events it does not count.
/// Reads every event (an index-only scan of the type index on PostgreSQL): outside any
/// transaction, which on SQLite would hold the write lock all along.
pub async fn uncounted(conn: &mut Conn) -> Result<BTreeMap<String, i64>> {
    #[derive(QueryableByName)]
    struct Drift {
        #[diesel(sql_type = diesel::sql_types::Text)]
        type_: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        missing: i64,
    }
    let drifts: Vec<Drift> = run!(conn, |c| {
        diesel::sql_query(
            "SELECT type AS type_, CAST(SUM(n) AS BIGINT) AS missing FROM ( \
               SELECT type, COUNT(*) AS n FROM audit_events GROUP BY type \
               UNION ALL \
               SELECT type, -SUM(events) AS n FROM audit_event_counts GROUP BY type \
             ) d GROUP BY type HAVING SUM(n) <> 0",
        )
        .load(c)
        .await
    })?;
    Ok(drifts.into_iter().map(|d| (d.type_, d.missing)).collect())
}

/// Adds `per_type`'s numbers to the types' counts (in the shard bulk changes use), when the
/// unit of work on `conn` commits.
pub fn add_to_counts(conn: &mut Conn, per_type: BTreeMap<String, i64>) {
    conn.1.counts.extend(
        per_type
            .into_iter()
            .map(|(type_, events)| Counted::bulk(type_, events)),
    );
}
