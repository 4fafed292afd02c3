//! The one error type. Every failure a client can see is a variant here, and
//! `code()`/`status()` are exhaustive matches, so a new variant without a contract code
//! does not compile. `http::problem` renders it as RFC 9457 problem+json; nothing here
//! knows the web framework.

use serde::Serialize;
use utoipa::ToSchema;

/// The `Unauthenticated` detail for a request with no bearer token at all (RFC 6750 §3:
/// such a challenge carries no error code).
pub const MISSING_TOKEN: &str = "a bearer access token is required";

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One field-level problem inside a `validation_failed` or `weak_password` error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The request field, as the client spelled it.
    pub field: String,
    /// A stable snake_case code, e.g. `invalid_email`, `too_short`, `unknown_field`.
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    MalformedRequest(String),
    #[error("the reset token is unknown, expired or already used")]
    InvalidResetToken,
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("the access token has expired")]
    TokenExpired,
    #[error("the credentials are not valid")]
    InvalidCredentials,
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    #[error("the refresh token was already used; the session has been revoked")]
    RefreshTokenReused,
    #[error("the session has been revoked")]
    SessionRevoked,
    #[error("the account is disabled")]
    AccountDisabled,
    /// A right password for an account with a second factor: the sign-in goes on at
    /// `POST /auth/mfa` with `token`, by one of `methods`.
    #[error("a second factor is required to finish signing in")]
    MfaRequired {
        token: String,
        methods: Vec<&'static str>,
    },
    #[error("the code is not valid")]
    InvalidMfaCode,
    #[error("the mfa_token is unknown, expired, used or has had too many wrong codes")]
    InvalidMfaToken,
    #[error("this account must set up a second factor first (see /api/v1/users/me/mfa)")]
    MfaEnrolmentRequired,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("the resource does not exist")]
    NotFound,
    #[error("the method is not allowed on this resource")]
    MethodNotAllowed,
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("the username is already taken")]
    UsernameTaken,
    #[error("the phone number is already registered")]
    PhoneTaken,
    #[error("this would leave no active admin")]
    LastAdmin,
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("the password is too weak")]
    WeakPassword(Vec<FieldError>),
    #[error("the new password was used recently")]
    PasswordReused,
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("the service is overloaded or its database is unavailable")]
    ServiceUnavailable { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedRequest(_) => "malformed_request",
            Self::InvalidResetToken => "invalid_reset_token",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::TokenExpired => "token_expired",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::SessionRevoked => "session_revoked",
            Self::AccountDisabled => "account_disabled",
            Self::MfaRequired { .. } => "mfa_required",
            Self::InvalidMfaCode => "invalid_mfa_code",
            Self::InvalidMfaToken => "invalid_mfa_token",
            Self::MfaEnrolmentRequired => "mfa_enrolment_required",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::EmailTaken => "email_taken",
            Self::UsernameTaken => "username_taken",
            Self::PhoneTaken => "phone_taken",
            Self::LastAdmin => "last_admin",
            Self::RequestTimeout => "request_timeout",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::WeakPassword(_) => "weak_password",
            Self::PasswordReused => "password_reused",
            Self::RateLimited { .. } => "rate_limited",
            Self::ServiceUnavailable { .. } => "service_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The HTTP status code this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::MalformedRequest(_) | Self::InvalidResetToken => 400,
            Self::Unauthenticated(_)
            | Self::TokenExpired
            | Self::InvalidCredentials
            | Self::InvalidRefreshToken
            | Self::RefreshTokenReused
            | Self::SessionRevoked
            | Self::MfaRequired { .. }
            | Self::InvalidMfaCode
            | Self::InvalidMfaToken => 401,
            Self::AccountDisabled | Self::Forbidden(_) | Self::MfaEnrolmentRequired => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::EmailTaken | Self::UsernameTaken | Self::PhoneTaken | Self::LastAdmin => 409,
            Self::RequestTimeout => 408,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Validation(_) | Self::WeakPassword(_) | Self::PasswordReused => 422,
            Self::RateLimited { .. } => 429,
            Self::ServiceUnavailable { .. } => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The `mfa_token` and `methods` an `mfa_required` problem carries.
    pub fn mfa_challenge(&self) -> Option<(&str, &[&'static str])> {
        match self {
            Self::MfaRequired { token, methods } => Some((token, methods)),
            _ => None,
        }
    }

    pub fn field_errors(&self) -> Option<&[FieldError]> {
        match self {
            Self::Validation(errors) | Self::WeakPassword(errors) => Some(errors),
            _ => None,
        }
    }
}

/// The RFC 9457 body. `errors` appears only for field-level problems.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://doorman.dev/problems/validation_failed",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "the request has invalid fields",
    "code": "validation_failed",
    "errors": [{"field": "email", "code": "invalid_email", "message": "not a valid email address"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case error code from the contract.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// `mfa_required` only: the token to finish the sign-in with at `POST /api/v1/auth/mfa`
    /// (single use, 5 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// `mfa_required` only: the second factors the account has, of `totp`,
    /// `recovery_code`, `passkey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
}
