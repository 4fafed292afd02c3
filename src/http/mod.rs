//! The HTTP layer: one file per resource. A handler extracts, parses its DTO into domain
//! types, calls one service function and shapes the response.

pub mod admin;
pub mod auth;
pub mod console;
pub mod dto;
pub mod extract;
pub mod limits;
pub mod meta;
pub mod mfa;
pub mod passkeys;
pub mod problem;
pub mod revocations;
pub mod sessions;
pub mod tasks;
pub mod transport;
pub mod users;
pub mod webhooks;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use tracing::Instrument;
use utoipa::openapi::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::Error;
use crate::service::Context;

/// Registers every documented route: the route and its OpenAPI path come from one place.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(meta::live)
        .service(meta::ready)
        .service(meta::metrics)
        .service(meta::jwks)
        .service(meta::openid_configuration)
        .service(
            utoipa_actix_web::scope("/api/v1")
                .service(users::create_user)
                .service(users::get_me)
                .service(users::update_me)
                .service(users::delete_me)
                .service(users::change_password)
                .service(passkeys::create_passkey_options)
                .service(passkeys::create_passkey)
                .service(passkeys::list_passkeys)
                .service(passkeys::delete_passkey)
                .service(mfa::get_my_mfa)
                .service(mfa::begin_totp)
                .service(mfa::confirm_totp)
                .service(mfa::disable_totp)
                .service(mfa::regenerate_recovery_codes)
                .service(sessions::list_my_sessions)
                .service(sessions::revoke_my_sessions)
                .service(sessions::revoke_my_session)
                .service(users::get_user)
                .service(auth::login)
                .service(auth::issue_token)
                .service(passkeys::passkey_sign_in_options)
                .service(passkeys::passkey_sign_in)
                .service(mfa::complete_sign_in)
                .service(auth::refresh)
                .service(auth::logout)
                .service(auth::introspect)
                .service(revocations::list_revocations)
                .service(auth::forgot_password)
                .service(auth::reset_password)
                .service(tasks::create_task)
                .service(tasks::list_tasks)
                .service(tasks::get_task)
                .service(tasks::update_task)
                .service(tasks::delete_task)
                .service(admin::list_users)
                .service(admin::admin_create_user)
                .service(admin::admin_get_user)
                .service(admin::update_user)
                .service(admin::set_role)
                .service(admin::delete_user)
                .service(admin::list_user_sessions)
                .service(admin::revoke_user_sessions)
                .service(mfa::reset_user_mfa)
                .service(admin::list_audit_events)
                .service(webhooks::create_webhook)
                .service(webhooks::list_webhooks)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::list_webhook_deliveries),
        );
}

/// The documented paths and their methods, to tell 405 from 404.
pub struct RouteTable(Vec<(ResourceDef, Vec<&'static str>)>);

impl RouteTable {
    pub fn from_openapi(doc: &OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("HEAD", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        Self(routes)
    }
}

/// Answers requests no route took: 405 with `Allow` when the path exists, else 404.
pub async fn fallback(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    let allowed: Vec<&str> = table
        .0
        .iter()
        .filter(|(def, _)| def.is_match(req.path()))
        .flat_map(|(_, methods)| methods.iter().copied())
        .collect();
    if allowed.is_empty() {
        return Error::NotFound.error_response();
    }
    let mut response = Error::MethodNotAllowed.error_response();
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Gives every request an id (the caller's, when it sent a sane one), puts it on the
/// response and on every log line, and logs one line per request.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let method = req.method().clone();
    let context = req.app_data::<web::Data<Context>>().cloned();
    let started = Instant::now();
    req.extensions_mut()
        .insert(console::RequestId(request_id.clone()));
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = next.call(req).instrument(span.clone()).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(context) = context {
        context
            .metrics
            .observe_request(method.as_str(), &route, status, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(method = %method, route = %route, status, latency_ms = elapsed * 1000.0, "request");
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}
