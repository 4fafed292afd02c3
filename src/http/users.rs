//! `/api/v1/users`: registration, the caller's own account, and users by id.

use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::dto::{Fields, User, nullable, vouched};
use super::extract::ApiJson;
use super::limits::rate_limit;
use crate::domain::{
    ClientInfo, DateOfBirth, Email, Name, NewPassword, PasswordAttempt, Phone, ProfileChanges,
    UserId, Username,
};
use crate::error::{Error, FieldError, Problem};
use crate::service::Context;
use crate::service::auth::Principal;
use crate::service::users::{self, NewAccount};

/// Sign-up fields. Unknown fields (such as `role`) are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "ada@example.com",
    "password": "correct horse battery staple",
    "confirm_password": "correct horse battery staple",
    "username": "ada",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone_number": "+4915112345678",
    "date_of_birth": "1990-12-10"
}))]
pub struct RegisterRequest {
    /// ≤ 254 characters; stored lower-cased; unique case-insensitively.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 8–128 characters, not only whitespace, not the email or username, not a common password.
    #[schema(example = "correct horse battery staple")]
    pub password: String,
    /// When sent, must equal `password`.
    pub confirm_password: Option<String>,
    /// 3–32 characters of `[A-Za-z0-9_.-]`, unique case-insensitively.
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// E.164, e.g. `+4915112345678`.
    pub phone_number: Option<String>,
    /// `YYYY-MM-DD`, not in the future.
    #[schema(format = Date)]
    pub date_of_birth: Option<String>,
}

impl RegisterRequest {
    pub fn parse(self) -> Result<NewAccount, Error> {
        let mut fields = Fields::default();
        let email = fields.take(Email::parse("email", &self.email));
        let username =
            fields.take_opt(self.username.as_deref(), |v| Username::parse("username", v));
        let first_name =
            fields.take_opt(self.first_name.as_deref(), |v| Name::parse("first_name", v));
        let last_name = fields.take_opt(self.last_name.as_deref(), |v| Name::parse("last_name", v));
        let phone_number = fields.take_opt(self.phone_number.as_deref(), |v| {
            Phone::parse("phone_number", v)
        });
        let date_of_birth = fields.take_opt(self.date_of_birth.as_deref(), |v| {
            DateOfBirth::parse("date_of_birth", v)
        });
        if self.confirm_password.as_ref().is_some_and(|confirm| {
            PasswordAttempt::new(confirm).expose() != PasswordAttempt::new(&self.password).expose()
        }) {
            fields.push(FieldError::new(
                "confirm_password",
                "mismatch",
                "must equal password",
            ));
        }
        let password = fields.take_password(
            "password",
            NewPassword::parse(
                &self.password,
                Some(self.email.trim()),
                self.username.as_deref(),
            ),
        );
        fields.finish()?;
        Ok(NewAccount {
            email: vouched(email)?,
            password: vouched(password)?,
            username,
            first_name,
            last_name,
            phone_number,
            date_of_birth,
        })
    }
}

/// Register a new account.
///
/// The role is always `user`.
#[utoipa::path(
    tag = "users",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created; `Location` names the new user", body = User,
            headers(("Location" = String, description = "/api/v1/users/{id}"))),
        (status = 400, description = "`malformed_request`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: registration is closed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`, `username_taken` or `phone_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` or `weak_password`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users", wrap = "from_fn(rate_limit)")]
pub async fn create_user(
    ctx: web::Data<Context>,
    client: ClientInfo,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<HttpResponse, Error> {
    let account = body.parse()?;
    let user = users::register(&ctx, account, &client).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/users/{}", user.id)))
        .json(User::from(user)))
}

/// The signed-in user's profile.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "OK", body = User),
        (status = 401, description = "`unauthenticated`, `token_expired` or `session_revoked`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/me")]
pub async fn get_me(principal: Principal) -> Result<web::Json<User>, Error> {
    Ok(web::Json(principal.user.into()))
}

/// Profile changes; `null` clears an optional field. Email, role and status are not
/// changed here (unknown fields are refused).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"first_name": "Augusta Ada", "last_name": "King"}))]
pub struct UpdateMeRequest {
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
}

impl UpdateMeRequest {
    pub fn parse(self) -> Result<ProfileChanges, Error> {
        let mut fields = Fields::default();
        let changes = self.changes(&mut fields);
        fields.finish()?;
        Ok(changes)
    }

    /// The profile changes, with any problem noted in `fields`.
    pub(super) fn changes(self, fields: &mut Fields) -> ProfileChanges {
        ProfileChanges {
            username: fields.patch(self.username, |v| Username::parse("username", v)),
            first_name: fields.patch(self.first_name, |v| Name::parse("first_name", v)),
            last_name: fields.patch(self.last_name, |v| Name::parse("last_name", v)),
            phone_number: fields.patch(self.phone_number, |v| Phone::parse("phone_number", v)),
            date_of_birth: fields.patch(self.date_of_birth, |v| {
                DateOfBirth::parse("date_of_birth", v)
            }),
            ..ProfileChanges::default()
        }
    }
}

/// Change the signed-in user's profile.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "OK", body = User),
        (status = 401, description = "`unauthenticated`, `token_expired` or `session_revoked`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken` or `phone_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (unknown fields included)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/me")]
pub async fn update_me(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
    ApiJson(body): ApiJson<UpdateMeRequest>,
) -> Result<web::Json<User>, Error> {
    let changes = body.parse()?;
    Ok(web::Json(
        users::update_me(&ctx, &principal, changes, &client)
            .await?
            .into(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "current_password": "correct horse battery staple",
    "new_password": "analytical engine punch cards"
}))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// Obeys the password rules; must differ from the current one and the 4 before it.
    pub new_password: String,
}

/// Change the signed-in user's password. Every other session is revoked; this one lives on.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "`invalid_credentials` (wrong current password), or a token problem", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`weak_password`, `password_reused` or `validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/users/me/password")]
pub async fn change_password(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<HttpResponse, Error> {
    users::change_password(
        &ctx,
        &principal,
        &body.current_password,
        &body.new_password,
        &client,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct DeleteMeRequest {
    pub password: String,
}

/// Delete the signed-in user's account with its sessions, credentials and tasks.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = DeleteMeRequest,
    responses(
        (status = 204, description = "Deleted; every token of the account stops working at once"),
        (status = 401, description = "`invalid_credentials` (wrong password), or a token problem", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`: the last active admin cannot delete itself", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/me")]
pub async fn delete_me(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
    ApiJson(body): ApiJson<DeleteMeRequest>,
) -> Result<HttpResponse, Error> {
    users::delete_me(&ctx, &principal, &body.password, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A user by id: yourself, or anyone for staff.
///
/// Anybody else gets 403 whether or not the id exists.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("id" = UserId, Path, description = "The user's id")),
    responses(
        (status = 200, description = "OK", body = User),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not your own account, and you are not staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found` (staff only)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    ctx: web::Data<Context>,
    principal: Principal,
    id: web::Path<UserId>,
) -> Result<web::Json<User>, Error> {
    Ok(web::Json(
        users::get(&ctx, &principal, id.into_inner()).await?.into(),
    ))
}
