//! The web console: pages for people, served by doorman itself. Each page handler calls the
//! same service functions as its JSON twin under `/api/v1`; the pages add only what a
//! browser needs: a cookie session, CSRF tokens, forms that work without JavaScript
//! (POST → redirect → GET) and friendly error pages.

mod admin;
mod assets;
mod auth;
mod dashboard;
mod profile;
mod webhooks;

use std::cell::RefCell;
use std::collections::HashMap;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, Encoding, HeaderValue};
use actix_web::middleware::{Compress, Next, from_fn};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;

use crate::error::{Error, FieldError};
use crate::service::Context;
use crate::service::auth::{self as auth_service, Principal};
use crate::service::mfa;
use crate::service::policy::{self, Action, Reach};

pub use assets::{passkey_script, stylesheet};

/// The request id, put into the request's extensions by `request_context`, so that an
/// error page can show it.
#[derive(Clone)]
pub struct RequestId(pub String);

/// Registers the pages and assets. Registered last: its empty-prefix scope sends every path
/// it does not know to the app's default service (404 or 405).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("")
            .route("/", web::get().to(auth::get_home))
            .route("/assets/{name}", web::get().to(assets::get_asset))
            .route("/login", web::get().to(auth::get_login))
            .route("/login", web::post().to(auth::post_login))
            .route("/login/passkey", web::post().to(auth::post_login_passkey))
            .route("/login/mfa", web::post().to(auth::post_login_mfa))
            .route("/logout", web::post().to(auth::post_logout))
            .route("/register", web::get().to(auth::get_register))
            .route("/register", web::post().to(auth::post_register))
            .route("/forgot-password", web::get().to(auth::get_forgot))
            .route("/forgot-password", web::post().to(auth::post_forgot))
            .route("/reset-password", web::get().to(auth::get_reset))
            .route("/reset-password", web::post().to(auth::post_reset))
            .route("/dashboard", web::get().to(dashboard::get_dashboard))
            .route("/dashboard/tasks", web::post().to(dashboard::post_task))
            .route(
                "/dashboard/tasks/{id}",
                web::post().to(dashboard::post_task_change),
            )
            .route("/profile", web::get().to(profile::get_profile))
            .route("/profile", web::post().to(profile::post_profile))
            .route("/profile/password", web::post().to(profile::post_password))
            .route("/profile/sessions", web::post().to(profile::post_sessions))
            .route("/profile/delete", web::post().to(profile::post_delete))
            .route(
                "/profile/passkeys/options",
                web::post().to(profile::post_passkey_options),
            )
            .route("/profile/passkeys", web::post().to(profile::post_passkey))
            .route(
                "/profile/passkeys/{id}/delete",
                web::post().to(profile::post_passkey_delete),
            )
            .route("/profile/mfa/totp", web::post().to(profile::post_mfa_begin))
            .route(
                "/profile/mfa/totp/confirm",
                web::post().to(profile::post_mfa_confirm),
            )
            .route(
                "/profile/mfa/recovery-codes",
                web::post().to(profile::post_mfa_recovery_codes),
            )
            .route(
                "/profile/mfa/totp/off",
                web::post().to(profile::post_mfa_off),
            )
            .route("/admin-dashboard", web::get().to(admin::get_admin))
            .route("/admin-dashboard/users", web::post().to(admin::post_create))
            .route(
                "/admin-dashboard/users/{id}",
                web::get().to(admin::get_admin_user),
            )
            .route(
                "/admin-dashboard/users/{id}",
                web::post().to(admin::post_admin_user),
            )
            .route("/admin-dashboard/audit", web::get().to(admin::get_audit))
            .route(
                "/admin-dashboard/webhooks",
                web::get().to(webhooks::get_webhooks),
            )
            .route(
                "/admin-dashboard/webhooks",
                web::post().to(webhooks::post_webhooks),
            )
            .route(
                "/admin-dashboard/webhooks/{id}",
                web::get().to(webhooks::get_webhook),
            )
            .route(
                "/admin-dashboard/webhooks/{id}",
                web::post().to(webhooks::post_webhook),
            )
            .wrap(from_fn(page_frame))
            .wrap(Compress::default()),
    );
}

