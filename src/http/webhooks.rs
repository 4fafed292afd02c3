//! `/api/v1/admin/webhooks`: admins register the endpoints that receive audit events
//! (Standard Webhooks), and see their deliveries.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::{Fields, Page, nullable, page_request, vouched};
use super::extract::{ApiJson, ApiQuery, MayManageWebhooks};
use crate::domain::ClientInfo;
use crate::domain::{
    self, AuditEventId, DeliveryId, EventFilter, NewWebhook, Patch, WebhookChanges, WebhookId,
    WebhookUrl, parse_webhook_description,
};
use crate::error::{Error, Problem};
use crate::service::{Context, webhooks};

/// A webhook endpoint (its secret is shown once, when it is created).
#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    /// Audit event types, or `["*"]` for all.
    pub events: Vec<&'static str>,
    pub description: Option<String>,
    /// `false` while paused: deliveries wait until it is resumed.
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<domain::Webhook> for Webhook {
    fn from(w: domain::Webhook) -> Self {
        Self {
            id: w.id,
            events: w.events.names(),
            url: w.url,
            description: w.description,
            is_active: w.is_active,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A new endpoint and, this once, the secret its deliveries are signed with.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_…`: verify `webhook-signature` with it. Shown only now.
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://hooks.example.com/doorman",
    "events": ["user.registered", "user.deleted"],
    "description": "CRM sync"
}))]
pub struct CreateWebhookRequest {
    /// An absolute `http(s)` URL.
    pub url: String,
    /// Audit event types (at least one), or `["*"]`.
    pub events: Vec<String>,
    pub description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// `false` pauses, `true` resumes.
    pub is_active: Option<bool>,
}

/// One event's way to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// Also the `webhook-id` header of every attempt.
    pub id: DeliveryId,
    pub event_id: AuditEventId,
    #[serde(rename = "type")]
    pub type_: String,
    /// `pending`, `delivered` or `failed` (given up).
    pub status: &'static str,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<domain::Delivery> for Delivery {
    fn from(d: domain::Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            type_: d.kind,
            status: d.status.as_str(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Default 0.
    pub offset: Option<i64>,
}

/// Register a webhook endpoint (admins).
///
/// Deliveries are `POST`ed JSON `{type, timestamp, data}` signed per Standard Webhooks
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
///
/// **Roles:** `admin`.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = CreatedWebhook, headers(("Location" = String, description = "/api/v1/admin/webhooks/{id}"))),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad or private `url`, unknown or no `events`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/admin/webhooks")]
pub async fn create_webhook(
    MayManageWebhooks(actor): MayManageWebhooks,
    ctx: web::Data<Context>,
    client: ClientInfo,
    ApiJson(body): ApiJson<CreateWebhookRequest>,
) -> Result<HttpResponse, Error> {
    let allow_private = ctx.settings.webhook_allow_private;
    let mut fields = Fields::default();
    let url = fields.take(WebhookUrl::parse(&body.url, allow_private));
    let events = fields.take(EventFilter::parse(&body.events));
    let description = fields
        .take_opt(body.description.as_deref(), parse_webhook_description)
        .filter(|d| !d.is_empty());
    fields.finish()?;
    let new = NewWebhook {
        url: vouched(url)?,
        events: vouched(events)?,
        description,
    };
    let (webhook, secret) = webhooks::create(&ctx, &actor, new, &client).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/admin/webhooks/{}", webhook.id),
        ))
        .json(CreatedWebhook {
            webhook: webhook.into(),
            secret,
        }))
}

/// Webhook endpoints, oldest first (admins).
///
/// **Roles:** `admin`.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "OK", body = Page<Webhook>),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad page", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/admin/webhooks")]
pub async fn list_webhooks(
    MayManageWebhooks(actor): MayManageWebhooks,
    ctx: web::Data<Context>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<web::Json<Page<Webhook>>, Error> {
    let page = page_request(query.limit, query.offset)?;
    let found = webhooks::list(&ctx, &actor, page).await?;
    Ok(web::Json(Page::from_domain(found, Webhook::from)))
}

/// One webhook endpoint (admins).
///
/// **Roles:** `admin`.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    responses(
        (status = 200, description = "OK", body = Webhook),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/admin/webhooks/{id}")]
pub async fn get_webhook(
    MayManageWebhooks(actor): MayManageWebhooks,
    ctx: web::Data<Context>,
    id: web::Path<WebhookId>,
) -> Result<web::Json<Webhook>, Error> {
    let webhook = webhooks::get(&ctx, &actor, id.into_inner()).await?;
    Ok(web::Json(webhook.into()))
}

/// Change, pause or resume a webhook endpoint (admins).
///
/// `is_active: false` pauses it: its deliveries wait until `is_active: true` resumes it.
///
/// **Roles:** `admin`.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "OK", body = Webhook),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad or private `url`, unknown or no `events`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/admin/webhooks/{id}")]
pub async fn update_webhook(
    MayManageWebhooks(actor): MayManageWebhooks,
    ctx: web::Data<Context>,
    client: ClientInfo,
    id: web::Path<WebhookId>,
    ApiJson(body): ApiJson<UpdateWebhookRequest>,
) -> Result<web::Json<Webhook>, Error> {
    let allow_private = ctx.settings.webhook_allow_private;
    let mut fields = Fields::default();
    let url = fields.take_opt(body.url.as_deref(), |raw| {
        WebhookUrl::parse(raw, allow_private)
    });
    let events = body
        .events
        .as_deref()
        .and_then(|events| fields.take(EventFilter::parse(events)));
    let description = match fields.patch(body.description, parse_webhook_description) {
        Patch::Set(text) if text.is_empty() => Patch::Clear,
        other => other,
    };
    fields.finish()?;
    let changes = WebhookChanges {
        url,
        events,
        description,
        is_active: body.is_active,
    };
    let webhook = webhooks::update(&ctx, &actor, id.into_inner(), changes, &client).await?;
    Ok(web::Json(webhook.into()))
}

/// Delete a webhook endpoint and its deliveries (admins).
///
/// **Roles:** `admin`.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/admin/webhooks/{id}")]
pub async fn delete_webhook(
    MayManageWebhooks(actor): MayManageWebhooks,
    ctx: web::Data<Context>,
    client: ClientInfo,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, Error> {
    webhooks::delete(&ctx, &actor, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A webhook endpoint's deliveries, newest first (admins).
///
/// **Roles:** `admin`.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path), PageQuery),
    responses(
        (status = 200, description = "OK", body = Page<Delivery>),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad page", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/admin/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    MayManageWebhooks(actor): MayManageWebhooks,
    ctx: web::Data<Context>,
    id: web::Path<WebhookId>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<web::Json<Page<Delivery>>, Error> {
    let page = page_request(query.limit, query.offset)?;
    let found = webhooks::deliveries(&ctx, &actor, id.into_inner(), page).await?;
    Ok(web::Json(Page::from_domain(found, Delivery::from)))
}
