//! `/api/v1/auth`: login, refresh, logout, introspection, password reset.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, ResponseError, post, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::TokenPair;
use super::extract::{ApiJson, BODY_LIMIT, parse_object};
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
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple"}))]
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
/// For an account with a second factor, a right password answers `401 mfa_required`
/// whose body also carries `mfa_token` and `methods`: finish at `POST /api/v1/auth/mfa`.
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
        (status = 401, description = "`invalid_credentials`, or `mfa_required` (a right password for an account with a second factor; the body carries `mfa_token` and `methods`)", body = Problem, content_type = "application/problem+json"),
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

/// The OAuth 2.0 password grant (RFC 6749 §4.3.2), form-encoded.
#[derive(ToSchema)]
#[schema(example = json!({
    "grant_type": "password",
    "username": "ada@example.com",
    "password": "correct horse battery staple"
}))]
pub struct TokenRequest {
    /// `password`.
    #[schema(example = "password")]
    pub grant_type: String,
    /// An email address, a username or a phone number (E.164).
    #[schema(example = "ada@example.com")]
    pub username: String,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
    /// Ignored: doorman has no scopes.
    pub scope: Option<String>,
}

impl TokenRequest {
    /// Reads the form as RFC 6749 §3.2 asks: an empty parameter counts as absent, a repeated
    /// one is refused, unknown ones (`client_id`, `client_secret`) are ignored.
    fn parse(body: &[u8]) -> Result<Self, TokenError> {
        const NAMES: [&str; 4] = ["grant_type", "username", "password", "scope"];
        let mut values: [Option<String>; 4] = Default::default();
        for (name, value) in form_urlencoded::parse(body) {
            let Some(at) = NAMES.iter().position(|known| *known == name) else {
                continue;
            };
            if !value.is_empty() && values[at].replace(value.into_owned()).is_some() {
                return Err(TokenError::Request(format!(
                    "the {name} parameter is given more than once"
                )));
            }
        }
        let [grant_type, username, password, scope] = values;
        let missing = |name: &str| TokenError::Request(format!("the {name} parameter is missing"));
        let grant_type = grant_type.ok_or_else(|| missing("grant_type"))?;
        if grant_type != "password" {
            return Err(TokenError::GrantType);
        }
        Ok(Self {
            grant_type,
            username: username.ok_or_else(|| missing("username"))?,
            password: password.ok_or_else(|| missing("password"))?,
            scope,
        })
    }

    /// The login request this grant is: `username` is an email address when it has an `@`,
    /// a phone number when it starts with `+` (neither can be in a username), else a username.
    fn into_login(self) -> LoginRequest {
        let name = self.username;
        let trimmed = name.trim();
        let (email, username, phone_number) = if trimmed.contains('@') {
            (Some(name), None, None)
        } else if trimmed.starts_with('+') {
            (None, None, Some(name))
        } else {
            (None, Some(name), None)
        };
        LoginRequest {
            email,
            username,
            phone_number,
            password: self.password,
        }
    }
}

/// A failed token request.
enum TokenError {
    /// RFC 6749 `invalid_request`: a parameter missing, repeated or malformed.
    Request(String),
    /// RFC 6749 `unsupported_grant_type`: only `password` is offered.
    GrantType,
    /// What `/auth/login` would answer; wrong credentials become `invalid_grant`.
    Service(Error),
}

impl From<Error> for TokenError {
    fn from(err: Error) -> Self {
        Self::Service(err)
    }
}

/// An RFC 6749 §5.2 error as a problem: `code` is the OAuth `error`, and
/// `error_description` repeats `detail`.
#[derive(Serialize)]
struct OAuthProblem {
    #[serde(flatten)]
    problem: Problem,
    error: &'static str,
    error_description: String,
}