/// The response headers every page carries, and the HTML face of errors: a page that failed
/// (see [`Failure`]) or an unknown path asked for by a browser becomes a friendly page with
/// the request id.
async fn page_frame(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let is_reset = req.path() == "/reset-password";
    let gzip = accepts_gzip(&req);
    let mut res = next.call(req).await?.map_into_boxed_body();
    let failed = res.response().extensions().get::<FailedPage>().cloned();
    let fallback_404 = res.status() == StatusCode::NOT_FOUND
        && wants_html
        && res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let page = match failed {
        Some(page) => Some(page),
        None if fallback_404 => Some(FailedPage {
            status: StatusCode::NOT_FOUND,
            heading: "Page not found",
            message: "There is no page at this address.".into(),
        }),
        None => None,
    };
    if let Some(page) = page {
        let request_id = res
            .request()
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let signed_in = res.request().cookie(&session_cookie_name(&res)).is_some();
        let mut chrome = Chrome::anonymous(page.heading);
        chrome.bare = signed_in;
        let html = ErrorTemplate {
            chrome,
            status: page.status.as_u16(),
            message: page.message,
            request_id,
            signed_in,
        }
        .render()
        .unwrap_or_else(|_| page.heading.to_owned());
        let mut response = HttpResponse::build(page.status);
        response.content_type("text/html; charset=utf-8");
        if let Some(retry) = res.headers().get(header::RETRY_AFTER) {
            response.insert_header((header::RETRY_AFTER, retry.clone()));
        }
        let response = response.body(html);
        res = res.into_response(response);
    }
    let headers = res.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static(if is_reset {
            "no-referrer"
        } else {
            "same-origin"
        }),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if gzip && is_html(&res) {
        res = gzip_body(res);
    }
    Ok(res)
}

/// The pages' Content-Security-Policy: nothing runs, nothing loads but our stylesheet.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// [`CSP`] for the two pages that load the passkey script: scripts from this origin only
/// (no inline script), and requests back to it (the ceremony's options).
const CSP_WITH_SCRIPT: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                               style-src 'self'; img-src 'self' data:; form-action 'self'; \
                               frame-ancestors 'none'; base-uri 'none'";

/// A page that loads [`passkey_script`]: its CSP lets that script run.
pub fn with_script(outcome: Outcome) -> Outcome {
    let mut response = outcome?;
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP_WITH_SCRIPT),
    );
    Ok(response)
}

/// Whether the client takes gzip (by `Accept-Encoding` and its q-values).
fn accepts_gzip(req: &ServiceRequest) -> bool {
    let supported = [Encoding::gzip(), Encoding::identity()];
    req.get_header::<header::AcceptEncoding>()
        .and_then(|accepted| accepted.negotiate(supported.iter()))
        .is_some_and(|chosen| chosen == Encoding::gzip())
}

fn is_html(res: &ServiceResponse<BoxBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
}

/// Pages are compressed here, with gzip at level 1, rather than by `Compress`: it would
/// answer browsers (which list `br`) with brotli, whose encoder allocates a 4 MiB window
/// per response, and it hands every body over 1 KiB to a blocking thread and back. A page
/// is a few KiB of HTML (its lists are paged), which level 1 compresses to a tenth, here on
/// the worker; `Compress` still serves the stylesheet and other clients. A body too small
/// to gain, or one that is not in memory, stays as it is.
fn gzip_body(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    const SMALLEST: u64 = 1024;
    match res.response().body().size() {
        BodySize::Sized(n) if n >= SMALLEST => {}
        _ => return res,
    }
    let (req, response) = res.into_parts();
    let (mut response, body) = response.into_parts();
    let bytes = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        Err(body) => return ServiceResponse::new(req, response.set_body(body)),
    };
    let compressed = match gzip(&bytes) {
        Ok(compressed) => compressed,
        Err(_) => return ServiceResponse::new(req, response.set_body(BoxBody::new(bytes))),
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    ServiceResponse::new(req, response.set_body(BoxBody::new(compressed)))
}

thread_local! {
    /// One deflate compressor per worker thread, reset once for each page: a new one
    /// allocates and zeroes some hundreds of KiB of state, which cost more than compressing
    /// a page (and `DeflateEncoder::reset` zeroes it twice a page, before and after).
    static DEFLATE: RefCell<Option<flate2::Compress>> = const { RefCell::new(None) };
}

