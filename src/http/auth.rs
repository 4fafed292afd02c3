//! `/api/v1/auth`: login, refresh, logout, introspection, password reset.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::TokenPair;
use super::extract::ApiJson;
use super::limits::rate_limit;
use crate::crypto::jwt::TokenType;
use crate::domain::{
    ClientInfo, Email, LoginName, Role, SessionId, UserId, check_no_control_chars,
};
use crate::error::{Error, FieldError, Problem};
use crate::service::Context;
use crate::service::auth::{self, Principal};
use crate::service::password_reset;

/// `password` and exactly one of `email`, `username`, `phone_number`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub email: Option<String>,
    pub username: Option<String>,
    pub phone_number: Option<String>,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

impl LoginRequest {
    fn login_name(&self) -> Result<LoginName, Error> {
        let given: Vec<(&str, &String)> = [
            ("email", &self.email),
            ("username", &self.username),
            ("phone_number", &self.phone_number),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.as_ref().map(|v| (field, v)))
        .collect();
        let [(field, value)] = given.as_slice() else {
            return Err(Error::field(
                "email",
                "one_login_name",
                "give exactly one of email, username or phone_number",
            ));
        };
        check_no_control_chars(field, value, false).map_err(|e| Error::Validation(vec![e]))?;
        if value.chars().count() > 254 {
            return Err(Error::Validation(vec![FieldError::new(
                field,
                "too_long",
                "must be at most 254 characters",
            )]));
        }
        let value = value.trim();
        Ok(match *field {
            "email" => LoginName::Email(value.to_lowercase()),
            "username" => LoginName::Username(value.to_owned()),
            _ => LoginName::Phone(value.to_owned()),
        })
    }
}

fn no_store(pair: TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(pair)
}

/// Sign in with a password and one of email, username or phone number. Opens a session.
///
/// Unknown user and wrong password answer alike (`invalid_credentials`), after the same work.
///
/// After 5 consecutive failures the account is locked (429, `Retry-After`) for 1 s, doubling
/// with each further failure up to 15 minutes; a success resets the count. Each attempt is
/// counted before its password is checked, so concurrent guesses cannot outrun the lock, and
/// a name that matches no account is counted and locked the same way, so the lock does not
/// tell which names exist.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "OK", body = TokenPair),
        (status = 400, description = "`malformed_request`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled` (only after a correct password)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: over the per-IP limit, or the account or name is locked; `Retry-After` gives the seconds to wait", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full (the attempt is not counted; a locked account or name gets 429 all the same)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login", wrap = "from_fn(rate_limit)")]
pub async fn login(
    ctx: web::Data<Context>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<HttpResponse, Error> {
    let name = body.login_name()?;
    let pair = auth::login(&ctx, name, &body.password, &client).await?;
    Ok(no_store(pair.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair (same `session_id`).
///
/// A refresh token can be exchanged once. Presented again within the reuse grace interval
/// (default 10 s) it returns a new access token and the session's current refresh token;
/// after that it is treated as theft: the session is revoked (`refresh_token_reused`).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "OK", body = TokenPair),
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_reused` or `session_revoked`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh", wrap = "from_fn(rate_limit)")]
pub async fn refresh(
    ctx: web::Data<Context>,
    client: ClientInfo,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<HttpResponse, Error> {
    let pair = auth::refresh(&ctx, &body.refresh_token, &client).await?;
    Ok(no_store(pair.into()))
}

/// Sign out: revokes the current session.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session is revoked"),
        (status = 401, description = "`unauthenticated`, `token_expired` or `session_revoked`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/logout")]
pub async fn logout(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
) -> Result<HttpResponse, Error> {
    auth::logout(&ctx, &principal, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectRequest {
    /// An access or refresh token.
    pub token: String,
}

/// RFC 7662-style answer; only `active` when the token is not active.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct IntrospectResponse {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<SessionId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// `access` or `refresh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<uuid::Uuid>,
}

/// Ask whether a token is active: valid, unexpired, its session live and its user active
/// (a refresh token must also be the session's current one).
#[utoipa::path(
    tag = "auth",
    request_body = IntrospectRequest,
    responses(
        (status = 200, description = "OK", body = IntrospectResponse),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/introspect", wrap = "from_fn(rate_limit)")]
pub async fn introspect(
    ctx: web::Data<Context>,
    ApiJson(body): ApiJson<IntrospectRequest>,
) -> Result<HttpResponse, Error> {
    let found = auth::introspect(&ctx, &body.token).await?;
    let response = match (found.active, found.claims) {
        (true, Some(claims)) => IntrospectResponse {
            active: true,
            sub: Some(claims.sub),
            sid: Some(claims.sid),
            role: found.role,
            typ: Some(match claims.typ {
                TokenType::Access => "access".into(),
                TokenType::Refresh => "refresh".into(),
            }),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            jti: Some(claims.jti),
        },
        _ => IntrospectResponse::default(),
    };
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(response))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    pub email: String,
}

/// Ask for a password reset link by mail.
///
/// The answer is the same, in the same time, whether or not the account exists: it is
/// given before any database work, which happens in the background with the mail. An
/// active account gets a link `{public_url}/reset-password?token=…`, valid 30 minutes and
/// once; a newer request voids older links.
#[utoipa::path(
    tag = "auth",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Accepted: `{}`", body = Object),
        (status = 422, description = "`validation_failed`: not an email address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: too many reset requests at work already", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password/forgot", wrap = "from_fn(rate_limit)")]
pub async fn forgot_password(
    ctx: web::Data<Context>,
    client: ClientInfo,
    ApiJson(body): ApiJson<ForgotPasswordRequest>,
) -> Result<HttpResponse, Error> {
    let email = Email::parse("email", &body.email).map_err(|e| Error::Validation(vec![e]))?;
    password_reset::forgot(ctx.into_inner(), email, &client).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token from the reset link.
    pub token: String,
    pub new_password: String,
}

/// Set a new password with a reset token. Every session of the account is revoked.
#[utoipa::path(
    tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "The password is changed"),
        (status = 400, description = "`invalid_reset_token`: unknown, expired or used", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`weak_password`, `password_reused` or `validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/password/reset", wrap = "from_fn(rate_limit)")]
pub async fn reset_password(
    ctx: web::Data<Context>,
    client: ClientInfo,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> Result<HttpResponse, Error> {
    password_reset::reset(&ctx, &body.token, &body.new_password, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
