//! Extractors: JSON bodies and queries that fail as problem+json, the caller's address and
//! user agent, and the authenticated principal.

use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::http::header::{self, X_FORWARDED_FOR};
use actix_web::web::{self, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::config::IpNet;
use crate::domain::ClientInfo;
use crate::error::{Error, FieldError, MISSING_TOKEN};
use crate::service::Context;
use crate::service::auth::{self, Principal};
use crate::service::mfa;
use crate::service::policy::{self, Action, Reach};

/// The largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Settings only the HTTP layer needs.
#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    pub trusted_proxies: Vec<IpNet>,
}

/// A JSON object body, read with the contract's rules: 415 for another content type, 413
/// past 64 KiB, 400 for anything but a JSON object, 422 naming each bad or unknown field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|mime| {
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|len| len > BODY_LIMIT) {
                return Err(Error::PayloadTooLarge);
            }
            if !is_json {
                return Err(Error::UnsupportedMediaType);
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| {
                    Error::MalformedRequest("the request body could not be read".into())
                })?;
                if body.len() + chunk.len() > BODY_LIMIT {
                    return Err(Error::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            parse_object(&body).map(ApiJson)
        })
    }
}

/// Parses a JSON object into `T`, naming the field behind any failure. A key given twice in
/// one object, at any depth, is malformed (RFC 8259 leaves its meaning open, and parsers
/// disagree: proxies and firewalls may read the first where we would read the last).
pub fn parse_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let StrictValue(value) = serde_json::from_slice(body)
        .map_err(|e| Error::MalformedRequest(format!("the request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::MalformedRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.inner().to_string();
        let named = message.split('`').nth(1).unwrap_or_default().to_owned();
        let field_error = if message.starts_with("unknown field") {
            FieldError::new(&named, "unknown_field", format!("unknown field `{named}`"))
        } else if message.starts_with("missing field") {
            FieldError::new(&named, "required", "is required")
        } else {
            FieldError::new(path.trim_start_matches('.'), "invalid_type", message)
        };
        Error::Validation(vec![field_error])
    })
}

/// A JSON value whose objects hold no key twice.
struct StrictValue(serde_json::Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(items.into())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "the key `{key}` appears twice in one object"
                )));
            }
            let StrictValue(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(object.into())
    }
}

/// A query string, parsed into `T`; a bad parameter is 422 naming it.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string().as_bytes();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query));
        ready(
            serde_path_to_error::deserialize(deserializer)
                .map(ApiQuery)
                .map_err(|err| {
                    let path = err.path().to_string();
                    let message = err.inner().to_string();
                    let field = match path.as_str() {
                        "." => message.split('`').nth(1).unwrap_or("query").to_owned(),
                        _ => path,
                    };
                    Error::field(&field, "invalid_query", message)
                }),
        )
    }
}

/// A path parameter that does not parse (e.g. not a UUID) names nothing that exists.
pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    Error::NotFound.into()
}

/// The caller's address and user agent.
impl FromRequest for ClientInfo {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(client_info(req)))
    }
}

pub fn client_info(req: &HttpRequest) -> ClientInfo {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(512)
                .collect::<String>()
        })
        .filter(|ua| !ua.is_empty());
    ClientInfo {
        ip: client_ip(req).map(|ip| ip.to_string()),
        user_agent,
    }
}

/// The client's address. A peer that is not a trusted proxy is the client. Behind a trusted
/// proxy, `X-Forwarded-For` (every line of it, as one list in order) is read from the right:
/// trusted proxies are skipped, and the first address that is not one is the client. An entry
/// that is not an address (`unknown`, an obfuscated name) ends the walk, and the last trusted
/// hop read is the client: every entry further left may have been written by the client.
/// When every entry is a trusted proxy, the left-most is the client.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    let trusted = req
        .app_data::<web::Data<HttpSettings>>()
        .map(|s| s.trusted_proxies.as_slice())
        .unwrap_or(&[]);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut entries = req
        .headers()
        .get_all(X_FORWARDED_FOR)
        .rev()
        .flat_map(|line| line.as_bytes().rsplit(|&b| b == b','));
    let mut client = peer;
    while is_trusted(client)
        && let Some(hop) = entries.next().and_then(forwarded_ip)
    {
        client = hop;
    }
    Some(client)
}

