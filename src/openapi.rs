//! The OpenAPI document: the paths come from the route registration (`http::routes`),
//! this adds the info, the shared schemas, the security schemes, the paths Swagger UI
//! serves itself, and an example of every error response.

use std::collections::BTreeMap;

use actix_web::body::MessageBody;
use actix_web::{HttpResponse, ResponseError};
use utoipa::openapi::content::Content;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement,
    SecurityScheme,
};
use utoipa::openapi::{RefOr, Required, Schema};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{Error, FieldError, MISSING_TOKEN, Problem};

/// Where the Authorize dialog's password flow obtains a token.
pub const TOKEN_URL: &str = "/api/v1/auth/token";

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
            answered on every `GET` route.\n\n\
            To try the signed-in endpoints here: register, then press **Authorize** and sign in \
            with your email and password (OAuth2 password flow), or paste an access token \
            from `/api/v1/auth/login` under `bearer`.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sign-in, tokens and sessions"),
        (name = "users", description = "Accounts and profiles"),
        (name = "sessions", description = "The signed-in user's sessions"),
        (name = "passkeys", description = "The signed-in user's passkeys (WebAuthn)"),
        (name = "mfa", description = "The signed-in user's second factors: TOTP and recovery codes"),
        (name = "tasks", description = "The signed-in user's tasks"),
        (name = "admin", description = "Staff: user management and the audit trail"),
        (name = "webhooks", description = "Admins: endpoints that receive audit events, signed per Standard Webhooks"),
        (name = "meta", description = "Health, keys, metrics and this documentation"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from /api/v1/auth/login, /api/v1/auth/token or /api/v1/auth/refresh",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::Password(Password::new(TOKEN_URL, Scopes::new()))],
                "Sign in with an email address, username or phone number and a password; \
                 the client id and secret are not used.",
            )),
        );
    }
}

/// The complete document, as served at `/api-docs/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    complete(
        actix_web::App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .configure(crate::http::routes)
            .split_for_parts()
            .1,
    )
}

/// Finishes the document built from the routes: the paths Swagger UI serves, the OAuth2
/// password flow beside every bearer requirement, and an example of every error response.
pub fn complete(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    add_documentation_paths(&mut doc);
    let samples = problem_samples();
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            if let Some(security) = &mut operation.security
                && !security.is_empty()
            {
                security.push(SecurityRequirement::new("oauth2", Vec::<String>::new()));
            }
            let secured = operation.security.is_some();
            for (status, response) in &mut operation.responses.responses {
                if let RefOr::T(response) = response {
                    add_problem_examples(status, response, secured, &samples);
                }
            }
        }
    }
    doc
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// `/docs` and `/api-docs/openapi.json`: served by Swagger UI, not by a handler of ours.
fn add_documentation_paths(doc: &mut utoipa::openapi::OpenApi) {
    let string = || -> Schema { ObjectBuilder::new().schema_type(Type::String).into() };
    let response = |description: &str, content_type: &str, schema: RefOr<Schema>| {
        ResponseBuilder::new()
            .description(description)
            .content(content_type, Content::new(Some(schema)))
            .build()
    };
    let get = |id: &str, summary: &str| {
        OperationBuilder::new()
            .tag("meta")
            .operation_id(Some(id))
            .summary(Some(summary))
    };
    let redirect = get("open_docs", "Swagger UI: redirects to /docs/").response(
        "307",
        ResponseBuilder::new()
            .description("Temporary Redirect to `/docs/`")
            .header("Location", Header::new(string()))
            .build(),
    );
    let page = get("get_docs", "Swagger UI")
        .response("200", response("The page", "text/html", string().into()));
    let file = get(
        "get_docs_file",
        "A file of Swagger UI (script, style sheet, icon)",
    )
    .parameter(
        ParameterBuilder::new()
            .name("file")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .schema(Some(string())),
    )
    .response("200", response("The file", "*/*", string().into()))
    .response("404", Response::new("No such file (an empty body)"));
    let document = get("get_openapi_document", "This OpenAPI document").response(
        "200",
        response(
            "OpenAPI 3.1",
            "application/json",
            Schema::from(ObjectBuilder::new().schema_type(Type::Object)).into(),
        ),
    );
    for (path, operation) in [
        ("/docs", redirect),
        ("/docs/", page),
        ("/docs/{file}", file),
        ("/api-docs/openapi.json", document),
    ] {
        doc.paths
            .paths
            .insert(path.into(), PathItem::new(HttpMethod::Get, operation));
    }
}

