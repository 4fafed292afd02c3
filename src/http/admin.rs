//! `/api/v1/admin`: staff user management and the audit trail. Each handler's first
//! argument is the policy gate of its action (`MayListUsers`, …); the service asks the
//! policy again with the target.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::{Fields, Page, Session, User, nullable, page_request};
use super::extract::{
    ApiJson, ApiQuery, MayChangeRole, MayCreateUser, MayDeleteUser, MayListAuditEvents,
    MayListSessions, MayListUsers, MayRevokeSessions, MayUpdateUser, MayViewUser,
};
use super::users::{RegisterRequest, UpdateMeRequest};
use crate::domain::{
    self, AuditEventId, AuditKind, ClientInfo, Email, ProfileChanges, Role, UserFilter, UserId,
    UserSort,
};
use crate::error::{Error, FieldError, Problem};
use crate::service::Context;
use crate::service::admin;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Default 0.
    pub offset: Option<i64>,
    /// Case-insensitive substring of email, username, first or last name.
    pub q: Option<String>,
    /// `user`, `sub_admin` or `admin`.
    pub role: Option<String>,
    pub is_active: Option<bool>,
    /// `created_at`, `-created_at` (default), `email` or `-email`.
    pub sort: Option<String>,
}

/// List users (staff).
///
/// **Roles:** `sub_admin`, `admin`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, description = "OK", body = Page<User>),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not staff", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad filter, sort or page", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/admin/users")]
pub async fn list_users(
    MayListUsers(actor): MayListUsers,
    ctx: web::Data<Context>,
    ApiQuery(query): ApiQuery<ListUsersQuery>,
) -> Result<web::Json<Page<User>>, Error> {
    let mut errors = Vec::new();
    let role = query.role.as_deref().and_then(|r| {
        Role::parse(r).or_else(|| {
            errors.push(FieldError::new(
                "role",
                "invalid_role",
                "must be user, sub_admin or admin",
            ));
            None
        })
    });
    let sort = match query.sort.as_deref() {
        None | Some("-created_at") => UserSort::CreatedAtDesc,
        Some("created_at") => UserSort::CreatedAt,
        Some("email") => UserSort::Email,
        Some("-email") => UserSort::EmailDesc,
        Some(_) => {
            errors.push(FieldError::new(
                "sort",
                "invalid_sort",
                "must be created_at, -created_at, email or -email",
            ));
            UserSort::default()
        }
    };
    let q = query
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if let Some(q) = &q
        && let Err(e) = domain::check_no_control_chars("q", q, false)
    {
        errors.push(e);
    }
    let page = match page_request(query.limit, query.offset) {
        Ok(page) => page,
        Err(Error::Validation(mut page_errors)) => {
            errors.append(&mut page_errors);
            domain::PageRequest::default()
        }
        Err(other) => return Err(other),
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let filter = UserFilter {
        q,
        role,
        is_active: query.is_active,
        sort,
    };
    let found = admin::list_users(&ctx, &actor, filter, page).await?;
    Ok(web::Json(Page::from_domain(found, User::from)))
}

/// Registration fields plus the role and status of the new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "grace@example.com",
    "password": "compilers and nanoseconds",
    "first_name": "Grace",
    "last_name": "Hopper",
    "role": "sub_admin",
    "is_active": true
}))]
pub struct CreateUserRequest {
    pub email: String,
    pub password: String,
    pub confirm_password: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    #[schema(format = Date)]
    pub date_of_birth: Option<String>,
    /// Default `user`.
    pub role: Option<Role>,
    /// Default `true`.
    pub is_active: Option<bool>,
}

/// Create an account with any role (admins).
///
/// **Roles:** `admin`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = User, headers(("Location" = String, description = "/api/v1/users/{id}"))),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`, `username_taken` or `phone_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` or `weak_password`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/admin/users")]
pub async fn admin_create_user(
    MayCreateUser(actor): MayCreateUser,
    ctx: web::Data<Context>,
    client: ClientInfo,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> Result<HttpResponse, Error> {
    let (role, is_active) = (
        body.role.unwrap_or(Role::User),
        body.is_active.unwrap_or(true),
    );
    let account = RegisterRequest {
        email: body.email,
        password: body.password,
        confirm_password: body.confirm_password,
        username: body.username,
        first_name: body.first_name,
        last_name: body.last_name,
        phone_number: body.phone_number,
        date_of_birth: body.date_of_birth,
    }
    .parse()?;
    let user = admin::create_user(&ctx, &actor, account, role, is_active, &client).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/users/{}", user.id)))
        .json(User::from(user)))
}

