//! `/api/v1/tasks`: the caller's own tasks.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::{Fields, Page, nullable, page_request, vouched};
use super::extract::{ApiJson, ApiQuery};
use crate::domain::{self, TaskDescription, TaskId, TaskTitle};
use crate::error::{Error, Problem};
use crate::service::Context;
use crate::service::auth::Principal;
use crate::service::tasks;

/// A task.
#[derive(Debug, Serialize, ToSchema)]
pub struct Task {
    pub id: TaskId,
    pub title: String,
    pub description: Option<String>,
    pub done: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<domain::Task> for Task {
    fn from(t: domain::Task) -> Self {
        Self {
            id: t.id,
            title: t.title,
            description: t.description,
            done: t.done,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Write the notes on the Analytical Engine",
    "description": "Note G: Bernoulli numbers",
    "done": false
}))]
pub struct CreateTaskRequest {
    /// 1–200 characters.
    pub title: String,
    /// At most 10,000 characters.
    pub description: Option<String>,
    #[serde(default)]
    pub done: bool,
}

/// Create a task.
#[utoipa::path(
    tag = "tasks",
    security(("bearer" = [])),
    request_body = CreateTaskRequest,
    responses(
        (status = 201, description = "Created", body = Task, headers(("Location" = String, description = "/api/v1/tasks/{id}"))),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/tasks")]
pub async fn create_task(
    ctx: web::Data<Context>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateTaskRequest>,
) -> Result<HttpResponse, Error> {
    let mut fields = Fields::default();
    let title = fields.take(TaskTitle::parse("title", &body.title));
    let description = fields.take_opt(body.description.as_deref(), |v| {
        TaskDescription::parse("description", v)
    });
    fields.finish()?;
    let task = tasks::create(&ctx, &principal, vouched(title)?, description, body.done).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/tasks/{}", task.id)))
        .json(Task::from(task)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTasksQuery {
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Default 0.
    pub offset: Option<i64>,
    /// Only done (`true`) or open (`false`) tasks.
    pub done: Option<bool>,
}

/// The signed-in user's tasks, newest first.
#[utoipa::path(
    tag = "tasks",
    security(("bearer" = [])),
    params(ListTasksQuery),
    responses(
        (status = 200, description = "OK", body = Page<Task>),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: limit or offset out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/tasks")]
pub async fn list_tasks(
    ctx: web::Data<Context>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListTasksQuery>,
) -> Result<web::Json<Page<Task>>, Error> {
    let page = page_request(query.limit, query.offset)?;
    let found = tasks::list(&ctx, &principal, query.done, page).await?;
    Ok(web::Json(Page::from_domain(found, Task::from)))
}

/// One of the signed-in user's tasks.
#[utoipa::path(
    tag = "tasks",
    security(("bearer" = [])),
    params(("id" = TaskId, Path)),
    responses(
        (status = 200, description = "OK", body = Task),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found` (also for another user's task)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/tasks/{id}")]
pub async fn get_task(
    ctx: web::Data<Context>,
    principal: Principal,
    id: web::Path<TaskId>,
) -> Result<web::Json<Task>, Error> {
    Ok(web::Json(
        tasks::get(&ctx, &principal, id.into_inner()).await?.into(),
    ))
}

/// Changes to a task; `description: null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"done": true}))]
pub struct UpdateTaskRequest {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub done: Option<bool>,
}

/// Change one of the signed-in user's tasks.
#[utoipa::path(
    tag = "tasks",
    security(("bearer" = [])),
    params(("id" = TaskId, Path)),
    request_body = UpdateTaskRequest,
    responses(
        (status = 200, description = "OK", body = Task),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found` (also for another user's task)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/tasks/{id}")]
pub async fn update_task(
    ctx: web::Data<Context>,
    principal: Principal,
    id: web::Path<TaskId>,
    ApiJson(body): ApiJson<UpdateTaskRequest>,
) -> Result<web::Json<Task>, Error> {
    let mut fields = Fields::default();
    let title = fields.take_opt(body.title.as_deref(), |v| TaskTitle::parse("title", v));
    let description = fields.patch(body.description, |v| {
        TaskDescription::parse("description", v)
    });
    fields.finish()?;
    let task = tasks::update(
        &ctx,
        &principal,
        id.into_inner(),
        title,
        description,
        body.done,
    )
    .await?;
    Ok(web::Json(task.into()))
}

/// Delete one of the signed-in user's tasks.
#[utoipa::path(
    tag = "tasks",
    security(("bearer" = [])),
    params(("id" = TaskId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found` (also for another user's task)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/tasks/{id}")]
pub async fn delete_task(
    ctx: web::Data<Context>,
    principal: Principal,
    id: web::Path<TaskId>,
) -> Result<HttpResponse, Error> {
    tasks::delete(&ctx, &principal, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
