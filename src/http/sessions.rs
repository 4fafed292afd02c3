//! `/api/v1/users/me/sessions`: the caller's own sign-in sessions.

use actix_web::{HttpResponse, delete, get, web};

use super::dto::Session;
use crate::domain::{ClientInfo, SessionId};
use crate::error::{Error, Problem};
use crate::service::Context;
use crate::service::auth::Principal;
use crate::service::sessions;

/// The signed-in user's live sessions, newest first.
///
/// `current` marks the session of the token that made the request.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "OK", body = Vec<Session>),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/me/sessions")]
pub async fn list_my_sessions(
    ctx: web::Data<Context>,
    principal: Principal,
) -> Result<web::Json<Vec<Session>>, Error> {
    let current = Some(principal.session_id);
    let live = sessions::list(&ctx, &principal).await?;
    Ok(web::Json(
        live.into_iter().map(|s| Session::new(s, current)).collect(),
    ))
}

/// Revoke one of the signed-in user's sessions (this one too, if named).
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = SessionId, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no live session of yours has this id", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/me/sessions/{id}")]
pub async fn revoke_my_session(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
    id: web::Path<SessionId>,
) -> Result<HttpResponse, Error> {
    sessions::revoke(&ctx, &principal, id.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revoke every session of the signed-in user, this one included.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "All revoked"),
        (status = 401, description = "A token problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/me/sessions")]
pub async fn revoke_my_sessions(
    ctx: web::Data<Context>,
    principal: Principal,
    client: ClientInfo,
) -> Result<HttpResponse, Error> {
    sessions::revoke_all(&ctx, &principal, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