/// One user (staff).
///
/// **Roles:** `sub_admin`, `admin`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = UserId, Path)),
    responses(
        (status = 200, description = "OK", body = User),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/admin/users/{id}")]
pub async fn admin_get_user(
    MayViewUser(actor): MayViewUser,
    ctx: web::Data<Context>,
    id: web::Path<UserId>,
) -> Result<web::Json<User>, Error> {
    Ok(web::Json(
        admin::get_user(&ctx, &actor, id.into_inner()).await?.into(),
    ))
}

/// Changes to a user; `null` clears an optional field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"is_active": true}))]
pub struct UpdateUserRequest {
    pub email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<Option<String>>,
    /// `false` revokes every session of the user at once.
    pub is_active: Option<bool>,
}

/// Change a user's profile or status.
///
/// **Roles:** `admin` (every field); `sub_admin` (only `is_active`, only on role `user`).
/// Deactivating revokes all the user's sessions at once; deactivating the last active
/// admin is `409 last_admin`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = UserId, Path)),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "OK", body = User),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`, `email_taken`, `username_taken` or `phone_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/admin/users/{id}")]
pub async fn update_user(
    MayUpdateUser(actor): MayUpdateUser,
    ctx: web::Data<Context>,
    client: ClientInfo,
    id: web::Path<UserId>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> Result<web::Json<User>, Error> {
    let mut fields = Fields::default();
    let profile = UpdateMeRequest {
        username: body.username,
        first_name: body.first_name,
        last_name: body.last_name,
        phone_number: body.phone_number,
        date_of_birth: body.date_of_birth,
    };
    let changes = ProfileChanges {
        email: fields.take_opt(body.email.as_deref(), |v| Email::parse("email", v)),
        is_active: body.is_active,
        ..profile.changes(&mut fields)
    };
    fields.finish()?;
    Ok(web::Json(
        admin::update_user(&ctx, &actor, id.into_inner(), changes, &client)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "sub_admin"}))]
pub struct SetRoleRequest {
    pub role: Role,
}

/// Promote or demote a user (admins).
///
/// **Roles:** `admin`. Demoting the last active admin is `409 last_admin`. The new role shows in the user's
/// next refreshed access token (and at once on this service, which reads roles from the database).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = UserId, Path)),
    request_body = SetRoleRequest,
    responses(
        (status = 200, description = "OK", body = User),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not a role", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/admin/users/{id}/role")]
pub async fn set_role(
    MayChangeRole(actor): MayChangeRole,
    ctx: web::Data<Context>,
    client: ClientInfo,
    id: web::Path<UserId>,
    ApiJson(body): ApiJson<SetRoleRequest>,
) -> Result<web::Json<User>, Error> {
    Ok(web::Json(
        admin::set_role(&ctx, &actor, id.into_inner(), body.role, &client)
            .await?
            .into(),
    ))
}

/// Delete a user with its sessions, credentials and tasks (admins).
///
/// **Roles:** `admin`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = UserId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/admin/users/{id}")]
pub async fn delete_user(
    MayDeleteUser(actor): MayDeleteUser,
    ctx: web::Data<Context>,
    client: ClientInfo,
    id: web::Path<UserId>,
) -> Result<HttpResponse, Error> {
    admin::delete_user(&ctx, &actor, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A user's live sessions (staff).
///
/// **Roles:** `admin`; `sub_admin` on role `user`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = UserId, Path)),
    responses(
        (status = 200, description = "OK", body = Vec<Session>),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/admin/users/{id}/sessions")]
pub async fn list_user_sessions(
    MayListSessions(actor): MayListSessions,
    ctx: web::Data<Context>,
    id: web::Path<UserId>,
) -> Result<web::Json<Vec<Session>>, Error> {
    let sessions = admin::list_sessions(&ctx, &actor, id.into_inner()).await?;
    Ok(web::Json(
        sessions
            .into_iter()
            .map(|s| Session::new(s, Some(actor.session_id)))
            .collect(),
    ))
}

/// Revoke every session of a user (staff).
///
/// **Roles:** `admin`; `sub_admin` on role `user`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = UserId, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/admin/users/{id}/sessions")]
pub async fn revoke_user_sessions(
    MayRevokeSessions(actor): MayRevokeSessions,
    ctx: web::Data<Context>,
    client: ClientInfo,
    id: web::Path<UserId>,
) -> Result<HttpResponse, Error> {
    admin::revoke_sessions(&ctx, &actor, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An entry of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub at: DateTime<Utc>,
    /// e.g. `login.failed`, `user.role_changed`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub actor_id: Option<UserId>,
    pub subject_id: Option<UserId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<domain::AuditEvent> for AuditEvent {
    fn from(e: domain::AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            type_: e.kind.as_str(),
            actor_id: e.actor_id,
            subject_id: e.subject_id,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// Events where this user is the actor or the subject.
    pub user_id: Option<UserId>,
    /// One event type, e.g. `login.failed`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_: Option<String>,
}

/// The audit trail, newest first (admins).
///
/// **Roles:** `admin`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "OK", body = Page<AuditEvent>),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an unknown type or a bad page", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/admin/audit-events")]
pub async fn list_audit_events(
    MayListAuditEvents(actor): MayListAuditEvents,
    ctx: web::Data<Context>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<web::Json<Page<AuditEvent>>, Error> {
    let page = page_request(query.limit, query.offset)?;
    let kind =
        match query.type_.as_deref() {
            None => None,
            Some(raw) => Some(AuditKind::parse(raw).ok_or_else(|| {
                Error::field("type", "invalid_type", "is not an audit event type")
            })?),
        };
    let found = admin::audit_events(&ctx, &actor, query.user_id, kind, page).await?;
    Ok(web::Json(Page::from_domain(found, AuditEvent::from)))
}
