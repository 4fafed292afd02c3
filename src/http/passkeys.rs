//! Passkeys (WebAuthn): `/api/v1/users/me/passkeys…` to add, list and remove them, and
//! `/api/v1/auth/passkey…` to sign in with one.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::TokenPair;
use super::extract::ApiJson;
use super::limits::rate_limit;
use crate::domain::{self, ChallengeId, ClientInfo, PasskeyId, PasskeyName};
use crate::error::{Error, Problem};
use crate::service::Context;
use crate::service::auth::Principal;
use crate::service::passkeys::{self, CeremonyOptions};

/// A passkey of the signed-in account. Never its key material.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019ae8a4-7c1e-7d3a-9f3e-2b6c1d0e4a57",
    "name": "Laptop",
    "created_at": "2026-12-06T15:04:05.123456Z",
    "last_used_at": null
}))]
pub struct Passkey {
    pub id: PasskeyId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<domain::Passkey> for Passkey {
    fn from(p: domain::Passkey) -> Self {
        Self {
            id: p.id,
            name: p.name.as_str().to_owned(),
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

/// A ceremony begun: pass `public_key` to `navigator.credentials.create()` or `.get()`
/// (e.g. through `PublicKeyCredential.parseCreationOptionsFromJSON`), then send the
/// answer with `challenge_id` within 5 minutes. Each `challenge_id` works once.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyOptions {
    pub challenge_id: ChallengeId,
    /// `PublicKeyCredentialCreationOptions` or `PublicKeyCredentialRequestOptions`, as JSON
    /// (binary members base64url).
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
}

impl From<CeremonyOptions> for PasskeyOptions {
    fn from(o: CeremonyOptions) -> Self {
        Self {
            challenge_id: o.challenge_id,
            public_key: o.public_key,
        }
    }
}

fn no_store(body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct PasswordConfirmation {
    pub password: String,
}

/// Begin adding a passkey to the signed-in account (the password confirms it is you).
///
/// Asks for a discoverable credential with user verification, excluding the account's
/// passkeys. Finish with `POST /users/me/passkeys`.
#[utoipa::path(
    tag = "passkeys",
    security(("bearer" = [])),
    request_body = PasswordConfirmation,
    responses(
        (status = 200, description = "OK", body = PasskeyOptions),
        (status = 401, description = "`invalid_credentials` (wrong password), or a token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: passkeys are off (DOORMAN_PUBLIC_URL names no domain)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users/me/passkeys/options")]
pub async fn create_passkey_options(
    ctx: web::Data<Context>,
    principal: Principal,
    ApiJson(body): ApiJson<PasswordConfirmation>,
) -> Result<HttpResponse, Error> {
    let options = passkeys::registration_options(&ctx, &principal, &body.password).await?;
    Ok(no_store(PasskeyOptions::from(options)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePasskeyRequest {
    pub challenge_id: ChallengeId,
    /// 1–64 characters, e.g. "Laptop".
    #[schema(example = "Laptop")]
    pub name: String,
    /// The browser's `RegistrationResponseJSON` (`credential.toJSON()`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Finish adding a passkey.
///
/// The body carries the authenticator's answer to the options of
/// `POST /users/me/passkeys/options`. Writes `passkey.added`.
#[utoipa::path(
    tag = "passkeys",
    security(("bearer" = [])),
    request_body = CreatePasskeyRequest,
    responses(
        (status = 201, description = "Added", body = Passkey),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: passkeys are off (DOORMAN_PUBLIC_URL names no domain)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad name; the challenge_id unknown, used or expired (field code invalid_challenge); the credential malformed (invalid_credential), refused for a wrong origin, challenge or signature (passkey_refused), or already registered (already_registered)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users/me/passkeys")]
pub async fn create_passkey(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
    ApiJson(body): ApiJson<CreatePasskeyRequest>,
) -> Result<HttpResponse, Error> {
    let name = PasskeyName::parse("name", &body.name).map_err(|e| Error::Validation(vec![e]))?;
    let passkey = passkeys::register(
        &ctx,
        &principal,
        body.challenge_id,
        name,
        body.credential,
        &client,
    )
    .await?;
    Ok(HttpResponse::Created().json(Passkey::from(passkey)))
}

/// The signed-in account's passkeys, oldest first.
#[utoipa::path(
    tag = "passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "OK", body = Vec<Passkey>),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/me/passkeys")]
pub async fn list_passkeys(
    ctx: web::Data<Context>,
    principal: Principal,
) -> Result<web::Json<Vec<Passkey>>, Error> {
    let found = passkeys::list(&ctx, &principal).await?;
    Ok(web::Json(found.into_iter().map(Passkey::from).collect()))
}

/// Remove one of the signed-in account's passkeys (the password confirms it is you).
///
/// Every account keeps its password, so removing passkeys, the last one too, never leaves
/// it without a way in. Writes `passkey.removed`.
#[utoipa::path(
    tag = "passkeys",
    security(("bearer" = [])),
    params(("id" = PasskeyId, Path, description = "The passkey's id")),
    request_body = PasswordConfirmation,
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`invalid_credentials` (wrong password), or a token problem", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no passkey of yours has this id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/me/passkeys/{id}")]
pub async fn delete_passkey(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
    id: web::Path<PasskeyId>,
    ApiJson(body): ApiJson<PasswordConfirmation>,
) -> Result<HttpResponse, Error> {
    passkeys::remove(&ctx, &principal, id.into_inner(), &body.password, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInOptionsRequest {
    /// From a `401 mfa_required` answer to a password login: the ceremony is then the
    /// second step, for that account's passkeys only.
    pub mfa_token: Option<String>,
}

/// Begin signing in with a passkey.
///
/// Without `mfa_token`: passwordless, with discoverable credentials (empty
/// `allowCredentials`). Finish with `POST /auth/passkey` (or, with `mfa_token`,
/// `POST /auth/mfa`).
#[utoipa::path(
    tag = "auth",
    request_body = PasskeySignInOptionsRequest,
    responses(
        (status = 200, description = "OK", body = PasskeyOptions),
        (status = 401, description = "`invalid_credentials`: the mfa_token is unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: passkeys are off (DOORMAN_PUBLIC_URL names no domain)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: over the per-IP limit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/passkey/options", wrap = "from_fn(rate_limit)")]
pub async fn passkey_sign_in_options(
    ctx: web::Data<Context>,
    ApiJson(body): ApiJson<PasskeySignInOptionsRequest>,
) -> Result<HttpResponse, Error> {
    let options = passkeys::sign_in_options(&ctx, body.mfa_token.as_deref()).await?;
    Ok(no_store(PasskeyOptions::from(options)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInRequest {
    pub challenge_id: ChallengeId,
    /// The browser's `AuthenticationResponseJSON` (`credential.toJSON()`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Sign in with a passkey, without a password. Opens a session like a password login.
///
/// Any refusal (unknown, used or expired challenge; unknown passkey; wrong origin or
/// signature; a signature counter that went backwards, which is also audited) answers
/// `invalid_credentials`. Writes `passkey.login`.
#[utoipa::path(
    tag = "auth",
    request_body = PasskeySignInRequest,
    responses(
        (status = 200, description = "OK", body = TokenPair),
        (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled` (only after a valid passkey), or `forbidden`: passkeys are off (DOORMAN_PUBLIC_URL names no domain)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the credential is not an AuthenticationResponseJSON", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: over the per-IP limit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/passkey", wrap = "from_fn(rate_limit)")]
pub async fn passkey_sign_in(
    ctx: web::Data<Context>,
    client: ClientInfo,
    ApiJson(body): ApiJson<PasskeySignInRequest>,
) -> Result<HttpResponse, Error> {
    let pair = passkeys::login(&ctx, body.challenge_id, body.credential, &client).await?;
    Ok(no_store(TokenPair::from(pair)))
}