/// `bytes` as a gzip member (RFC 1952): a fixed header, the deflate stream, CRC-32 and size.
fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let size = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    DEFLATE.with_borrow_mut(|slot| {
        let deflate = slot.get_or_insert_with(|| Compress::new(Compression::fast(), false));
        deflate.reset();
        let mut out = Vec::with_capacity(bytes.len() / 4 + 64);
        out.extend_from_slice(&HEADER);
        loop {
            let read = usize::try_from(deflate.total_in()).unwrap_or(bytes.len());
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity());
            }
            let rest = bytes.get(read..).unwrap_or_default();
            match deflate.compress_vec(rest, &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => break,
                Ok(Status::Ok | Status::BufError) => {}
                Err(err) => {
                    // Start the next page from a new compressor.
                    *slot = None;
                    return Err(std::io::Error::other(err));
                }
            }
        }
        let mut crc = flate2::Crc::new();
        crc.update(bytes);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        Ok(out)
    })
}

fn session_cookie_name(res: &ServiceResponse<BoxBody>) -> String {
    res.request()
        .app_data::<web::Data<Context>>()
        .map_or_else(|| SESSION.to_owned(), |ctx| cookie_name(ctx, SESSION))
}

/// Everything the layout shows around a page.
pub struct Chrome {
    pub title: String,
    pub css: &'static str,
    /// The page's script, if it has one (see [`with_script`]).
    pub script: Option<&'static str>,
    /// The signed-in user's email and whether they are staff; `None` when signed out.
    pub user: Option<(String, bool)>,
    pub csrf: String,
    pub notice: Option<&'static str>,
    pub section: &'static str,
    /// No navigation (an error page for someone signed in: no CSRF token to sign out with).
    pub bare: bool,
}

