//! Second factors: `/api/v1/users/me/mfa…` (TOTP and recovery codes), the second step of
//! a sign-in (`POST /api/v1/auth/mfa`) and the staff reset.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::TokenPair;
use super::extract::{ApiJson, MayResetMfa};
use super::limits::rate_limit;
use crate::domain::{ClientInfo, UserId};
use crate::error::{Error, Problem};
use crate::service::Context;
use crate::service::auth::Principal;
use crate::service::mfa::{self, SecondFactor};

/// The signed-in user's second factors.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatus {
    /// TOTP (an authenticator app) is on.
    pub totp: bool,
    /// How many passkeys the account has.
    pub passkeys: i64,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// `DOORMAN_MFA_REQUIRED` applies to this account: without a second factor it may only
    /// read its account, enrol and sign out.
    pub required: bool,
}

/// The signed-in user's second factors.
#[utoipa::path(
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "OK", body = MfaStatus),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/me/mfa")]
pub async fn get_my_mfa(
    ctx: web::Data<Context>,
    principal: Principal,
) -> Result<web::Json<MfaStatus>, Error> {
    let status = mfa::status(&ctx, &principal).await?;
    Ok(web::Json(MfaStatus {
        totp: status.totp,
        passkeys: status.passkeys,
        recovery_codes_left: status.recovery_codes_left,
        required: status.required,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct BeginTotpRequest {
    /// The account's current password.
    pub password: String,
}

/// A TOTP enrolment: shown once, pending until confirmed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The shared secret, base32 (for typing into an authenticator app).
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// `otpauth://totp/{issuer}:{email}?secret=…&issuer=…`
    #[schema(
        example = "otpauth://totp/doorman:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=doorman"
    )]
    pub otpauth_uri: String,
    /// `otpauth_uri` as an SVG QR code.
    pub qr_svg: String,
}

/// Start turning on TOTP (an authenticator app).
///
/// The password confirms it is the account holder. The new secret is pending until a code
/// from it is sent to `/users/me/mfa/totp/confirm`; a newer call replaces a pending one.
/// An authenticator already confirmed stays in force until the new one is confirmed.
#[utoipa::path(
    tag = "mfa",
    security(("bearer" = [])),
    request_body = BeginTotpRequest,
    responses(
        (status = 200, description = "OK: pending until confirmed", body = TotpEnrolment),
        (status = 401, description = "`invalid_credentials` (wrong password), or a token problem", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users/me/mfa/totp")]
pub async fn begin_totp(
    ctx: web::Data<Context>,
    principal: Principal,
    ApiJson(body): ApiJson<BeginTotpRequest>,
) -> Result<HttpResponse, Error> {
    let enrolment = mfa::begin_totp(&ctx, &principal, &body.password).await?;
    Ok(no_store().json(TotpEnrolment {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg: enrolment.qr_svg,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
pub struct ConfirmTotpRequest {
    /// The current code of the pending secret.
    pub code: String,
}

/// Recovery codes: shown once; each signs in once in place of a TOTP code.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    #[schema(example = json!(["7k2m-9qx4-ab3d", "…"]))]
    pub recovery_codes: Vec<String>,
}

/// Confirm the pending TOTP secret with a code from it: TOTP is on.
///
/// Answers 10 recovery codes, shown only this once (an older set is void).
#[utoipa::path(
    tag = "mfa",
    security(("bearer" = [])),
    request_body = ConfirmTotpRequest,
    responses(
        (status = 200, description = "TOTP is on", body = RecoveryCodes),
        (status = 401, description = "`invalid_mfa_code` (wrong code), or a token problem", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no enrolment is pending", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users/me/mfa/totp/confirm")]
pub async fn confirm_totp(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
    ApiJson(body): ApiJson<ConfirmTotpRequest>,
) -> Result<HttpResponse, Error> {
    let recovery_codes = mfa::confirm_totp(&ctx, &principal, &body.code, &client).await?;
    Ok(no_store().json(RecoveryCodes { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple", "code": "123456"}))]
pub struct ConfirmedByCodeRequest {
    /// The account's current password.
    pub password: String,
    /// A current TOTP code, or an unused recovery code (which it spends).
    pub code: String,
}

/// Turn TOTP off; the recovery codes go with it.
#[utoipa::path(
    tag = "mfa",
    security(("bearer" = [])),
    request_body = ConfirmedByCodeRequest,
    responses(
        (status = 204, description = "TOTP is off"),
        (status = 401, description = "`invalid_credentials` (wrong password), `invalid_mfa_code` (wrong or used code), or a token problem", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: TOTP is not on", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/me/mfa/totp")]
pub async fn disable_totp(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
    ApiJson(body): ApiJson<ConfirmedByCodeRequest>,
) -> Result<HttpResponse, Error> {
    mfa::disable_totp(&ctx, &principal, &body.password, &body.code, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new set of recovery codes; the old set is void.
#[utoipa::path(
    tag = "mfa",
    security(("bearer" = [])),
    request_body = ConfirmedByCodeRequest,
    responses(
        (status = 200, description = "The new set, shown only this once", body = RecoveryCodes),
        (status = 401, description = "`invalid_credentials` (wrong password), `invalid_mfa_code` (wrong or used code), or a token problem", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: TOTP is not on", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users/me/mfa/recovery-codes")]
pub async fn regenerate_recovery_codes(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
    ApiJson(body): ApiJson<ConfirmedByCodeRequest>,
) -> Result<HttpResponse, Error> {
    let recovery_codes =
        mfa::regenerate_recovery_codes(&ctx, &principal, &body.password, &body.code, &client)
            .await?;
    Ok(no_store().json(RecoveryCodes { recovery_codes }))
}

/// A passkey assertion in the second step.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAssertion {
    /// From `POST /api/v1/auth/passkey/options` with the `mfa_token`.
    pub challenge_id: String,
    /// The browser's `AuthenticationResponseJSON`.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// `mfa_token` and exactly one of `totp_code`, `recovery_code`, `passkey`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mfa_token": "u1Qp…", "totp_code": "123456"}))]
pub struct SecondStepRequest {
    /// From the `mfa_required` answer of the password step.
    pub mfa_token: String,
    #[schema(example = "123456")]
    pub totp_code: Option<String>,
    pub recovery_code: Option<String>,
    pub passkey: Option<PasskeyAssertion>,
}

impl SecondStepRequest {
    fn factor(self) -> Result<(String, SecondFactor), Error> {
        let factor = match (self.totp_code, self.recovery_code, self.passkey) {
            (Some(code), None, None) => SecondFactor::Totp(code),
            (None, Some(code), None) => SecondFactor::RecoveryCode(code),
            (None, None, Some(passkey)) => SecondFactor::Passkey {
                challenge_id: passkey.challenge_id,
                credential: passkey.credential,
            },
            _ => {
                return Err(Error::field(
                    "totp_code",
                    "one_second_factor",
                    "give exactly one of totp_code, recovery_code or passkey",
                ));
            }
        };
        Ok((self.mfa_token, factor))
    }
}

/// Finish a sign-in with a second factor.
///
/// The password step (`/auth/login`, `/auth/token`) of an account with a second factor
/// answers `401 mfa_required` with an `mfa_token` (single use, 5 minutes) and the
/// account's `methods`. Send it here with one code. A TOTP code is accepted at most once;
/// a recovery code is spent. Each wrong code counts toward the account's lockout as a
/// wrong password does (429 while locked), and 5 wrong codes void the token.
#[utoipa::path(
    tag = "auth",
    request_body = SecondStepRequest,
    responses(
        (status = 200, description = "Signed in: `amr` in the access token says how", body = TokenPair),
        (status = 401, description = "`invalid_mfa_code` (wrong, used or replayed code) or `invalid_mfa_token` (unknown, expired, used, or 5 wrong codes)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not exactly one factor, or passkeys not available", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: over the per-IP limit, or the account is locked", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/mfa", wrap = "from_fn(rate_limit)")]
pub async fn complete_sign_in(
    ctx: web::Data<Context>,
    client: ClientInfo,
    ApiJson(body): ApiJson<SecondStepRequest>,
) -> Result<HttpResponse, Error> {
    let (token, factor) = body.factor()?;
    let pair = mfa::sign_in(&ctx, &token, factor, &client).await?;
    Ok(no_store().json(TokenPair::from(pair)))
}

/// Remove every second factor of a user and revoke every session of theirs (admin).
///
/// For an account holder who lost their authenticator and recovery codes. The user signs
/// in again with the password alone (and must enrol again where `DOORMAN_MFA_REQUIRED`
/// says so).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = UserId, Path)),
    responses(
        (status = 204, description = "Every second factor removed, every session revoked"),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/admin/users/{id}/mfa")]
pub async fn reset_user_mfa(
    MayResetMfa(actor): MayResetMfa,
    ctx: web::Data<Context>,
    client: ClientInfo,
    id: web::Path<UserId>,
) -> Result<HttpResponse, Error> {
    mfa::reset(&ctx, &actor, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn no_store() -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response.insert_header(CacheControl(vec![CacheDirective::NoStore]));
    response
}
