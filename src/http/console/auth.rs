//! Signing in and out, registering, and the password reset pages.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;

use super::{
    Chrome, Failure, Form, FormErrors, Outcome, SESSION, cookie, current, expired_cookie,
    form_csrf, form_status, html, notice, public_form, query, rate_limit, register_request,
    see_other, signed_in_form, with_script,
};
use crate::domain::{ChallengeId, Email, LoginName};
use crate::error::Error;
use crate::http::extract::client_info;
use crate::service::Context;
use crate::service::mfa::{self, SecondFactor};
use crate::service::{auth, passkeys, password_reset, users};

pub async fn get_home(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    Ok(match current(&req, &ctx).await? {
        Some(_) => see_other("/dashboard"),
        None => see_other("/login"),
    })
}

/// A same-site path to go to after signing in; anything else (another origin, a
/// scheme-relative `//host`, a backslash or control character) is ignored.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2000
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(next)
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    chrome: Chrome,
    identifier: String,
    next: String,
    errors: FormErrors,
}

/// Renders a public form page: the layout's chrome for someone signed out, with the
/// double-submit CSRF token (set as a cookie when it is new) for the page's form.
fn public_page<T: Template>(
    req: &HttpRequest,
    ctx: &Context,
    status: StatusCode,
    title: &str,
    note: Option<&'static str>,
    page: impl FnOnce(Chrome) -> T,
) -> Outcome {
    let (csrf, new_cookie) = form_csrf(req, ctx)?;
    let mut chrome = Chrome::anonymous(title).with_notice(note);
    chrome.csrf = csrf;
    let mut response = html(status, &page(chrome))?;
    if let Some(cookie) = new_cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| Error::internal(anyhow::anyhow!("cookie: {e}")))?;
    }
    Ok(response)
}

/// The sign-in page, empty or with what was typed and what was wrong.
fn login_page(
    req: &HttpRequest,
    ctx: &Context,
    note: Option<&'static str>,
    identifier: String,
    next: String,
    errors: FormErrors,
) -> Outcome {
    let page = public_page(req, ctx, form_status(&errors), "Sign in", note, |chrome| {
        LoginPage {
            chrome: chrome.with_passkey_script(),
            identifier,
            next,
            errors,
        }
    });
    // The sign-in page loads the passkey script.
    with_script(page)
}

pub async fn get_login(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    let q = query(&req);
    let next = q
        .get("next")
        .and_then(|n| safe_next(n))
        .unwrap_or("")
        .to_owned();
    if current(&req, &ctx).await?.is_some() {
        return Ok(see_other(if next.is_empty() {
            "/dashboard"
        } else {
            &next
        }));
    }
    login_page(
        &req,
        &ctx,
        notice(&q),
        String::new(),
        next,
        FormErrors::none(),
    )
}

/// Which kind of login name a person typed: an email has an `@`, a phone number is `+`
/// and digits, anything else is a username.
fn login_name(identifier: &str) -> LoginName {
    let value = identifier.trim();
    if value.contains('@') {
        LoginName::Email(value.to_lowercase())
    } else if value.starts_with('+')
        && value.len() > 1
        && value[1..].bytes().all(|b| b.is_ascii_digit())
    {
        LoginName::Phone(value.to_owned())
    } else {
        LoginName::Username(value.to_owned())
    }
}

pub async fn post_login(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let form = public_form(&req, &ctx, &body)?;
    let identifier = form.get("identifier").trim().to_owned();
    let next = safe_next(form.get("next")).unwrap_or("").to_owned();
    let mut errors = FormErrors::none();
    if identifier.is_empty() {
        errors = errors.field("identifier", "Enter your email, username or phone number.");
    } else if identifier.chars().count() > 254 || identifier.chars().any(char::is_control) {
        errors = errors.field(
            "identifier",
            "This is not an email, username or phone number.",
        );
    }
    if form.get("password").is_empty() {
        errors = errors.field("password", "Enter your password.");
    }
    if !errors.any() {
        rate_limit(&req)?;
        let client = client_info(&req);
        match auth::login_with_cookie(&ctx, login_name(&identifier), form.get("password"), &client)
            .await
        {
            Ok((_, token)) => {
                let mut response = see_other(if next.is_empty() { "/dashboard" } else { &next });
                response
                    .add_cookie(&cookie(&ctx, SESSION, token))
                    .map_err(|e| Error::internal(anyhow::anyhow!("cookie: {e}")))?;
                return Ok(response);
            }
            Err(Error::MfaRequired { token, .. }) => {
                return mfa_page(&req, &ctx, token, next, FormErrors::none());
            }
            Err(err) => errors = FormErrors::from_error(err)?,
        }
    }
    login_page(&req, &ctx, None, identifier, next, errors)
}