/// One error of each code, as the server renders it: (code, status, body).
struct Sample {
    code: String,
    status: String,
    body: serde_json::Value,
}

fn problem_samples() -> Vec<Sample> {
    let field =
        |field: &str, code: &str, message: &str| vec![FieldError::new(field, code, message)];
    let errors = [
        Error::MalformedRequest(
            "the request body is not valid JSON: expected value at line 1 column 1".into(),
        ),
        Error::InvalidResetToken,
        Error::Unauthenticated(MISSING_TOKEN),
        Error::TokenExpired,
        Error::InvalidCredentials,
        Error::InvalidRefreshToken,
        Error::RefreshTokenReused,
        Error::SessionRevoked,
        Error::AccountDisabled,
        Error::MfaRequired {
            token: "u1QpZ3m0dD2cQm9H1lX2vJ8f7n6b5v4c3x2z1a0s9d8".into(),
            methods: vec!["totp", "recovery_code"],
        },
        Error::InvalidMfaCode,
        Error::InvalidMfaToken,
        Error::MfaEnrolmentRequired,
        Error::Forbidden("not allowed"),
        Error::NotFound,
        Error::MethodNotAllowed,
        Error::EmailTaken,
        Error::UsernameTaken,
        Error::PhoneTaken,
        Error::LastAdmin,
        Error::PayloadTooLarge,
        Error::UnsupportedMediaType,
        Error::Validation(field("email", "invalid_email", "not a valid email address")),
        Error::WeakPassword(field(
            "password",
            "too_common",
            "is one of the most common passwords",
        )),
        Error::PasswordReused,
        Error::RateLimited {
            retry_after_secs: 3,
        },
        Error::ServiceUnavailable {
            retry_after_secs: 5,
        },
    ];
    errors
        .iter()
        .map(ResponseError::error_response)
        .chain(crate::http::auth::token_error_samples())
        .filter_map(sample)
        .collect()
}

fn sample(response: HttpResponse) -> Option<Sample> {
    let status = response.status().as_u16().to_string();
    let bytes = response.into_body().try_into_bytes().ok()?;
    let body: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(Sample {
        code: body["code"].as_str()?.to_owned(),
        status,
        body,
    })
}

/// The codes a response names (`` `email_taken` ``) with their rendered bodies; a 401 of a
/// signed-in endpoint shows the token problems too.
fn add_problem_examples(status: &str, response: &mut Response, secured: bool, samples: &[Sample]) {
    let Some(RefOr::T(content)) = response.content.get_mut("application/problem+json") else {
        return;
    };
    let named: Vec<&str> = response.description.split('`').skip(1).step_by(2).collect();
    let token_problem = secured
        && status == "401"
        && response
            .description
            .to_lowercase()
            .contains("token problem");
    let mut examples = BTreeMap::new();
    for sample in samples.iter().filter(|s| s.status == status) {
        let token_code =
            ["unauthenticated", "token_expired", "session_revoked"].contains(&sample.code.as_str());
        let shown = named.contains(&sample.code.as_str()) || (token_problem && token_code);
        if !shown {
            continue;
        }
        let mut body = sample.body.clone();
        if sample.code == "forbidden" {
            body["detail"] = forbidden_detail(&response.description).into();
        }
        examples.insert(
            sample.code.clone(),
            RefOr::T(
                ExampleBuilder::new()
                    .summary(sample.code.clone())
                    .value(Some(body))
                    .build(),
            ),
        );
    }
    content.examples = examples;
}

/// The refusal a `forbidden` response gives, as its description tells it.
fn forbidden_detail(description: &str) -> &'static str {
    if description.contains("closed") {
        "public registration is closed"
    } else if description.contains("own account") {
        "you may only read your own account"
    } else if description.contains("passkeys are off") {
        crate::service::passkeys::PASSKEYS_OFF
    } else if description.contains("not staff") {
        "staff only"
    } else {
        "admins only"
    }
}
