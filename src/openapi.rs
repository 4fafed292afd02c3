//! The OpenAPI document: the paths come from the route registration (`http::routes`),
//! this adds the info, the shared schemas and the bearer scheme.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "doorman",
        description = "A user service: sign-up, sign-in, short-lived access tokens, rotating refresh tokens, \
            sessions, and a staff API with roles and an audit trail.\n\n\
            Every error is `application/problem+json` (RFC 9457) with a stable `code`. \
            Every response carries `X-Request-Id`. Request bodies are JSON objects of at most 64 KiB; \
            unknown fields are refused with `422 validation_failed`. A body that does not arrive within \
            `DOORMAN_BODY_TIMEOUT` (default 10 s) is `408 request_timeout`. While the database is \
            unavailable, requests answer `503 service_unavailable` with `Retry-After`. `HEAD` is \
            answered on every `GET` route.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Sign-in, tokens and sessions"),
        (name = "users", description = "Accounts and profiles"),
        (name = "sessions", description = "The signed-in user's sessions"),
        (name = "tasks", description = "The signed-in user's tasks"),
        (name = "admin", description = "Staff: user management and the audit trail"),
        (name = "meta", description = "Health and keys"),
    )
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from /api/v1/auth/login or /api/v1/auth/refresh",
                    ))
                    .build(),
            ),
        );
    }
}

/// The complete document, as served at `/api-docs/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::http::routes)
        .split_for_parts()
        .1
}
