//! Health, keys and the other endpoints that are not resources.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Error, Problem};
use crate::service::Context;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "meta", responses((status = 200, description = "OK", body = Health)))]
#[get("/health/live")]
pub async fn live() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: the database answers.
///
/// On SQLite, also that its file is still the one opened at start.
#[utoipa::path(tag = "meta", responses(
    (status = 200, description = "OK", body = Health),
    (status = 503, description = "`service_unavailable`: the database is unreachable (SQLite: or its file is gone or was replaced)", body = Problem, content_type = "application/problem+json"),
))]
#[get("/health/ready")]
pub async fn ready(ctx: web::Data<Context>) -> Result<web::Json<Health>, Error> {
    ctx.db.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness check failed");
        Error::ServiceUnavailable {
            retry_after_secs: 5,
        }
    })?;
    Ok(web::Json(Health { status: "ok" }))
}

/// A JSON Web Key Set document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwks {
    /// Public keys (`kty, crv|n|e|x|y, kid, alg, use`); empty with HS256.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

/// The public keys that verify doorman's tokens.
///
/// A rotated-out key stays until the tokens it signed have expired.
#[utoipa::path(tag = "meta", responses((status = 200, description = "OK", body = Jwks)))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(ctx: web::Data<Context>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(60),
        ]))
        .json(&ctx.tokens.keys().jwks)
}

/// Prometheus metrics.
///
/// `http_requests_total{method,route,status}`, `http_request_duration_seconds`, login
/// outcomes, hashing queue depth and sheds, database pool figures.
#[utoipa::path(tag = "meta", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4")))]
#[get("/metrics")]
pub async fn metrics(ctx: web::Data<Context>) -> Result<HttpResponse, Error> {
    let text = ctx
        .metrics
        .render(ctx.hasher.stats(), ctx.db.stats())
        .map_err(Error::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
