//! The one place an [`Error`] becomes an HTTP response: RFC 9457 problem+json, with
//! `Retry-After` on 429 and 503 and `WWW-Authenticate` on 401 (RFC 6750).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::error::{Error, FieldError, MISSING_TOKEN, Problem};

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let Error::Internal(source) = self {
            tracing::error!(error = ?source, "internal error");
        }
        let body = Problem {
            type_: format!("https://doorman.dev/problems/{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().to_owned(),
            errors: self.field_errors().map(<[FieldError]>::to_vec),
            mfa_token: self.mfa_challenge().map(|(token, _)| token.to_owned()),
            methods: self
                .mfa_challenge()
                .map(|(_, methods)| methods.iter().map(|m| (*m).to_owned()).collect()),
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if self.mfa_challenge().is_some() {
            response.insert_header((header::CACHE_CONTROL, "no-store"));
        }
        match self {
            Error::RateLimited { retry_after_secs }
            | Error::ServiceUnavailable { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.max(&1).to_string()));
            }
            Error::MethodNotAllowed => {}
            _ if status == StatusCode::UNAUTHORIZED => {
                let challenge = match self {
                    Error::Unauthenticated(MISSING_TOKEN) => "Bearer realm=\"doorman\"".to_owned(),
                    _ => format!(
                        "Bearer realm=\"doorman\", error=\"invalid_token\", error_description=\"{}\"",
                        self.code()
                    ),
                };
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response.insert_header((header::WWW_AUTHENTICATE, value));
                }
            }
            _ => {}
        }
        match serde_json::to_string(&body) {
            Ok(json) => response.body(json),
            Err(_) => HttpResponse::InternalServerError().finish(),
        }
    }
}
