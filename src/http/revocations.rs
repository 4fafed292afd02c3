//! `GET /api/v1/auth/revocations`: the revocation feed for services that verify offline.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use crate::domain::{SessionId, UserId};
use crate::error::{Error, Problem};
use crate::service::Context;
use crate::service::revocations::{self, Cursor};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RevocationsQuery {
    /// The `next` of the previous poll; absent on the first.
    pub after: Option<String>,
}

/// One revoked session.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationEntry {
    /// The session id: the `sid` claim of its tokens.
    pub sid: SessionId,
    /// Its user: the `sub` claim.
    pub sub: UserId,
    pub revoked_at: DateTime<Utc>,
    /// After this moment no access token of the session can be valid (its `exp` plus
    /// 30 s of leeway has passed): the entry may be forgotten.
    pub expires_at: DateTime<Utc>,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationFeed {
    /// Oldest revocation first, at most 200.
    pub items: Vec<RevocationEntry>,
    /// Opaque: pass it as `after` on the next poll, which then returns later
    /// revocations (a full page means: poll again at once). Never null. It never passes
    /// a revocation that may still be settling, so such entries come again: keep `sid`s
    /// in a set.
    pub next: String,
}

/// Sessions revoked while an access token of theirs may still be unexpired.
///
/// For services that verify access tokens offline (JWKS): poll it every `max-age` seconds
/// (`DOORMAN_REVOCATION_POLL`, default 5) and refuse tokens whose `sid` is listed until
/// the entry's `expires_at`; a revoked session's tokens are then refused within one poll
/// instead of at their `exp`. Public, like the JWKS: a session id reveals nothing.
/// Lists revocations of the last access lifetime plus 30 s; `ETag` / `If-None-Match`
/// answer `304` when nothing changed.
///
/// Commit order: a revocation is stamped before its transaction commits, so one stamped
/// earlier may become visible after a later one was read. The cursor therefore never
/// passes a revocation younger than the database deadline (`DOORMAN_DB_TIMEOUT`) plus 1 s:
/// such entries are listed at once and again on later polls until they are older, and a
/// full page carries only older ones. A client that keeps a set of `sid`s and follows
/// `next` misses none.
///
/// What revokes a session (and so puts it in the feed):
/// - `POST /api/v1/auth/logout` (the current session);
/// - `DELETE /api/v1/users/me/sessions/{id}` and `DELETE /api/v1/users/me/sessions`;
/// - `PUT /api/v1/users/me/password` (every other session of the user);
/// - `POST /api/v1/auth/password/reset` (every session of the user);
/// - deactivation by staff (`PATCH /api/v1/admin/users/{id}` with `is_active: false`);
/// - `DELETE /api/v1/admin/users/{id}/sessions` (staff revoke);
/// - a refresh token presented again after the reuse grace interval (`refresh_token_reused`);
/// - account deletion (`DELETE /api/v1/users/me`, `DELETE /api/v1/admin/users/{id}`): every
///   session of the account, live ones as revoked at the deletion.
#[utoipa::path(
    tag = "auth",
    params(RevocationsQuery),
    responses(
        (status = 200, description = "OK, with `ETag` and `Cache-Control: public, max-age=<DOORMAN_REVOCATION_POLL>`", body = RevocationFeed),
        (status = 304, description = "Not modified: `If-None-Match` named this page's `ETag`"),
        (status = 422, description = "`validation_failed`: `after` is not a cursor this feed gave out", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/auth/revocations")]
pub async fn list_revocations(
    ctx: web::Data<Context>,
    req: HttpRequest,
    ApiQuery(query): ApiQuery<RevocationsQuery>,
) -> Result<HttpResponse, Error> {
    let after = query
        .after
        .as_deref()
        .map(|raw| Cursor::parse("after", raw))
        .transpose()?;
    let feed = revocations::feed(&ctx, after).await?;
    let body = serde_json::to_vec(&RevocationFeed {
        next: feed.next.encode(),
        items: feed
            .items
            .into_iter()
            .map(|r| RevocationEntry {
                sid: r.sid,
                sub: r.sub,
                revoked_at: r.revoked_at,
                expires_at: r.expires_at,
            })
            .collect(),
    })
    .map_err(Error::internal)?;
    let digest = Sha256::digest(&body);
    let etag = format!(
        "\"{}\"",
        digest[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cache = CacheControl(vec![
        CacheDirective::Public,
        CacheDirective::MaxAge(
            u32::try_from(ctx.settings.revocation_poll.as_secs()).unwrap_or(u32::MAX),
        ),
    ]);
    if none_match(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header(cache)
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .insert_header(cache)
        .content_type("application/json")
        .body(body))
}

/// Whether `If-None-Match` names `etag` (weakly compared, as RFC 9110 asks) or is `*`.
fn none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}
