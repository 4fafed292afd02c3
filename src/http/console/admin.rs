//! `/admin-dashboard`: staff manage users and read the audit trail. The staff rules (who
//! may act on whom, the last admin) are the service's; a refusal is shown as the result.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;

use super::profile::{SessionView, session_views};
use super::{
    Chrome, Form, FormErrors, Outcome, SignedIn, encode, form_status, html, notice, page_number,
    path_id, query, register_request, require, see_other, signed_in_form, when,
};
use crate::domain::{
    AuditKind, PageRequest, ProfileChanges, Role, User, UserFilter, UserId, UserSort,
    check_no_control_chars,
};
use crate::error::Error;
use crate::http::extract::client_info;
use crate::service::policy::{self, Action};
use crate::service::{Context, admin};

const PER_PAGE: i64 = 25;

/// The signed-in person, who must be allowed the admin pages (else the 403 page).
async fn staff(req: &HttpRequest, ctx: &Context) -> Result<SignedIn, super::Failure> {
    let who = require(req, ctx).await?;
    policy::may_attempt(&who.principal.user, Action::ListUsers)?;
    Ok(who)
}

pub struct UserView {
    pub id: String,
    pub email: String,
    pub username: String,
    pub name: String,
    pub phone: String,
    pub birth: String,
    pub role: &'static str,
    pub active: bool,
    pub created: String,
    pub last_login: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        let name = [u.first_name.as_deref(), u.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            id: u.id.0.to_string(),
            email: u.email,
            username: u.username.unwrap_or_default(),
            name,
            phone: u.phone_number.unwrap_or_default(),
            birth: u.date_of_birth.map(|d| d.to_string()).unwrap_or_default(),
            role: u.role.as_str(),
            active: u.is_active,
            created: when(&u.created_at),
            last_login: u
                .last_login_at
                .as_ref()
                .map_or_else(|| "Never".into(), when),
        }
    }
}

#[derive(Template)]
#[template(path = "console/admin.html")]
struct AdminPage {
    chrome: Chrome,
    is_admin: bool,
    q: String,
    role: String,
    active: String,
    sort: String,
    users: Vec<UserView>,
    total: i64,
    page: i64,
    pages: i64,
    create: Form,
    create_errors: FormErrors,
}

impl AdminPage {
    fn link(&self, page: i64) -> String {
        format!(
            "/admin-dashboard?q={}&role={}&active={}&sort={}&page={page}",
            encode(&self.q),
            encode(&self.role),
            encode(&self.active),
            encode(&self.sort)
        )
    }
}

