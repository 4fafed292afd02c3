//! Tasks, always scoped to their owner: a query never reaches another user's rows.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::prepared::{by_text, paged};
use super::schema::tasks;
use super::types::{Id, Ts};
use super::{Conn, ConnInner, run};
use crate::domain::{Page, PageRequest, Task, TaskChange, TaskId, UserId};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tasks, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct TaskRow {
    id: Id,
    user_id: Id,
    title: String,
    description: Option<String>,
    done: bool,
    created_at: Ts,
    updated_at: Ts,
}

impl From<TaskRow> for Task {
    fn from(r: TaskRow) -> Self {
        Self {
            id: TaskId(r.id.0),
            user_id: UserId(r.user_id.0),
            title: r.title,
            description: r.description,
            done: r.done,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }
}

/// A task update as Diesel writes it (`None` leaves a column as it is).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = tasks)]
struct TaskChanges {
    title: Option<String>,
    description: Option<Option<String>>,
    done: Option<bool>,
    updated_at: Option<Ts>,
}

impl TaskChanges {
    fn new(change: &TaskChange, at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            title: change.title.clone(),
            description: change.description.clone(),
            done: change.done,
            updated_at: Some(Ts(at)),
        }
    }
}

pub async fn insert(conn: &mut Conn, task: &Task) -> Result<()> {
    let row = TaskRow {
        id: Id(task.id.0),
        user_id: Id(task.user_id.0),
        title: task.title.clone(),
        description: task.description.clone(),
        done: task.done,
        created_at: Ts(task.created_at),
        updated_at: Ts(task.updated_at),
    };
    run!(conn, |c| by_text(
        diesel::insert_into(tasks::table).values(&row)
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// The owner's tasks, newest first, optionally only done or open ones.
pub async fn list(
    conn: &mut Conn,
    owner: UserId,
    done: Option<bool>,
    page: PageRequest,
) -> Result<Page<Task>> {
    // Boxed, so prepared once per SQL text (`by_text`) rather than at every call. On
    // SQLite through diesel's own connection, on the calling thread: each row is decoded
    // in place instead of copied first (see `sessions::find_many_with_user`).
    let (rows, total): (Vec<TaskRow>, i64) = match &mut conn.0 {
        ConnInner::Pg(c) => {
            let c = &mut **c;
            let rows = by_text(paged(
                newest_first(owner, done).select(TaskRow::as_select()),
                page,
            ))
            .load(c)
            .await?;
            let total = by_text(owned(owner, done).count()).get_result(c).await?;
            (rows, total)
        }
        ConnInner::Sqlite(c) => {
            c.spawn_blocking(move |c| {
                let rows = diesel::RunQueryDsl::load(
                    by_text(paged(
                        newest_first(owner, done).select(TaskRow::as_select()),
                        page,
                    )),
                    c,
                )?;
                let total =
                    diesel::RunQueryDsl::get_result(by_text(owned(owner, done).count()), c)?;
                Ok((rows, total))
            })
            .await?
        }
    };
    Ok(Page {
        items: rows.into_iter().map(Task::from).collect(),
        total,
        request: page,
    })
}

/// The tasks that `list` shows, newest first.
fn newest_first<'a, DB>(owner: UserId, done: Option<bool>) -> tasks::BoxedQuery<'a, DB>
where
    DB: diesel::backend::Backend,
    tasks::table: diesel::query_dsl::methods::BoxedDsl<'a, DB, Output = tasks::BoxedQuery<'a, DB>>,
    tasks::BoxedQuery<'a, DB>: super::query::Filters<diesel::dsl::Eq<tasks::user_id, Id>>
        + super::query::Filters<diesel::dsl::Eq<tasks::done, bool>>
        + diesel::query_dsl::methods::OrderDsl<
            (
                diesel::dsl::Desc<tasks::created_at>,
                diesel::dsl::Desc<tasks::id>,
            ),
            Output = tasks::BoxedQuery<'a, DB>,
        >,
{
    owned(owner, done).order((tasks::created_at.desc(), tasks::id.desc()))
}

/// The tasks that `list` selects: the owner's, optionally only done or open ones.
fn owned<'a, DB>(owner: UserId, done: Option<bool>) -> tasks::BoxedQuery<'a, DB>
where
    DB: diesel::backend::Backend,
    tasks::table: diesel::query_dsl::methods::BoxedDsl<'a, DB, Output = tasks::BoxedQuery<'a, DB>>,
    tasks::BoxedQuery<'a, DB>: super::query::Filters<diesel::dsl::Eq<tasks::user_id, Id>>
        + super::query::Filters<diesel::dsl::Eq<tasks::done, bool>>,
{
    let mut query = tasks::table
        .into_boxed()
        .filter(tasks::user_id.eq(Id(owner.0)));
    if let Some(done) = done {
        query = query.filter(tasks::done.eq(done));
    }
    query
}

pub async fn find(conn: &mut Conn, owner: UserId, id: TaskId) -> Result<Option<Task>> {
    let row: Option<TaskRow> = run!(conn, |c| tasks::table
        .filter(tasks::id.eq(Id(id.0)))
        .filter(tasks::user_id.eq(Id(owner.0)))
        .select(TaskRow::as_select())
        .get_result(c)
        .await
        .optional())?;
    Ok(row.map(Task::from))
}

/// Applies `changes` to the owner's task; returns the task as it now is.
/// Applies `change` to the task `id` of `owner` at `at`; `None` when there is no such task.
pub async fn update(
    conn: &mut Conn,
    owner: UserId,
    id: TaskId,
    change: &TaskChange,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Task>> {
    let changes = &TaskChanges::new(change, at);
    let changed = run!(conn, |c| by_text(
        diesel::update(
            tasks::table
                .filter(tasks::id.eq(Id(id.0)))
                .filter(tasks::user_id.eq(Id(owner.0)))
        )
        .set(changes)
    )
    .execute(c)
    .await)?;
    if changed == 0 {
        return Ok(None);
    }
    find(conn, owner, id).await
}

pub async fn delete(conn: &mut Conn, owner: UserId, id: TaskId) -> Result<bool> {
    let deleted = run!(conn, |c| diesel::delete(
        tasks::table
            .filter(tasks::id.eq(Id(id.0)))
            .filter(tasks::user_id.eq(Id(owner.0)))
    )
    .execute(c)
    .await)?;
    Ok(deleted > 0)
}

pub async fn delete_all(conn: &mut Conn, owner: UserId) -> Result<()> {
    run!(conn, |c| diesel::delete(
        tasks::table.filter(tasks::user_id.eq(Id(owner.0)))
    )
    .execute(c)
    .await)?;
    Ok(())
}
