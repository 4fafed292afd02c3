//! `/admin-dashboard/webhooks`: admins register, pause, resume and delete webhook endpoints
//! and read their deliveries. The same service functions as the JSON API.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;

use super::{
    Chrome, Form, FormErrors, Outcome, SignedIn, html, notice, query, require, see_other,
    signed_in_form, when,
};
use crate::domain::{
    Delivery, EventFilter, NewWebhook, PageRequest, Webhook, WebhookChanges, WebhookId, WebhookUrl,
    parse_webhook_description,
};
use crate::error::Error;
use crate::http::extract::client_info;
use crate::service::policy::{self, Action};
use crate::service::{Context, webhooks};

/// The signed-in admin (else the 403 page).
async fn admin(req: &HttpRequest, ctx: &Context) -> Result<SignedIn, super::Failure> {
    let who = require(req, ctx).await?;
    policy::may_attempt(&who.principal.user, Action::ManageWebhooks)?;
    Ok(who)
}

pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: String,
    pub description: String,
    pub active: bool,
    pub created: String,
}

impl From<Webhook> for WebhookView {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id.0.to_string(),
            events: w.events.names().join(", "),
            url: w.url,
            description: w.description.unwrap_or_default(),
            active: w.is_active,
            created: when(&w.created_at),
        }
    }
}

pub struct DeliveryView {
    pub id: String,
    pub kind: String,
    pub status: &'static str,
    pub attempts: i32,
    pub last: String,
    pub next: String,
    pub created: String,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        let last = match (d.last_status_code, d.last_error) {
            (Some(code), _) => format!("HTTP {code}"),
            (None, Some(error)) => error,
            (None, None) => "–".into(),
        };
        Self {
            id: d.id.0.to_string(),
            kind: d.kind,
            status: d.status.as_str(),
            attempts: d.attempts,
            last,
            next: d
                .next_attempt_at
                .map(|at| when(&at))
                .unwrap_or_else(|| "–".into()),
            created: when(&d.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct ListPage {
    chrome: Chrome,
    webhooks: Vec<WebhookView>,
    form: Form,
    errors: FormErrors,
}

async fn render_list(
    ctx: &Context,
    who: &SignedIn,
    note: Option<&'static str>,
    form: Form,
    errors: FormErrors,
) -> Outcome {
    let found = webhooks::list(
        ctx,
        &who.principal,
        PageRequest {
            limit: PageRequest::MAX_LIMIT,
            offset: 0,
        },
    )
    .await?;
    let status = if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    html(
        status,
        &ListPage {
            chrome: Chrome::signed_in("Webhooks", who, "admin").with_notice(note),
            webhooks: found.items.into_iter().map(WebhookView::from).collect(),
            form,
            errors,
        },
    )
}

pub async fn get_webhooks(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    let who = admin(&req, &ctx).await?;
    let note = notice(&query(&req));
    render_list(&ctx, &who, note, Form::empty(), FormErrors::none()).await
}

/// Creates an endpoint and shows its page with the secret, this once.
pub async fn post_webhooks(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    policy::may_attempt(&who.principal.user, Action::ManageWebhooks)?;
    let events: Vec<String> = form
        .get("events")
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    let mut errors = FormErrors::none();
    let url = WebhookUrl::parse(form.get("url"), ctx.settings.webhook_allow_private)
        .map_err(|e| errors.fields.push(e))
        .ok();
    let events = EventFilter::parse(&events)
        .map_err(|e| errors.fields.push(e))
        .ok();
    let description = match form.opt("description") {
        Some(raw) => parse_webhook_description(&raw)
            .map_err(|e| errors.fields.push(e))
            .ok()
            .filter(|d| !d.is_empty()),
        None => None,
    };
    let (Some(url), Some(events)) = (url, events) else {
        let errors = FormErrors::from_error(Error::Validation(errors.fields))?;
        return render_list(&ctx, &who, None, form, errors).await;
    };
    let new = NewWebhook {
        url,
        events,
        description,
    };
    match webhooks::create(&ctx, &who.principal, new, &client_info(&req)).await {
        Ok((webhook, secret)) => {
            render_webhook(
                &ctx,
                &who,
                webhook.id,
                Some(secret),
                Some("Webhook created."),
            )
            .await
        }
        Err(err) => {
            let errors = FormErrors::from_error(err)?;
            render_list(&ctx, &who, None, form, errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct WebhookPage {
    chrome: Chrome,
    webhook: WebhookView,
    /// Only right after creation.
    secret: Option<String>,
    deliveries: Vec<DeliveryView>,
    total: i64,
}

async fn render_webhook(
    ctx: &Context,
    who: &SignedIn,
    id: WebhookId,
    secret: Option<String>,
    note: Option<&'static str>,
) -> Outcome {
    let webhook = webhooks::get(ctx, &who.principal, id).await?;
    let found = webhooks::deliveries(
        ctx,
        &who.principal,
        id,
        PageRequest {
            limit: 50,
            offset: 0,
        },
    )
    .await?;
    html(
        StatusCode::OK,
        &WebhookPage {
            chrome: Chrome::signed_in("Webhook", who, "admin").with_notice(note),
            webhook: webhook.into(),
            secret,
            total: found.total,
            deliveries: found.items.into_iter().map(DeliveryView::from).collect(),
        },
    )
}

fn webhook_id(raw: &str) -> Result<WebhookId, Error> {
    uuid::Uuid::parse_str(raw)
        .map(WebhookId)
        .map_err(|_| Error::NotFound)
}

pub async fn get_webhook(
    req: HttpRequest,
    ctx: web::Data<Context>,
    id: web::Path<String>,
) -> Outcome {
    let who = admin(&req, &ctx).await?;
    let id = webhook_id(&id)?;
    render_webhook(&ctx, &who, id, None, notice(&query(&req))).await
}

/// Pause, resume or delete.
pub async fn post_webhook(
    req: HttpRequest,
    ctx: web::Data<Context>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    policy::may_attempt(&who.principal.user, Action::ManageWebhooks)?;
    let id = webhook_id(&id)?;
    let client = client_info(&req);
    let active = |is_active| WebhookChanges {
        is_active: Some(is_active),
        ..WebhookChanges::default()
    };
    let notice = match form.get("action") {
        "pause" => {
            webhooks::update(&ctx, &who.principal, id, active(false), &client).await?;
            "webhook_paused"
        }
        "resume" => {
            webhooks::update(&ctx, &who.principal, id, active(true), &client).await?;
            "webhook_resumed"
        }
        "delete" => {
            webhooks::delete(&ctx, &who.principal, id, &client).await?;
            return Ok(see_other(
                "/admin-dashboard/webhooks?notice=webhook_deleted",
            ));
        }
        _ => return Err(Error::MalformedRequest("unknown action".into()).into()),
    };
    Ok(see_other(&format!(
        "/admin-dashboard/webhooks/{}?notice={notice}",
        id.0
    )))
}