impl Chrome {
    pub fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            css: stylesheet(),
            script: None,
            user: None,
            csrf: String::new(),
            notice: None,
            section: "",
            bare: false,
        }
    }

    pub fn signed_in(title: &str, who: &SignedIn, section: &'static str) -> Self {
        Self {
            title: title.to_owned(),
            css: stylesheet(),
            script: None,
            user: Some((
                who.principal.user.email.clone(),
                may_administer(&who.principal.user),
            )),
            csrf: who.csrf.clone(),
            notice: None,
            section,
            bare: false,
        }
    }

    /// The page loads the passkey script (render it through [`with_script`]).
    pub fn with_passkey_script(mut self) -> Self {
        self.script = Some(passkey_script());
        self
    }

    pub fn with_notice(mut self, notice: Option<&'static str>) -> Self {
        self.notice = notice;
        self
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorTemplate {
    chrome: Chrome,
    status: u16,
    message: String,
    request_id: String,
    signed_in: bool,
}

/// What went wrong on a form: a summary for `role="alert"` and the bad fields.
#[derive(Debug, Default)]
pub struct FormErrors {
    pub summary: Option<String>,
    pub fields: Vec<FieldError>,
}

impl FormErrors {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    pub fn any(&self) -> bool {
        self.summary.is_some() || !self.fields.is_empty()
    }

    /// Shapes a service error for a form, or hands it back when a form cannot show it.
    pub fn from_error(err: Error) -> Result<Self, Failure> {
        let field = |name: &str, message: &str| Self {
            summary: Some("Please correct the marked fields.".into()),
            fields: vec![FieldError::new(name, "", message)],
        };
        Ok(match err {
            Error::Validation(fields) | Error::WeakPassword(fields) => Self {
                summary: Some("Please correct the marked fields.".into()),
                fields: fields
                    .into_iter()
                    .map(|mut e| {
                        e.message = sentence(&e.message);
                        e
                    })
                    .collect(),
            },
            Error::EmailTaken => field("email", "This email address is already registered."),
            Error::UsernameTaken => field("username", "This username is already taken."),
            Error::PhoneTaken => field("phone_number", "This phone number is already registered."),
            Error::PasswordReused => field(
                "new_password",
                "This password was used recently; choose another one.",
            ),
            Error::InvalidCredentials => Self::summary("The sign-in details are not correct."),
            Error::AccountDisabled => Self::summary("This account is disabled."),
            Error::LastAdmin => {
                Self::summary("Refused (last_admin): this would leave no active admin.")
            }
            Error::Forbidden(why) => Self::summary(&format!("Not allowed: {why}.")),
            Error::InvalidResetToken => Self::summary(
                "This reset link is unknown, expired or already used. Ask for a new one.",
            ),
            Error::RateLimited { retry_after_secs } => Self::summary(&format!(
                "Too many attempts. Please wait {} and try again.",
                seconds(retry_after_secs)
            )),
            Error::ServiceUnavailable { retry_after_secs } => Self::summary(&format!(
                "The service is busy. Please wait {} and try again.",
                seconds(retry_after_secs)
            )),
            Error::NotFound => Self::summary("It no longer exists."),
            other => return Err(Failure::Error(other)),
        })
    }

    pub fn summary(message: &str) -> Self {
        Self {
            summary: Some(message.to_owned()),
            fields: Vec::new(),
        }
    }

    pub fn field(mut self, name: &str, message: &str) -> Self {
        self.summary
            .get_or_insert_with(|| "Please correct the marked fields.".into());
        self.fields.push(FieldError::new(name, "", message));
        self
    }
}

/// "must be …" → "Must be …."
pub(super) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

fn seconds(n: u64) -> String {
    match n {
        0 | 1 => "1 second".into(),
        n if n < 120 => format!("{n} seconds"),
        n => format!("{} minutes", n.div_ceil(60)),
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum Failure {
    /// A service error: its status, with a friendly page.
    Error(Error),
    /// The CSRF checks refused the form.
    Csrf,
    /// Not signed in (or the session has ended): to the login page, back here after.
    SignIn(String),
    /// Signed in, but the account must set up a second factor first: to the profile.
    Enrol,
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::Error(err)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error(err) => err.fmt(f),
            Self::Csrf => f.write_str("the form's CSRF checks failed"),
            Self::SignIn(_) => f.write_str("not signed in"),
            Self::Enrol => f.write_str("a second factor must be set up first"),
        }
    }
}

/// Read by [`page_frame`], which renders the page.
#[derive(Clone)]
struct FailedPage {
    status: StatusCode,
    heading: &'static str,
    message: String,
}

impl ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Error(err) => err.status_code(),
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::SignIn(_) | Self::Enrol => StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (status, heading, message) = match self {
            Self::SignIn(next) => {
                let location = if next.is_empty() || next == "/" {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", encode(next))
                };
                return see_other(&location);
            }
            Self::Enrol => return see_other("/profile?notice=mfa_required"),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "Request refused",
                "This form was sent from another site or has expired. Go back, reload the page \
                 and try again."
                    .to_owned(),
            ),
            Self::Error(err) => {
                if let Error::Internal(source) = err {
                    tracing::error!(error = ?source, "internal error on a page");
                }
                let (heading, message) = match err {
                    Error::NotFound => ("Page not found", "There is nothing here.".to_owned()),
                    Error::Forbidden(_) => (
                        "Not allowed",
                        "Your account may not open this page.".to_owned(),
                    ),
                    Error::RateLimited { retry_after_secs } => (
                        "Too many requests",
                        format!("Please wait {} and try again.", seconds(*retry_after_secs)),
                    ),
                    Error::ServiceUnavailable { retry_after_secs } => (
                        "Temporarily unavailable",
                        format!(
                            "The service is busy or its database is unreachable. Please wait {} \
                             and try again.",
                            seconds(*retry_after_secs)
                        ),
                    ),
                    Error::MalformedRequest(_) | Error::Validation(_) => (
                        "Bad request",
                        "The request could not be understood.".to_owned(),
                    ),
                    _ if err.status_code().is_server_error() => (
                        "Something went wrong",
                        "An unexpected error occurred. It has been logged.".to_owned(),
                    ),
                    _ => ("Request refused", sentence(&err.to_string())),
                };
                (err.status_code(), heading, message)
            }
        };
        let mut response = HttpResponse::build(status);
        if let Self::Error(
            Error::RateLimited { retry_after_secs }
            | Error::ServiceUnavailable { retry_after_secs },
        ) = self
        {
            response.insert_header((header::RETRY_AFTER, (*retry_after_secs).max(1).to_string()));
        }
        let mut response = response.finish();
        response.extensions_mut().insert(FailedPage {
            status,
            heading,
            message,
        });
        response
    }
}

pub type Outcome = Result<HttpResponse, Failure>;