async fn render_list(
    req: &HttpRequest,
    ctx: &Context,
    who: &SignedIn,
    create: Form,
    create_errors: FormErrors,
) -> Outcome {
    let params = query(req);
    let get = |k: &str| {
        params
            .get(k)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (q, role, active, sort) = (get("q"), get("role"), get("active"), get("sort"));
    let page = page_number(&params);
    let filter = UserFilter {
        q: Some(q.clone())
            .filter(|q| !q.is_empty() && q.chars().count() <= 254)
            .filter(|q| check_no_control_chars("q", q, false).is_ok()),
        role: Role::parse(&role),
        is_active: match active.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        sort: match sort.as_str() {
            "created_at" => UserSort::CreatedAt,
            "email" => UserSort::Email,
            "-email" => UserSort::EmailDesc,
            _ => UserSort::CreatedAtDesc,
        },
    };
    let request = PageRequest {
        limit: PER_PAGE,
        offset: (page - 1) * PER_PAGE,
    };
    let found = admin::list_users(ctx, &who.principal, filter, request).await?;
    let note = notice(&params);
    let status = form_status(&create_errors);
    html(
        status,
        &AdminPage {
            chrome: Chrome::signed_in("Admin dashboard", who, "admin").with_notice(note),
            is_admin: policy::may_attempt(&who.principal.user, Action::CreateUser).is_ok(),
            q,
            role,
            active,
            sort,
            users: found.items.into_iter().map(UserView::from).collect(),
            total: found.total,
            page,
            pages: ((found.total + PER_PAGE - 1) / PER_PAGE).max(1),
            create,
            create_errors,
        },
    )
}

pub async fn get_admin(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    let who = staff(&req, &ctx).await?;
    render_list(&req, &ctx, &who, Form::empty(), FormErrors::none()).await
}

pub async fn post_create(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    policy::may_attempt(&who.principal.user, Action::ListUsers)?;
    let role = Role::parse(form.get("role")).unwrap_or(Role::User);
    let is_active = form.get("is_active") == "true";
    let created = match register_request(&form).parse() {
        Ok(account) => {
            admin::create_user(
                &ctx,
                &who.principal,
                account,
                role,
                is_active,
                &client_info(&req),
            )
            .await
        }
        Err(err) => Err(err),
    };
    let errors = match created {
        Ok(user) => {
            return Ok(see_other(&format!(
                "/admin-dashboard/users/{}?notice=user_created",
                user.id.0
            )));
        }
        Err(err) => FormErrors::from_error(err)?,
    };
    render_list(&req, &ctx, &who, form, errors).await
}

#[derive(Template)]
#[template(path = "console/admin_user.html")]
struct UserPage {
    chrome: Chrome,
    is_admin: bool,
    user: UserView,
    /// `None` when the actor may not see them (a sub_admin on staff).
    sessions: Option<Vec<SessionView>>,
    result: FormErrors,
    /// The role a change to which is being confirmed (`?confirm=role&role=`).
    confirm_role: Option<&'static str>,
}

async fn render_user(
    ctx: &Context,
    who: &SignedIn,
    id: UserId,
    note: Option<&'static str>,
    result: FormErrors,
    confirm_role: Option<Role>,
) -> Outcome {
    let user = admin::get_user(ctx, &who.principal, id).await?;
    let sessions = match admin::list_sessions(ctx, &who.principal, id).await {
        Ok(found) => Some(session_views(found, None)),
        Err(Error::Forbidden(_)) => None,
        Err(err) => return Err(err.into()),
    };
    let status = match &result.summary {
        Some(_) => StatusCode::CONFLICT,
        None => StatusCode::OK,
    };
    let is_admin = policy::may_attempt(&who.principal.user, Action::ChangeRole).is_ok();
    // Asked only of someone who may change roles, and only for a change.
    let (confirm_role, note) = match confirm_role {
        Some(role) if is_admin && role == user.role => (
            None,
            Some("Nothing to change: the user already has this role."),
        ),
        Some(role) if is_admin => (Some(role.as_str()), note),
        _ => (None, note),
    };
    html(
        status,
        &UserPage {
            chrome: Chrome::signed_in("User", who, "admin").with_notice(note),
            is_admin,
            user: user.into(),
            sessions,
            result,
            confirm_role,
        },
    )
}

fn user_id(raw: &str) -> Result<UserId, Error> {
    path_id(raw).map(UserId)
}

/// One user. `?confirm=role&role=R` (the role form's first step) asks to confirm the change
/// to `R` before anything changes.
pub async fn get_admin_user(
    req: HttpRequest,
    ctx: web::Data<Context>,
    id: web::Path<String>,
) -> Outcome {
    let who = staff(&req, &ctx).await?;
    let id = user_id(&id)?;
    let q = query(&req);
    let confirm_role = match q.get("confirm").map(String::as_str) {
        Some("role") => q.get("role").and_then(|r| Role::parse(r)),
        _ => None,
    };
    render_user(&ctx, &who, id, notice(&q), FormErrors::none(), confirm_role).await
}

pub async fn post_admin_user(
    req: HttpRequest,
    ctx: web::Data<Context>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    policy::may_attempt(&who.principal.user, Action::ListUsers)?;
    let id = user_id(&id)?;
    let (actor, client) = (&who.principal, client_info(&req));
    let active = |is_active| ProfileChanges {
        is_active: Some(is_active),
        ..ProfileChanges::default()
    };
    let done = match form.get("action") {
        "role" => {
            let role = Role::parse(form.get("role"))
                .ok_or_else(|| Error::field("role", "invalid_role", "must be a role"))?;
            admin::set_role(&ctx, actor, id, role, &client)
                .await
                .map(|_| "role_changed")
        }
        "activate" => admin::update_user(&ctx, actor, id, active(true), &client)
            .await
            .map(|_| "activated"),
        "deactivate" => admin::update_user(&ctx, actor, id, active(false), &client)
            .await
            .map(|_| "deactivated"),
        "revoke" => admin::revoke_sessions(&ctx, actor, id, &client)
            .await
            .map(|()| "sessions_revoked"),
        "delete" => {
            return match admin::delete_user(&ctx, actor, id, &client).await {
                Ok(()) => Ok(see_other("/admin-dashboard?notice=user_deleted")),
                Err(err) => {
                    let result = FormErrors::from_error(err)?;
                    render_user(&ctx, &who, id, None, result, None).await
                }
            };
        }
        _ => return Err(Error::MalformedRequest("unknown action".into()).into()),
    };
    match done {
        Ok(notice) => Ok(see_other(&format!(
            "/admin-dashboard/users/{}?notice={notice}",
            id.0
        ))),
        Err(err) => {
            let result = FormErrors::from_error(err)?;
            render_user(&ctx, &who, id, None, result, None).await
        }
    }
}

pub struct EventView {
    pub at: String,
    pub kind: &'static str,
    pub actor: String,
    pub subject: String,
    pub ip: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    chrome: Chrome,
    user_id: String,
    kind: String,
    kinds: Vec<&'static str>,
    events: Vec<EventView>,
    total: i64,
    page: i64,
    pages: i64,
}

impl AuditPage {
    fn link(&self, page: i64) -> String {
        format!(
            "/admin-dashboard/audit?user_id={}&type={}&page={page}",
            encode(&self.user_id),
            encode(&self.kind)
        )
    }
}

pub async fn get_audit(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    let who = staff(&req, &ctx).await?;
    policy::may_attempt(&who.principal.user, Action::ListAuditEvents)?;
    let params = query(&req);
    let user_id = params
        .get("user_id")
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let kind = params.get("type").cloned().unwrap_or_default();
    let page = page_number(&params);
    let user = uuid::Uuid::parse_str(&user_id).ok().map(UserId);
    let request = PageRequest {
        limit: PER_PAGE,
        offset: (page - 1) * PER_PAGE,
    };
    let found =
        admin::audit_events(&ctx, &who.principal, user, AuditKind::parse(&kind), request).await?;
    let short = |id: Option<UserId>| id.map(|id| id.0.to_string()).unwrap_or_else(|| "–".into());
    html(
        StatusCode::OK,
        &AuditPage {
            chrome: Chrome::signed_in("Audit events", &who, "admin"),
            kinds: AuditKind::ALL.iter().map(|k| k.as_str()).collect(),
            events: found
                .items
                .into_iter()
                .map(|e| EventView {
                    at: when(&e.at),
                    kind: e.kind.as_str(),
                    actor: short(e.actor_id),
                    subject: short(e.subject_id),
                    ip: e.ip.unwrap_or_default(),
                    detail: e.detail.to_string(),
                })
                .collect(),
            total: found.total,
            pages: ((found.total + PER_PAGE - 1) / PER_PAGE).max(1),
            page,
            user_id,
            kind,
        },
    )
}