impl TokenError {
    fn into_response(self) -> HttpResponse {
        let (error, description) = match self {
            Self::Request(detail) => ("invalid_request", detail),
            Self::GrantType => (
                "unsupported_grant_type",
                "the only grant_type offered is password".to_owned(),
            ),
            Self::Service(err @ (Error::InvalidCredentials | Error::AccountDisabled)) => {
                ("invalid_grant", err.to_string())
            }
            Self::Service(Error::Validation(errors)) => ("invalid_request", describe(&errors)),
            Self::Service(other) => return other.error_response(),
        };
        let status = StatusCode::BAD_REQUEST;
        let body = OAuthProblem {
            problem: Problem {
                type_: format!("https://doorman.dev/problems/{error}"),
                title: status.canonical_reason().unwrap_or("Error").to_owned(),
                status: status.as_u16(),
                detail: description.clone(),
                code: error.to_owned(),
                errors: None,
                mfa_token: None,
                methods: None,
            },
            error,
            error_description: description,
        };
        HttpResponse::build(status)
            .content_type("application/problem+json")
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(body)
    }
}

/// Field problems of the login name or password, told in terms of the form's parameters.
fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| {
            let parameter = if e.field == "password" {
                "password"
            } else {
                "username"
            };
            format!("{parameter} {}", e.message)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One response of each RFC 6749 error the token endpoint gives, for the document's examples.
pub fn token_error_samples() -> Vec<HttpResponse> {
    [
        TokenError::Request("the password parameter is missing".into()),
        TokenError::GrantType,
        TokenError::Service(Error::InvalidCredentials),
    ]
    .into_iter()
    .map(TokenError::into_response)
    .collect()
}

/// Sign in for a token the OAuth 2.0 way (password grant), as Authorize in Swagger UI does.
///
/// The form's `username` is an email address, a username or a phone number. It is the same
/// sign-in as `/api/v1/auth/login` (lockout, per-IP limit, session, audit), answered as
/// RFC 6749 §5.1 (`access_token`, `token_type`, `expires_in`, `refresh_token`) with the rest
/// of doorman's token pair beside. Errors follow RFC 6749 §5.2: 400 with `error` and
/// `error_description` (and `code` equal to `error`); a locked account, the per-IP limit and
/// a full hashing queue answer 429 and 503 as on login. `scope`, `client_id`,
/// `client_secret` and HTTP Basic client credentials are ignored: doorman has no clients.
#[utoipa::path(
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "OK", body = TokenPair),
        (status = 400, description = "`invalid_request` (a parameter missing or repeated, or not a form), `invalid_grant` (wrong credentials, or a disabled account after a correct password) or `unsupported_grant_type`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: over the per-IP limit, or the account or name is locked; `Retry-After` gives the seconds to wait", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: hashing queue full", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/token", wrap = "from_fn(rate_limit)")]
pub async fn issue_token(
    ctx: web::Data<Context>,
    client: ClientInfo,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match password_grant(&ctx, &client, &req, payload).await {
        Ok(pair) => no_store(pair),
        Err(err) => err.into_response(),
    }
}

