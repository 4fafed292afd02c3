//! Health, keys and the other endpoints that are not resources.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::JwtAlg;
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

/// The public keys that verify doorman's access tokens.
///
/// A rotated-out key stays until the tokens it signed have expired. Refresh tokens are
/// signed with a key that is never published.
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

/// An OpenID Provider Metadata document (OpenID Connect Discovery 1.0), as far as doorman
/// is one: enough for a resource server given only the issuer to find the keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    /// Equal to the `iss` of every token.
    #[schema(example = "https://accounts.example.com")]
    pub issuer: String,
    #[schema(example = "https://accounts.example.com/.well-known/jwks.json")]
    pub jwks_uri: String,
    /// `POST /api/v1/auth/token` (the password grant).
    pub token_endpoint: String,
    /// RFC 7662 introspection.
    pub introspection_endpoint: String,
    /// doorman's revocation feed (`GET /api/v1/auth/revocations`).
    pub revocations_endpoint: String,
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The configured signing algorithm (access tokens; doorman issues no ID tokens).
    #[schema(example = json!(["EdDSA"]))]
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    /// `token`: tokens come from the token endpoint; there is no authorization endpoint.
    pub response_types_supported: Vec<&'static str>,
    /// The access token's claims.
    pub claims_supported: Vec<&'static str>,
}

/// Discovery: where the keys, introspection and the revocation feed are.
///
/// `issuer` is `DOORMAN_ISSUER`, or `DOORMAN_PUBLIC_URL` when that is unset; every URL is
/// absolute, under `DOORMAN_PUBLIC_URL`.
#[utoipa::path(tag = "meta", responses((status = 200, description = "OK", body = OpenIdConfiguration)))]
#[get("/.well-known/openid-configuration")]
pub async fn openid_configuration(ctx: web::Data<Context>) -> HttpResponse {
    let base = ctx.settings.public_url.trim_end_matches('/');
    let alg = match ctx.settings.jwt_alg {
        JwtAlg::EdDsa => "EdDSA",
        JwtAlg::Es256 => "ES256",
        JwtAlg::Rs256 => "RS256",
        JwtAlg::Hs256 => "HS256",
    };
    let document = OpenIdConfiguration {
        issuer: ctx.tokens.issuer().to_owned(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        token_endpoint: format!("{base}/api/v1/auth/token"),
        introspection_endpoint: format!("{base}/api/v1/auth/introspect"),
        revocations_endpoint: format!("{base}/api/v1/auth/revocations"),
        grant_types_supported: vec!["password"],
        token_endpoint_auth_methods_supported: vec!["none"],
        id_token_signing_alg_values_supported: vec![alg],
        subject_types_supported: vec!["public"],
        response_types_supported: vec!["token"],
        claims_supported: vec![
            "iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "typ", "role", "is_admin",
            "email",
        ],
    };
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(60),
        ]))
        .json(document)
}