/// "Sign in with a passkey": the form the passkey script posts, with the ceremony's id
/// and the browser's answer.
pub async fn post_login_passkey(
    req: HttpRequest,
    ctx: web::Data<Context>,
    body: web::Bytes,
) -> Outcome {
    let form = public_form(&req, &ctx, &body)?;
    rate_limit(&req)?;
    let next = safe_next(form.get("next")).unwrap_or("").to_owned();
    let challenge = uuid::Uuid::parse_str(form.get("challenge_id")).map(ChallengeId);
    let credential = serde_json::from_str::<serde_json::Value>(form.get("credential"));
    let signed_in = match (challenge, credential) {
        (Ok(challenge), Ok(credential)) => {
            passkeys::login_with_cookie(&ctx, challenge, credential, &client_info(&req)).await
        }
        _ => Err(Error::InvalidCredentials),
    };
    let errors = match signed_in {
        Ok((_, token)) => {
            let mut response = see_other(if next.is_empty() { "/dashboard" } else { &next });
            response
                .add_cookie(&cookie(&ctx, SESSION, token))
                .map_err(|e| Error::internal(anyhow::anyhow!("cookie: {e}")))?;
            return Ok(response);
        }
        Err(Error::InvalidCredentials | Error::Validation(_)) => FormErrors::summary(
            "The passkey was not accepted. Try again, or sign in with your password.",
        ),
        Err(err) => FormErrors::from_error(err)?,
    };
    login_page(&req, &ctx, None, String::new(), next, errors)
}

#[derive(Template)]
#[template(path = "console/login_mfa.html")]
struct MfaStepPage {
    chrome: Chrome,
    mfa_token: String,
    next: String,
    errors: FormErrors,
}

/// The second step of signing in: the code, for the token a right password was given.
fn mfa_page(
    req: &HttpRequest,
    ctx: &Context,
    mfa_token: String,
    next: String,
    errors: FormErrors,
) -> Outcome {
    let title = "Two-factor authentication";
    public_page(req, ctx, form_status(&errors), title, None, |chrome| {
        MfaStepPage {
            chrome,
            mfa_token,
            next,
            errors,
        }
    })
}

/// A code as typed: six digits are a TOTP code, anything else a recovery code.
pub fn second_factor(code: &str) -> SecondFactor {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        SecondFactor::Totp(digits)
    } else {
        SecondFactor::RecoveryCode(code.to_owned())
    }
}

pub async fn post_login_mfa(
    req: HttpRequest,
    ctx: web::Data<Context>,
    body: web::Bytes,
) -> Outcome {
    let form = public_form(&req, &ctx, &body)?;
    let token = form.get("mfa_token").to_owned();
    let next = safe_next(form.get("next")).unwrap_or("").to_owned();
    let code = form.get("code").trim().to_owned();
    if token.is_empty() || token.len() > 100 {
        return Ok(see_other("/login?notice=mfa_expired"));
    }
    let errors = if code.is_empty() {
        FormErrors::none().field("code", "Enter the code from your authenticator app.")
    } else if code.chars().count() > 64 {
        FormErrors::none().field("code", "This is not a code.")
    } else {
        rate_limit(&req)?;
        let client = client_info(&req);
        match mfa::sign_in_with_cookie(&ctx, &token, second_factor(&code), &client).await {
            Ok((_, cookie_token)) => {
                let mut response = see_other(if next.is_empty() { "/dashboard" } else { &next });
                response
                    .add_cookie(&cookie(&ctx, SESSION, cookie_token))
                    .map_err(|e| Error::internal(anyhow::anyhow!("cookie: {e}")))?;
                return Ok(response);
            }
            Err(Error::InvalidMfaCode) => FormErrors::none().field(
                "code",
                "This code is not correct, or was used already. Try the next one.",
            ),
            Err(Error::InvalidMfaToken) => return Ok(see_other("/login?notice=mfa_expired")),
            Err(err) => FormErrors::from_error(err)?,
        }
    };
    mfa_page(&req, &ctx, token, next, errors)
}

pub async fn post_logout(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let (who, _) = match signed_in_form(&req, &ctx, &body).await {
        Err(Failure::SignIn(_)) => return Ok(see_other("/login")),
        other => other?,
    };
    auth::logout(&ctx, &who.principal, &client_info(&req)).await?;
    let mut response = see_other("/login?notice=signed_out");
    response
        .add_cookie(&expired_cookie(&ctx, SESSION))
        .map_err(|e| Error::internal(anyhow::anyhow!("cookie: {e}")))?;
    Ok(response)
}

