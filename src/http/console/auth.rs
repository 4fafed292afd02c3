//! Signing in and out, registering, and the password reset pages.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;

use super::{
    Chrome, Failure, Form, FormErrors, Outcome, SESSION, cookie, current, expired_cookie,
    form_csrf, form_status, html, notice, public_form, query, rate_limit, see_other,
    signed_in_form, with_script,
};
use crate::domain::{ChallengeId, Email, LoginName};
use crate::error::Error;
use crate::http::extract::client_info;
use crate::http::users::RegisterRequest;
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

/// Renders a public form page, setting the double-submit CSRF cookie when it is new.
fn public_page(
    req: &HttpRequest,
    ctx: &Context,
    status: StatusCode,
    render: impl FnOnce(String) -> Outcome,
) -> Outcome {
    let (csrf, new_cookie) = form_csrf(req, ctx)?;
    let mut response = render(csrf)?;
    if let Some(cookie) = new_cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| Error::internal(anyhow::anyhow!("cookie: {e}")))?;
    }
    *response.status_mut() = status;
    Ok(response)
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
    let note = notice(&q);
    login_page(&req, &ctx, String::new(), next, FormErrors::none(), note)
}

/// The sign-in page, with the passkey script.
fn login_page(
    req: &HttpRequest,
    ctx: &Context,
    identifier: String,
    next: String,
    errors: FormErrors,
    note: Option<&'static str>,
) -> Outcome {
    with_script(public_page(req, ctx, form_status(&errors), |csrf| {
        let mut chrome = Chrome::anonymous("Sign in")
            .with_notice(note)
            .with_passkey_script();
        chrome.csrf = csrf;
        html(
            StatusCode::OK,
            &LoginPage {
                chrome,
                identifier,
                next,
                errors,
            },
        )
    }))
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
    login_page(&req, &ctx, identifier, next, errors, None)
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
    login_page(&req, &ctx, String::new(), next, errors, None)
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
    public_page(req, ctx, form_status(&errors), |csrf| {
        let mut chrome = Chrome::anonymous("Two-factor authentication");
        chrome.csrf = csrf;
        html(
            StatusCode::OK,
            &MfaStepPage {
                chrome,
                mfa_token,
                next,
                errors,
            },
        )
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

pub async fn get_register(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    if current(&req, &ctx).await?.is_some() {
        return Ok(see_other("/dashboard"));
    }
    let open = ctx.settings.registration_open;
    public_page(&req, &ctx, StatusCode::OK, |csrf| {
        let mut chrome = Chrome::anonymous("Create account");
        chrome.csrf = csrf;
        html(
            StatusCode::OK,
            &RegisterPage {
                chrome,
                open,
                form: Form::empty(),
                errors: FormErrors::none(),
            },
        )
    })
}

pub async fn post_register(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let form = public_form(&req, &ctx, &body)?;
    rate_limit(&req)?;
    let request = RegisterRequest {
        email: form.get("email").to_owned(),
        password: form.get("password").to_owned(),
        confirm_password: Some(form.get("confirm_password").to_owned()),
        username: form.opt("username"),
        first_name: form.opt("first_name"),
        last_name: form.opt("last_name"),
        phone_number: form.opt("phone_number"),
        date_of_birth: form.opt("date_of_birth"),
    };
    let client = client_info(&req);
    let registered = match request.parse() {
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
    let open = ctx.settings.registration_open;
    public_page(&req, &ctx, form_status(&errors), |csrf| {
        let mut chrome = Chrome::anonymous("Create account");
        chrome.csrf = csrf;
        html(
            StatusCode::OK,
            &RegisterPage {
                chrome,
                open,
                form,
                errors,
            },
        )
    })
}

#[derive(Template)]
#[template(path = "console/forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    email: String,
    errors: FormErrors,
}

pub async fn get_forgot(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    public_page(&req, &ctx, StatusCode::OK, |csrf| {
        let mut chrome = Chrome::anonymous("Forgot password");
        chrome.csrf = csrf;
        html(
            StatusCode::OK,
            &ForgotPage {
                chrome,
                email: String::new(),
                errors: FormErrors::none(),
            },
        )
    })
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
    public_page(&req, &ctx, form_status(&errors), |csrf| {
        let mut chrome = Chrome::anonymous("Forgot password");
        chrome.csrf = csrf;
        html(
            StatusCode::OK,
            &ForgotPage {
                chrome,
                email,
                errors,
            },
        )
    })
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
    public_page(req, ctx, form_status(&errors), |csrf| {
        let mut chrome = Chrome::anonymous("Set a new password");
        chrome.csrf = csrf;
        html(
            StatusCode::OK,
            &ResetPage {
                chrome,
                usable,
                token,
                errors,
            },
        )
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
