//! Tasks: owner-scoped; another user's task does not exist for you (404).

use super::Context;
use super::auth::{self, Principal};
use crate::clock;
use crate::db;
use crate::domain::{
    Page, PageRequest, Patch, Task, TaskChange, TaskDescription, TaskId, TaskTitle,
};
use crate::error::{Error, Result};

pub async fn create(
    ctx: &Context,
    owner: &Principal,
    title: TaskTitle,
    description: Option<TaskDescription>,
    done: bool,
) -> Result<Task> {
    let now = clock::now();
    let task = Task {
        id: TaskId::new(),
        user_id: owner.user.id,
        title: title.into_inner(),
        description: description.map(TaskDescription::into_inner),
        done,
        created_at: now,
        updated_at: now,
    };
    let stored = task.clone();
    db::with_conn!(ctx.db, |c| { db::tasks::insert(c, &stored).await }).await?;
    Ok(task)
}

pub async fn list(
    ctx: &Context,
    owner: &Principal,
    done: Option<bool>,
    page: PageRequest,
) -> Result<Page<Task>> {
    let owner = owner.user.id;
    db::short_read!(ctx.db, |c| { db::tasks::list(c, owner, done, page).await }).await
}

/// [`list`] for the web console's cookie session: the session check and the page of tasks in
/// one trip to the database (the dashboard's every view), `SessionRevoked` when the cookie
/// names no live session.
pub async fn list_by_cookie(
    ctx: &Context,
    token: &str,
    done: Option<bool>,
    page: PageRequest,
) -> Result<(Principal, Page<Task>)> {
    let hash = auth::cookie_hash(token);
    db::short_read!(ctx.db, |c| {
        let owner = auth::cookie_principal(db::sessions::find_by_cookie(c, &hash).await?)?;
        let found = db::tasks::list(c, owner.user.id, done, page).await?;
        Ok((owner, found))
    })
    .await
}

pub async fn get(ctx: &Context, owner: &Principal, id: TaskId) -> Result<Task> {
    let owner = owner.user.id;
    db::with_conn!(ctx.db, |c| { db::tasks::find(c, owner, id).await })
        .await?
        .ok_or(Error::NotFound)
}

pub async fn update(
    ctx: &Context,
    owner: &Principal,
    id: TaskId,
    title: Option<TaskTitle>,
    description: Patch<TaskDescription>,
    done: Option<bool>,
) -> Result<Task> {
    let change = TaskChange {
        title: title.map(TaskTitle::into_inner),
        description: description.map(TaskDescription::into_inner).into_option(),
        done,
    };
    let now = clock::now();
    let owner = owner.user.id;
    db::with_conn!(ctx.db, |c| {
        db::tasks::update(c, owner, id, &change, now).await
    })
    .await?
    .ok_or(Error::NotFound)
}

pub async fn delete(ctx: &Context, owner: &Principal, id: TaskId) -> Result<()> {
    let owner = owner.user.id;
    if !db::with_conn!(ctx.db, |c| { db::tasks::delete(c, owner, id).await }).await? {
        return Err(Error::NotFound);
    }
    Ok(())
}