/// One `X-Forwarded-For` entry in the forms proxies write: `1.2.3.4`, `1.2.3.4:5678`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:5678`.
fn forwarded_ip(entry: &[u8]) -> Option<IpAddr> {
    let entry = std::str::from_utf8(entry).ok()?.trim();
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .or_else(|| {
            let bracketed = entry.strip_prefix('[')?.strip_suffix(']')?;
            bracketed.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

/// The bearer token of a request, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_owned())
}

/// The signed-in caller: a valid access token whose session is live and user active, and
/// who may reach this endpoint under the second-factor rule (`mfa_enrolment_required`):
/// checked here, so no endpoint can forget it.
impl FromRequest for Principal {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ctx = req.app_data::<web::Data<Context>>().cloned();
        let token = bearer_token(req);
        let reach = reach(req);
        Box::pin(async move {
            let ctx = ctx.ok_or_else(|| {
                Error::internal(anyhow::anyhow!("the service context is not registered"))
            })?;
            let token = token.ok_or(Error::Unauthenticated(MISSING_TOKEN))?;
            let principal = auth::authenticate(&ctx, &token).await?;
            mfa::check_enrolment(&ctx, &principal, reach).await?;
            Ok(principal)
        })
    }
}

/// What a request reaches, for the second-factor rule: an account that must have a second
/// factor and has none still reads itself (`GET /users/me`), enrols (`/users/me/mfa…`,
/// `/users/me/passkeys…`) and signs out.
pub fn reach(req: &HttpRequest) -> Reach {
    let path = req.path().trim_end_matches('/');
    let method = req.method();
    let enrolment = (path == "/api/v1/users/me"
        && (method == Method::GET || method == Method::HEAD))
        || path == "/api/v1/auth/logout"
        || ["/api/v1/users/me/mfa", "/api/v1/users/me/passkeys"]
            .iter()
            .any(|area| path == *area || path.starts_with(&format!("{area}/")));
    if enrolment {
        Reach::Enrolment
    } else {
        Reach::Anything
    }
}

/// Guards that authenticate the caller and ask `service::policy` whether it may attempt an
/// action at all, before the request body is read (anonymous: 401, not allowed: 403). The
/// role is read from the database on every request, so a demotion applies at once. The
/// service asks the policy again with the target; no rule is written here.
macro_rules! policy_gates {
    ($($(#[$doc:meta])* $name:ident => $action:ident;)*) => {$(
        $(#[$doc])*
        pub struct $name(pub Principal);

        impl FromRequest for $name {
            type Error = Error;
            type Future = LocalBoxFuture<'static, Result<Self, Error>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                let principal = Principal::from_request(req, payload);
                Box::pin(async move {
                    let principal = principal.await?;
                    policy::may_attempt(&principal.user, Action::$action)?;
                    Ok(Self(principal))
                })
            }
        }
    )*};
}

policy_gates! {
    /// May list users.
    MayListUsers => ListUsers;
    /// May view any user.
    MayViewUser => ViewUser;
    /// May create users.
    MayCreateUser => CreateUser;
    /// May change a user at all: the least a change can be is its status; the service asks
    /// again for what the change touches, with the target.
    MayUpdateUser => SetActive;
    /// May change roles.
    MayChangeRole => ChangeRole;
    /// May delete users.
    MayDeleteUser => DeleteUser;
    /// May list a user's sessions.
    MayListSessions => ListSessions;
    /// May revoke a user's sessions.
    MayRevokeSessions => RevokeSessions;
    /// May read the audit trail.
    MayListAuditEvents => ListAuditEvents;
    /// May remove a user's second factors.
    MayResetMfa => ResetMfa;
    /// May manage webhook endpoints.
    MayManageWebhooks => ManageWebhooks;
}