#[derive(Template)]
#[template(path = "console/register.html")]
struct RegisterPage {
    chrome: Chrome,
    open: bool,
    form: Form,
    errors: FormErrors,
}

/// The registration page (or, when registration is closed, the page that says so).
fn register_page(req: &HttpRequest, ctx: &Context, form: Form, errors: FormErrors) -> Outcome {
    let open = ctx.settings.registration_open;
    let status = form_status(&errors);
    public_page(req, ctx, status, "Create account", None, |chrome| {
        RegisterPage {
            chrome,
            open,
            form,
            errors,
        }
    })
}

pub async fn get_register(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    if current(&req, &ctx).await?.is_some() {
        return Ok(see_other("/dashboard"));
    }
    register_page(&req, &ctx, Form::empty(), FormErrors::none())
}

pub async fn post_register(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let form = public_form(&req, &ctx, &body)?;
    rate_limit(&req)?;
    let client = client_info(&req);
    let registered = match register_request(&form).parse() {
        Ok(account) => users::register(&ctx, account, &client).await,
        Err(err) => Err(err),
    };
    let errors = match registered {
        Ok(user) => {
            let name = LoginName::Email(user.email.clone());
            let (_, token) =
                auth::login_with_cookie(&ctx, name, form.get("password"), &client).await?;
            let mut response = see_other("/dashboard");
            response
                .add_cookie(&cookie(&ctx, SESSION, token))
                .map_err(|e| Error::internal(anyhow::anyhow!("cookie: {e}")))?;
            return Ok(response);
        }
        Err(Error::Forbidden(_)) if !ctx.settings.registration_open => FormErrors::none(),
        Err(err) => FormErrors::from_error(err)?,
    };
    register_page(&req, &ctx, form, errors)
}

#[derive(Template)]
#[template(path = "console/forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    email: String,
    errors: FormErrors,
}

/// The forgot-password page, empty or with what was typed and what was wrong.
fn forgot_page(req: &HttpRequest, ctx: &Context, email: String, errors: FormErrors) -> Outcome {
    let status = form_status(&errors);
    public_page(req, ctx, status, "Forgot password", None, |chrome| {
        ForgotPage {
            chrome,
            email,
            errors,
        }
    })
}

pub async fn get_forgot(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    forgot_page(&req, &ctx, String::new(), FormErrors::none())
}

pub async fn post_forgot(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let form = public_form(&req, &ctx, &body)?;
    rate_limit(&req)?;
    let email = form.get("email").trim().to_owned();
    let errors = match Email::parse("email", &email) {
        Ok(parsed) => {
            match password_reset::forgot(ctx.clone().into_inner(), parsed, &client_info(&req)).await
            {
                Ok(()) => return Ok(see_other("/login?notice=reset_sent")),
                Err(err) => FormErrors::from_error(err)?,
            }
        }
        Err(e) => FormErrors::from_error(Error::Validation(vec![e]))?,
    };
    forgot_page(&req, &ctx, email, errors)
}

#[derive(Template)]
#[template(path = "console/reset.html")]
struct ResetPage {
    chrome: Chrome,
    usable: bool,
    token: String,
    errors: FormErrors,
}

fn reset_page(
    req: &HttpRequest,
    ctx: &Context,
    usable: bool,
    token: String,
    errors: FormErrors,
) -> Outcome {
    let status = form_status(&errors);
    public_page(req, ctx, status, "Set a new password", None, |chrome| {
        ResetPage {
            chrome,
            usable,
            token,
            errors,
        }
    })
}

pub async fn get_reset(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    let token = query(&req).remove("token").unwrap_or_default();
    let usable = token.len() <= 200 && password_reset::is_usable(&ctx, &token).await?;
    reset_page(
        &req,
        &ctx,
        usable,
        if usable { token } else { String::new() },
        FormErrors::none(),
    )
}

pub async fn post_reset(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let form = public_form(&req, &ctx, &body)?;
    rate_limit(&req)?;
    let token = form.get("token").to_owned();
    let errors = if form.get("new_password") != form.get("confirm_new_password") {
        FormErrors::none().field("confirm_new_password", "Must equal the new password.")
    } else {
        match password_reset::reset(&ctx, &token, form.get("new_password"), &client_info(&req))
            .await
        {
            Ok(()) => return Ok(see_other("/login?notice=password_reset")),
            Err(Error::InvalidResetToken) => {
                return reset_page(&req, &ctx, false, String::new(), FormErrors::none());
            }
            Err(err) => FormErrors::from_error(err)?,
        }
    };
    reset_page(&req, &ctx, true, token, errors)
}
