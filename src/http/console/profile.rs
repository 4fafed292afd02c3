//! `/profile`: the signed-in person's details, password, sessions and account.

use actix_web::{HttpRequest, web};
use askama::Template;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::{
    Chrome, Failure, Form, FormErrors, Outcome, SESSION, SignedIn, expired_cookie, form_status,
    html, notice, query, require, see_other, signed_in_form, when, with_script,
};
use crate::domain::{ChallengeId, PasskeyId, PasskeyName, SessionId};
use crate::error::Error;
use crate::http::extract::client_info;
use crate::http::users::UpdateMeRequest;
use crate::service::mfa::{self, TotpEnrolment};
use crate::service::{Context, passkeys, sessions, users};

pub struct SessionView {
    pub id: String,
    pub current: bool,
    pub user_agent: String,
    pub ip: String,
    pub started: String,
    pub last_used: String,
    pub expires: String,
}

pub fn session_views(
    found: Vec<crate::domain::Session>,
    current: Option<SessionId>,
) -> Vec<SessionView> {
    found
        .into_iter()
        .map(|s| SessionView {
            id: s.id.0.to_string(),
            current: Some(s.id) == current,
            user_agent: s.user_agent.unwrap_or_else(|| "Unknown".into()),
            ip: s.ip.unwrap_or_else(|| "Unknown".into()),
            started: when(&s.created_at),
            last_used: s
                .last_refreshed_at
                .as_ref()
                .map_or_else(|| "–".into(), when),
            expires: when(&s.expires_at),
        })
        .collect()
}

pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub added: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "console/profile.html")]
struct ProfilePage {
    chrome: Chrome,
    email: String,
    role: &'static str,
    profile: Form,
    profile_errors: FormErrors,
    password_errors: FormErrors,
    sessions: Vec<SessionView>,
    passkeys: Vec<PasskeyView>,
    passkey_name: String,
    passkey_errors: FormErrors,
    delete_errors: FormErrors,
    mfa: MfaView,
    mfa_errors: FormErrors,
}

/// The "Two-factor authentication" section.
struct MfaView {
    totp: bool,
    pending: bool,
    recovery_codes_left: i64,
    required: bool,
}

#[derive(Default)]
struct Errors {
    profile: Option<(Form, FormErrors)>,
    password: FormErrors,
    /// The name typed for a new passkey, and what went wrong adding or removing one.
    passkey: (String, FormErrors),
    delete: FormErrors,
    mfa: FormErrors,
}

async fn render(
    ctx: &Context,
    who: &SignedIn,
    note: Option<&'static str>,
    errors: Errors,
) -> Outcome {
    let user = &who.principal.user;
    let found = sessions::list(ctx, &who.principal).await?;
    let keys = passkeys::list(ctx, &who.principal).await?;
    let factors = mfa::status(ctx, &who.principal).await?;
    let (profile, profile_errors) = errors.profile.unwrap_or_else(|| {
        let mut form = Form::empty();
        form.set("username", user.username.clone());
        form.set("first_name", user.first_name.clone());
        form.set("last_name", user.last_name.clone());
        form.set("phone_number", user.phone_number.clone());
        form.set("date_of_birth", user.date_of_birth.map(|d| d.to_string()));
        (form, FormErrors::none())
    });
    let status = form_status(&profile_errors)
        .max(form_status(&errors.password))
        .max(form_status(&errors.passkey.1))
        .max(form_status(&errors.delete))
        .max(form_status(&errors.mfa));
    let (passkey_name, passkey_errors) = errors.passkey;
    with_script(html(
        status,
        &ProfilePage {
            chrome: Chrome::signed_in("Profile", who, "profile")
                .with_notice(note)
                .with_passkey_script(),
            email: user.email.clone(),
            role: user.role.as_str(),
            profile,
            profile_errors,
            password_errors: errors.password,
            sessions: session_views(found, Some(who.principal.session_id)),
            passkeys: keys
                .into_iter()
                .map(|p| PasskeyView {
                    id: p.id.0.to_string(),
                    name: p.name.as_str().to_owned(),
                    added: when(&p.created_at),
                    last_used: p.last_used_at.as_ref().map_or_else(|| "never".into(), when),
                })
                .collect(),
            passkey_name,
            passkey_errors,
            delete_errors: errors.delete,
            mfa: MfaView {
                totp: factors.totp,
                pending: factors.totp_pending,
                recovery_codes_left: factors.recovery_codes_left,
                required: factors.required,
            },
            mfa_errors: errors.mfa,
        },
    ))
}