/// POST → redirect → GET.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A rendered page (`status` 200, or 422 for a form that comes back with errors).
pub fn html(status: StatusCode, template: &impl Template) -> Outcome {
    let body = template.render().map_err(Error::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub fn form_status(errors: &FormErrors) -> StatusCode {
    if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

// ---- cookies and the signed-in person ----

/// The cookie that holds the console session's random token.
const SESSION: &str = "doorman_session";
/// Before sign-in: the double-submit CSRF cookie for the public forms.
const FORM_CSRF: &str = "doorman_csrf";

fn secure(ctx: &Context) -> bool {
    ctx.settings.public_url.starts_with("https://")
}

/// `__Host-` names when the console is served over https (with `Secure`).
fn cookie_name(ctx: &Context, base: &str) -> String {
    if secure(ctx) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

fn cookie(ctx: &Context, base: &str, value: String) -> Cookie<'static> {
    Cookie::build(cookie_name(ctx, base), value)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure(ctx))
        .finish()
}

fn expired_cookie(ctx: &Context, base: &str) -> Cookie<'static> {
    let mut cookie = cookie(ctx, base, String::new());
    cookie.make_removal();
    cookie
}

/// The signed-in person and the CSRF token of their forms.
pub struct SignedIn {
    pub principal: Principal,
    pub csrf: String,
}

/// The CSRF token of a session's forms: derived from the cookie token, so it is stored
/// nowhere and cannot be computed without the cookie.
fn session_csrf(token: &str) -> String {
    crate::crypto::sha256_hex(format!("doorman console csrf\0{token}"))
}

/// The session cookie's token, when the request carries a plausible one.
pub fn session_token(req: &HttpRequest, ctx: &Context) -> Option<String> {
    let token = req.cookie(&cookie_name(ctx, SESSION))?;
    let token = token.value();
    (!token.is_empty() && token.len() <= 100).then(|| token.to_owned())
}

impl SignedIn {
    /// The person a session cookie's token names, with the CSRF token of their forms.
    pub fn new(principal: Principal, token: &str) -> Self {
        Self {
            principal,
            csrf: session_csrf(token),
        }
    }
}

/// The signed-in person, if the session cookie names a live session.
pub async fn current(req: &HttpRequest, ctx: &Context) -> Result<Option<SignedIn>, Failure> {
    let Some(token) = session_token(req, ctx) else {
        return Ok(None);
    };
    match auth_service::authenticate_cookie(ctx, &token).await {
        Ok(principal) => Ok(Some(SignedIn::new(principal, &token))),
        Err(Error::SessionRevoked) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The signed-in person, or a redirect to the login page that comes back here; an account
/// that must set up a second factor first is sent to its profile from every other page.
pub async fn require(req: &HttpRequest, ctx: &Context) -> Result<SignedIn, Failure> {
    let who = current(req, ctx).await?.ok_or_else(|| sign_in_first(req))?;
    match mfa::check_enrolment(ctx, &who.principal, reach(req)).await {
        Err(Error::MfaEnrolmentRequired) => Err(Failure::Enrol),
        other => other.map(|()| who).map_err(Failure::from),
    }
}

/// The pages an account that must set up a second factor may still use: its profile (to
/// read), its second factors and signing out.
fn reach(req: &HttpRequest) -> Reach {
    let path = req.path();
    let enrolment = (path == "/profile" && req.method() == actix_web::http::Method::GET)
        || path == "/logout"
        || path.starts_with("/profile/mfa/")
        || path.starts_with("/profile/passkeys");
    if enrolment {
        Reach::Enrolment
    } else {
        Reach::Anything
    }
}

/// Where someone who is not (or no longer) signed in is sent: the login page, which comes
/// back to this page after (GET only).
pub fn sign_in_first(req: &HttpRequest) -> Failure {
    let next = match req.query_string() {
        "" => req.path().to_owned(),
        q => format!("{}?{q}", req.path()),
    };
    Failure::SignIn(if req.method() == actix_web::http::Method::GET {
        next
    } else {
        String::new()
    })
}

/// The pre-sign-in CSRF token: the cookie's, or a new one to be set with the page.
fn form_csrf(
    req: &HttpRequest,
    ctx: &Context,
) -> Result<(String, Option<Cookie<'static>>), Failure> {
    if let Some(c) = req.cookie(&cookie_name(ctx, FORM_CSRF))
        && c.value().len() == 43
    {
        return Ok((c.value().to_owned(), None));
    }
    let token = crate::service::password_reset::new_token()?;
    Ok((token.clone(), Some(cookie(ctx, FORM_CSRF, token))))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The checks every POST passes before it changes anything: not from another site (by
/// `Sec-Fetch-Site`, and by `Origin` when it names one), and the form's token.
fn check_origin(req: &HttpRequest, ctx: &Context) -> Result<(), Failure> {
    let fetch_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if fetch_site == Some("cross-site") {
        return Err(Failure::Csrf);
    }
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| Failure::Csrf)?;
    if origin == "null" {
        // Sent from no-referrer pages (the reset page): Sec-Fetch-Site decided above.
        return Ok(());
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or_default();
    let public = public_origin(&ctx.settings.public_url);
    if (!host.is_empty() && origin_host.eq_ignore_ascii_case(host))
        || public.is_some_and(|p| p.eq_ignore_ascii_case(origin))
    {
        Ok(())
    } else {
        Err(Failure::Csrf)
    }
}

/// `scheme://host[:port]` of a URL.
fn public_origin(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")? + 3;
    let end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    Some(&url[..end])
}

/// A form body, as text fields.
pub struct Form(HashMap<String, String>);

impl Form {
    pub fn parse(body: &[u8]) -> Result<Self, Failure> {
        let fields = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map_err(|_| Error::MalformedRequest("the form could not be read".into()))?;
        Ok(Self(fields.into_iter().collect()))
    }

    pub fn empty() -> Self {
        Self(HashMap::new())
    }

    pub fn set(&mut self, name: &str, value: Option<String>) {
        self.0.insert(name.to_owned(), value.unwrap_or_default());
    }

    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// The field, or `None` when it was left empty.
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
}

/// The registration fields of a form (the register page's, the admin's create form), as the
/// API's request body, so both parse them by the API's rules.
pub fn register_request(form: &Form) -> crate::http::users::RegisterRequest {
    crate::http::users::RegisterRequest {
        email: form.get("email").to_owned(),
        password: form.get("password").to_owned(),
        confirm_password: Some(form.get("confirm_password").to_owned()),
        username: form.opt("username"),
        first_name: form.opt("first_name"),
        last_name: form.opt("last_name"),
        phone_number: form.opt("phone_number"),
        date_of_birth: form.opt("date_of_birth"),
    }
}

/// An id from a path: one that is not a UUID names nothing (404).
pub fn path_id(raw: &str) -> Result<uuid::Uuid, Error> {
    uuid::Uuid::parse_str(raw).map_err(|_| Error::NotFound)
}

/// A signed-in person's POST: origin checks, then the session's CSRF token.
pub async fn signed_in_form(
    req: &HttpRequest,
    ctx: &Context,
    body: &[u8],
) -> Result<(SignedIn, Form), Failure> {
    check_origin(req, ctx)?;
    let who = require(req, ctx).await?;
    let form = Form::parse(body)?;
    if !constant_time_eq(form.get("csrf"), &who.csrf) {
        return Err(Failure::Csrf);
    }
    Ok((who, form))
}

/// A POST from a public form: origin checks, then the double-submit token.
pub fn public_form(req: &HttpRequest, ctx: &Context, body: &[u8]) -> Result<Form, Failure> {
    check_origin(req, ctx)?;
    let form = Form::parse(body)?;
    let cookie = req.cookie(&cookie_name(ctx, FORM_CSRF));
    match cookie {
        Some(c) if !c.value().is_empty() && constant_time_eq(form.get("csrf"), c.value()) => {
            Ok(form)
        }
        _ => Err(Failure::Csrf),
    }
}

/// The per-IP limit of the auth endpoints, for the pages that sign in, register or reset.
pub fn rate_limit(req: &HttpRequest) -> Result<(), Failure> {
    let limits = req.app_data::<web::Data<crate::http::limits::IpRateLimit>>();
    if let (Some(limits), Some(ip)) = (limits, crate::http::extract::client_ip(req))
        && let Err(retry_after_secs) = limits.check(ip)
    {
        return Err(Failure::Error(Error::RateLimited { retry_after_secs }));
    }
    Ok(())
}

/// Formats a time for a table cell.
pub fn when(at: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // Digit by digit: `format` reads its pattern anew at every call, and even `format!`
    // cost 4 % of a dashboard page, which shows twenty of these.
    let Ok(year @ 1000..=9999) = u32::try_from(at.year()) else {
        return at.format("%Y-%m-%d %H:%M UTC").to_string();
    };
    let mut out = String::with_capacity(20);
    let parts = [
        (year, 4, '-'),
        (at.month(), 2, '-'),
        (at.day(), 2, ' '),
        (at.hour(), 2, ':'),
        (at.minute(), 2, ' '),
    ];
    for (n, width, after) in parts {
        for place in (0..width).rev() {
            out.push(char::from_digit(n / 10_u32.pow(place) % 10, 10).unwrap_or('0'));
        }
        out.push(after);
    }
    out.push_str("UTC");
    out
}

/// Query parameters of a page, leniently: a parameter that does not parse is ignored.
pub fn query(req: &HttpRequest) -> HashMap<String, String> {
    parse_query(req.query_string())
}

pub fn parse_query(query_string: &str) -> HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query_string)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// A page number (from 1) from the query.
pub fn page_number(q: &HashMap<String, String>) -> i64 {
    q.get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=1_000_000).contains(p))
        .unwrap_or(1)
}

/// The notices that a redirect may ask the next page to show (by key; never free text).
pub fn notice(q: &HashMap<String, String>) -> Option<&'static str> {
    Some(match q.get("notice")?.as_str() {
        "signed_out" => "You are signed out.",
        "password_reset" => "Your password is set. Sign in with the new one.",
        "reset_sent" => {
            "If an account has this address, a reset link is on its way. Check your mail."
        }
        "account_deleted" => "Your account has been deleted.",
        "task_added" => "Task added.",
        "task_saved" => "Task saved.",
        "task_deleted" => "Task deleted.",
        "profile_saved" => "Profile saved.",
        "password_changed" => "Password changed. Your other sessions were signed out.",
        "session_revoked" => "Session revoked.",
        "others_revoked" => "All your other sessions were signed out.",
        "user_created" => "User created.",
        "user_saved" => "Done: the user was updated.",
        "role_changed" => "Done: the role was changed.",
        "activated" => "Done: the user was activated.",
        "deactivated" => "Done: the user was deactivated and signed out everywhere.",
        "sessions_revoked" => "Done: the user's sessions were revoked.",
        "user_deleted" => "Done: the user was deleted.",
        "passkey_added" => "Passkey added. You can now sign in with it.",
        "passkey_removed" => "Passkey removed.",
        "mfa_required" => {
            "Your account must have two-factor authentication. Set it up below to continue."
        }
        "mfa_expired" => "That sign-in took too long or had too many wrong codes. Sign in again.",
        "mfa_off" => "Two-factor authentication is off.",
        "webhook_paused" => "Done: the webhook is paused; its deliveries wait.",
        "webhook_resumed" => "Done: the webhook is active again.",
        "webhook_deleted" => "Done: the webhook was deleted.",
        _ => return None,
    })
}

/// Whether the admin pages are open to `user` (the policy decides; the page only asks).
pub(crate) fn may_administer(user: &crate::domain::User) -> bool {
    policy::may_attempt(user, Action::ListUsers).is_ok()
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::gzip;

    fn gunzip(member: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(member).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_time_reads_as_chrono_would_format_it() {
        use chrono::TimeZone as _;
        for (secs, nanos) in [
            (0, 0),
            (1_796_688_000, 0),
            (1_796_731_199, 999_999_999),
            (-62_135_596_800, 0),
            (253_402_300_800, 0),
        ] {
            let Some(at) = chrono::Utc.timestamp_opt(secs, nanos).single() else {
                unreachable!("a valid timestamp")
            };
            assert_eq!(
                super::when(&at),
                at.format("%Y-%m-%d %H:%M UTC").to_string()
            );
        }
    }

    #[test]
    fn pages_gzipped_one_after_another_on_one_compressor_each_decode_to_themselves()
    -> std::io::Result<()> {
        let page: Vec<u8> = (0..60_000_u32)
            .flat_map(|i| format!("<tr><td>Task {i}</td><td>{}</td></tr>", i % 7).into_bytes())
            .collect();
        let noise: Vec<u8> = (0..50_000_u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for input in [&b""[..], b"<p>a small page</p>", &page, &noise, b"again"] {
            let member = gzip(input)?;
            assert_eq!(&member[..3], &[0x1f, 0x8b, 8]);
            assert_eq!(gunzip(&member)?, input);
        }
        Ok(())
    }
}