async fn password_grant(
    ctx: &Context,
    client: &ClientInfo,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<TokenPair, TokenError> {
    let body = read_form(req, payload).await?;
    let request = TokenRequest::parse(&body)?.into_login();
    let name = request.login_name()?;
    Ok(auth::login(ctx, name, &request.password, client)
        .await?
        .into())
}

/// The body of a form post, at most 64 KiB.
async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<Vec<u8>, TokenError> {
    if media_type(req) != "application/x-www-form-urlencoded" {
        return Err(TokenError::Request(
            "the request body must be application/x-www-form-urlencoded".into(),
        ));
    }
    read_body(req, payload).await.map_err(|err| match err {
        Error::MalformedRequest(message) => TokenError::Request(message),
        other => other.into(),
    })
}

/// The request's media type, lower-cased, without parameters (empty when none).
fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The request body, at most 64 KiB (`413` beyond).
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, Error> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT) {
        return Err(Error::PayloadTooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| Error::MalformedRequest("the request body could not be read".into()))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(Error::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The `refresh_token` of the last login or refresh.
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair in the same session.
///
/// A refresh token can be exchanged once. Presented again within the reuse grace interval
/// (default 10 s) it returns a new access token and the session's current refresh token;
/// after that it is treated as theft: the session is revoked (`refresh_token_reused`).
///
/// Refresh tokens are signed (HS256) with a secret that is never published, so no service
/// verifying against the JWKS accepts one. Refresh tokens issued before that change (signed
/// with the access key) are accepted until they expire.
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

/// RFC 7662 §2.1: as JSON or as a form (`application/x-www-form-urlencoded`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectRequest {
    /// An access or refresh token.
    pub token: String,
    /// `access_token` or `refresh_token`: a hint only; every kind is looked for whatever it says.
    pub token_type_hint: Option<String>,
}

impl IntrospectRequest {
    /// Reads the form as RFC 7662 clients send it: an empty parameter counts as absent, a
    /// repeated one is refused, others (`client_id`, `client_secret`) are ignored.
    fn from_form(body: &[u8]) -> Result<Self, Error> {
        let (mut token, mut hint) = (None, None);
        for (name, value) in form_urlencoded::parse(body) {
            let slot = match name.as_ref() {
                "token" => &mut token,
                "token_type_hint" => &mut hint,
                _ => continue,
            };
            if !value.is_empty() && slot.replace(value.into_owned()).is_some() {
                return Err(Error::field(
                    &name,
                    "repeated",
                    format!("the {name} parameter is given more than once"),
                ));
            }
        }
        Ok(Self {
            token: token.ok_or_else(|| Error::field("token", "required", "is required"))?,
            token_type_hint: hint,
        })
    }

    /// A JSON object or a form; any other media type is `415`.
    async fn read(req: &HttpRequest, payload: web::Payload) -> Result<Self, Error> {
        let mime = media_type(req);
        let json = mime == "application/json"
            || (mime.starts_with("application/") && mime.ends_with("+json"));
        let form = mime == "application/x-www-form-urlencoded";
        if !json && !form {
            // Still refuse an oversized body as such first, as the JSON extractor does.
            read_body(req, payload).await?;
            return Err(Error::UnsupportedMediaType);
        }
        let body = read_body(req, payload).await?;
        if form {
            Self::from_form(&body)
        } else {
            parse_object(&body)
        }
    }
}

/// RFC 7662 §2.2; exactly `{"active": false}` when the token is not active.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct IntrospectResponse {
    pub active: bool,
    /// RFC 7662's `token_type`, in RFC 6749 §5.1's sense: how the token is used. `Bearer`
    /// for an access token; absent for a refresh token, which is no access token (`typ`
    /// says `refresh`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Bearer")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
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
    /// How the token's session was signed in (RFC 8176), e.g. `["pwd", "otp", "mfa"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["pwd", "otp", "mfa"]))]
    pub amr: Option<Vec<String>>,
}

/// Ask whether a token is active (RFC 7662).
///
/// Active means valid, unexpired, its session live and its user active (a refresh token
/// must also be the session's current one). The body is JSON or, as RFC 7662 clients send
/// it, a form; `token_type_hint` is only a hint, and other form parameters (`client_id`,
/// `client_secret`) are ignored.
#[utoipa::path(
    tag = "auth",
    request_body(content(
        (IntrospectRequest = "application/json"),
        (IntrospectRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "OK", body = IntrospectResponse),
        (status = 400, description = "`malformed_request`: not JSON, or not an object", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: neither JSON nor a form", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `token` missing or repeated, or an unknown JSON field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/introspect", wrap = "from_fn(rate_limit)")]
pub async fn introspect(
    ctx: web::Data<Context>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let body = IntrospectRequest::read(&req, payload).await?;
    let found = auth::introspect(&ctx, &body.token).await?;
    let amr = found.amr;
    let response = match (found.active, found.claims) {
        (true, Some(claims)) => IntrospectResponse {
            active: true,
            token_type: (claims.typ == TokenType::Access).then_some("Bearer"),
            iss: Some(claims.iss),
            aud: Some(claims.aud),
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
            amr,
        },
        _ => IntrospectResponse::default(),
    };
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(response))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
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
    #[schema(example = "analytical engine punch cards")]
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