pub async fn get_profile(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    let who = require(&req, &ctx).await?;
    render(&ctx, &who, notice(&query(&req)), Errors::default()).await
}

pub async fn post_profile(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let field = |name: &str| Some(form.opt(name));
    let request = UpdateMeRequest {
        username: field("username"),
        first_name: field("first_name"),
        last_name: field("last_name"),
        phone_number: field("phone_number"),
        date_of_birth: field("date_of_birth"),
    };
    let updated = match request.parse() {
        Ok(changes) => users::update_me(&ctx, &who.principal, changes, &client_info(&req)).await,
        Err(err) => Err(err),
    };
    let errors = match updated {
        Ok(_) => return Ok(see_other("/profile?notice=profile_saved")),
        Err(err) => FormErrors::from_error(err)?,
    };
    let errors = Errors {
        profile: Some((form, errors)),
        ..Errors::default()
    };
    render(&ctx, &who, None, errors).await
}

pub async fn post_password(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let errors = if form.get("new_password") != form.get("confirm_new_password") {
        FormErrors::none().field("confirm_new_password", "Must equal the new password.")
    } else {
        let changed = users::change_password(
            &ctx,
            &who.principal,
            form.get("current_password"),
            form.get("new_password"),
            &client_info(&req),
        )
        .await;
        match changed {
            Ok(()) => return Ok(see_other("/profile?notice=password_changed")),
            Err(Error::InvalidCredentials) => {
                FormErrors::none().field("current_password", "The current password is not correct.")
            }
            Err(err) => FormErrors::from_error(err)?,
        }
    };
    let errors = Errors {
        password: errors,
        ..Errors::default()
    };
    render(&ctx, &who, None, errors).await
}

pub async fn post_sessions(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let client = client_info(&req);
    if form.get("action") == "others" {
        sessions::revoke_others(&ctx, &who.principal, &client).await?;
        return Ok(see_other("/profile?notice=others_revoked"));
    }
    let id = uuid::Uuid::parse_str(form.get("session"))
        .map(SessionId)
        .map_err(|_| Error::NotFound)?;
    match sessions::revoke(&ctx, &who.principal, id, &client).await {
        Ok(()) | Err(Error::NotFound) => {}
        Err(err) => return Err(err.into()),
    }
    if id == who.principal.session_id {
        let mut response = see_other("/login?notice=signed_out");
        response
            .add_cookie(&expired_cookie(&ctx, SESSION))
            .map_err(|e| Error::internal(anyhow::anyhow!("cookie: {e}")))?;
        return Ok(response);
    }
    Ok(see_other("/profile?notice=session_revoked"))
}

pub async fn post_delete(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let deleted = users::delete_me(
        &ctx,
        &who.principal,
        form.get("delete_password"),
        &client_info(&req),
    )
    .await;
    let errors = match deleted {
        Ok(()) => {
            let mut response = see_other("/login?notice=account_deleted");
            response
                .add_cookie(&expired_cookie(&ctx, SESSION))
                .map_err(|e| Error::internal(anyhow::anyhow!("cookie: {e}")))?;
            return Ok(response);
        }
        Err(Error::InvalidCredentials) => {
            FormErrors::none().field("delete_password", "The password is not correct.")
        }
        Err(err) => match FormErrors::from_error(err) {
            Ok(errors) => errors,
            Err(Failure::Error(err)) => return Err(err.into()),
            Err(other) => return Err(other),
        },
    };
    let errors = Errors {
        delete: errors,
        ..Errors::default()
    };
    render(&ctx, &who, None, errors).await
}

#[derive(Template)]
#[template(path = "console/mfa_setup.html")]
struct SetupPage {
    chrome: Chrome,
    enrolment: TotpEnrolment,
    errors: FormErrors,
}

/// The QR code and key of a pending enrolment, and the form that confirms it.
fn setup_page(who: &SignedIn, enrolment: TotpEnrolment, errors: FormErrors) -> Outcome {
    html(
        form_status(&errors),
        &SetupPage {
            chrome: Chrome::signed_in("Set up two-factor authentication", who, "profile"),
            enrolment,
            errors,
        },
    )
}

#[derive(Template)]
#[template(path = "console/recovery_codes.html")]
struct RecoveryCodesPage {
    chrome: Chrome,
    email: String,
    codes: Vec<String>,
}

/// The recovery codes, shown this once, on a page of their own that prints cleanly.
fn recovery_codes_page(who: &SignedIn, codes: Vec<String>) -> Outcome {
    html(
        actix_web::http::StatusCode::OK,
        &RecoveryCodesPage {
            chrome: Chrome::signed_in("Recovery codes", who, "profile"),
            email: who.principal.user.email.clone(),
            codes,
        },
    )
}

/// The section's errors, shaped for its form; what a form cannot show goes up.
fn mfa_errors(err: Error, password_field: &str, code_field: &str) -> Result<FormErrors, Failure> {
    Ok(match err {
        Error::InvalidCredentials => {
            FormErrors::none().field(password_field, "The password is not correct.")
        }
        Error::InvalidMfaCode => FormErrors::none().field(
            code_field,
            "This code is not correct, or was used already. Try the next one.",
        ),
        Error::Validation(_) if code_field == "mfa_code" => FormErrors::none().field(
            code_field,
            "There is no set-up to confirm. Start again with your password.",
        ),
        Error::NotFound => FormErrors::summary("Two-factor authentication is not on."),
        other => FormErrors::from_error(other)?,
    })
}

async fn render_mfa_errors(ctx: &Context, who: &SignedIn, errors: FormErrors) -> Outcome {
    let errors = Errors {
        mfa: errors,
        ..Errors::default()
    };
    render(ctx, who, None, errors).await
}

pub async fn post_mfa_begin(
    req: HttpRequest,
    ctx: web::Data<Context>,
    body: web::Bytes,
) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    match mfa::begin_totp(&ctx, &who.principal, form.get("mfa_password")).await {
        Ok(enrolment) => setup_page(&who, enrolment, FormErrors::none()),
        Err(err) => {
            let errors = mfa_errors(err, "mfa_password", "mfa_code")?;
            render_mfa_errors(&ctx, &who, errors).await
        }
    }
}

pub async fn post_mfa_confirm(
    req: HttpRequest,
    ctx: web::Data<Context>,
    body: web::Bytes,
) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let confirmed = mfa::confirm_totp(
        &ctx,
        &who.principal,
        form.get("mfa_code"),
        &client_info(&req),
    )
    .await;
    match confirmed {
        Ok(codes) => recovery_codes_page(&who, codes),
        Err(Error::InvalidMfaCode) => match mfa::pending_enrolment(&ctx, &who.principal).await? {
            Some(enrolment) => {
                let errors = FormErrors::none().field(
                    "mfa_code",
                    "This code is not correct. Enter the code the app shows now.",
                );
                setup_page(&who, enrolment, errors)
            }
            None => render_mfa_errors(&ctx, &who, FormErrors::none()).await,
        },
        Err(err) => {
            let errors = mfa_errors(err, "mfa_password", "mfa_code")?;
            render_mfa_errors(&ctx, &who, errors).await
        }
    }
}

pub async fn post_mfa_recovery_codes(
    req: HttpRequest,
    ctx: web::Data<Context>,
    body: web::Bytes,
) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let regenerated = mfa::regenerate_recovery_codes(
        &ctx,
        &who.principal,
        form.get("regen_password"),
        form.get("regen_code"),
        &client_info(&req),
    )
    .await;
    match regenerated {
        Ok(codes) => recovery_codes_page(&who, codes),
        Err(err) => {
            let errors = mfa_errors(err, "regen_password", "regen_code")?;
            render_mfa_errors(&ctx, &who, errors).await
        }
    }
}

pub async fn post_mfa_off(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let turned_off = mfa::disable_totp(
        &ctx,
        &who.principal,
        form.get("off_password"),
        form.get("off_code"),
        &client_info(&req),
    )
    .await;
    match turned_off {
        Ok(()) => Ok(see_other("/profile?notice=mfa_off")),
        Err(err) => {
            let errors = mfa_errors(err, "off_password", "off_code")?;
            render_mfa_errors(&ctx, &who, errors).await
        }
    }
}

/// The options of a new passkey's ceremony, as JSON for the passkey script, once the
/// password is confirmed; an error is `{"message"}` with the error's status.
pub async fn post_passkey_options(
    req: HttpRequest,
    ctx: web::Data<Context>,
    body: web::Bytes,
) -> Outcome {
    // The script reads this answer, so even a refused form answers JSON it can show.
    let (who, form) = match signed_in_form(&req, &ctx, &body).await {
        Ok(checked) => checked,
        Err(refused) => return Ok(refused_for_script(refused)),
    };
    match passkeys::registration_options(&ctx, &who.principal, form.get("password")).await {
        Ok(options) => Ok(HttpResponse::Ok().json(serde_json::json!({
            "challenge_id": options.challenge_id,
            "public_key": options.public_key,
        }))),
        Err(err) if err.status() >= 500 => Err(Failure::Error(err)),
        Err(err) => {
            let message = match &err {
                Error::InvalidCredentials => "The password is not correct.".to_owned(),
                other => super::sentence(&other.to_string()),
            };
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
            Ok(HttpResponse::build(status).json(serde_json::json!({ "message": message })))
        }
    }
}

/// A refused form, for the script: `{message}` with the status the page would have had,
/// in words the person can act on (the script shows it beside the button).
fn refused_for_script(refused: Failure) -> HttpResponse {
    let (status, message) = match refused {
        Failure::Csrf => (
            StatusCode::FORBIDDEN,
            "This page has expired or was sent from another site. Reload the page and try again."
                .to_owned(),
        ),
        Failure::SignIn(_) => (
            StatusCode::UNAUTHORIZED,
            "You are signed out. Reload the page to sign in again.".to_owned(),
        ),
        Failure::Enrol => (
            StatusCode::FORBIDDEN,
            "Set up a second factor first.".to_owned(),
        ),
        Failure::Error(err) => {
            if let Error::Internal(source) = &err {
                tracing::error!(error = ?source, "internal error on a page");
            }
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let message = if status.is_server_error() {
                "Something went wrong on our side. Try again in a moment.".to_owned()
            } else {
                super::sentence(&err.to_string())
            };
            (status, message)
        }
    };
    HttpResponse::build(status).json(serde_json::json!({ "message": message }))
}

/// Adds the passkey the script made: the form carries the ceremony's id, the browser's
/// answer and the name.
pub async fn post_passkey(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let typed = form.get("passkey_name").to_owned();
    let added = match (
        PasskeyName::parse("passkey_name", &typed),
        uuid::Uuid::parse_str(form.get("challenge_id")),
        serde_json::from_str::<serde_json::Value>(form.get("credential")),
    ) {
        (Err(field), _, _) => Err(Error::Validation(vec![field])),
        (Ok(name), Ok(challenge), Ok(credential)) => {
            passkeys::register(
                &ctx,
                &who.principal,
                ChallengeId(challenge),
                name,
                credential,
                &client_info(&req),
            )
            .await
        }
        _ => Err(Error::field(
            "credential",
            "invalid_credential",
            "no passkey was made; try again",
        )),
    };
    let errors = match added {
        Ok(_) => return Ok(see_other("/profile?notice=passkey_added")),
        Err(Error::Validation(fields)) if fields.iter().any(|f| f.field == "passkey_name") => {
            FormErrors::from_error(Error::Validation(fields))?
        }
        Err(Error::Validation(_)) => FormErrors::summary(
            "The passkey was not added: the browser's answer was refused or came too late. \
             Try again.",
        ),
        Err(err) => FormErrors::from_error(err)?,
    };
    let errors = Errors {
        passkey: (typed, errors),
        ..Errors::default()
    };
    render(&ctx, &who, None, errors).await
}

/// Removes a passkey, once the password is confirmed.
pub async fn post_passkey_delete(
    req: HttpRequest,
    ctx: web::Data<Context>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let id = uuid::Uuid::parse_str(&id)
        .map(PasskeyId)
        .map_err(|_| Error::NotFound)?;
    let removed = passkeys::remove(
        &ctx,
        &who.principal,
        id,
        form.get("password"),
        &client_info(&req),
    )
    .await;
    let errors = match removed {
        Ok(()) => return Ok(see_other("/profile?notice=passkey_removed")),
        Err(Error::InvalidCredentials) => {
            FormErrors::summary("The passkey was not removed: the password is not correct.")
        }
        Err(err) => FormErrors::from_error(err)?,
    };
    let errors = Errors {
        passkey: (String::new(), errors),
        ..Errors::default()
    };
    render(&ctx, &who, None, errors).await
}
