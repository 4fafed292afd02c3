//! Access and refresh JWTs: minting, and verification that refuses every attack in the
//! contract (alg none, algorithm confusion, unknown kid, wrong iss/aud, expired, wrong type).
//!
//! Access tokens are signed with the published keys (the configured algorithm); refresh
//! tokens with an unpublished HS256 secret kept in the database, so a service verifying
//! against the JWKS can never accept one. Each kind is verified only with its own keys.
//! Refresh tokens signed with an access key before refresh keys existed are accepted until
//! they expire (only with an access `kid`, `typ: "refresh"` and issued before the first
//! refresh key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::{KeySet, algorithm};
use crate::clock;
use crate::domain::{Role, SessionId, User, UserId};
use crate::error::{Error, Result};

/// Clock leeway for `exp`, `nbf` and `iat` (the contract allows at most 30 s).
const LEEWAY_SECS: u64 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub sid: SessionId,
    pub jti: Uuid,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub typ: TokenType,
    pub role: Role,
    pub is_admin: bool,
    pub email: String,
    /// How the session was signed in (RFC 8176); absent from tokens minted before it was
    /// added.
    #[serde(default)]
    pub amr: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub sid: SessionId,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub typ: TokenType,
}

/// The claims any of our tokens carries, for introspection.
#[derive(Debug, Clone, Deserialize)]
pub struct AnyClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub sid: SessionId,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub typ: TokenType,
}

pub struct TokenCodec {
    issuer: String,
    audience: String,
    access_ttl: Duration,
    keys: RwLock<Arc<KeySet>>,
    verified: VerifiedCache,
}

/// Access tokens that passed verification, keyed by the whole token, so a client that
/// sends the same token for its 15 minutes pays for the signature check once (EdDSA
/// verification was 37% of the CPU of `GET /users/me`). A hit still honours `exp`; the
/// cache is bounded and is emptied whenever the key set changes.
struct VerifiedCache(Mutex<HashMap<String, Arc<AccessClaims>>>);

impl VerifiedCache {
    const CAPACITY: usize = 8192;

    fn get(&self, token: &str, now: i64) -> Option<Arc<AccessClaims>> {
        let cache = self.0.lock().ok()?;
        cache
            .get(token)
            .filter(|claims| claims.exp + LEEWAY_SECS as i64 > now)
            .cloned()
    }

    fn insert(&self, token: &str, claims: Arc<AccessClaims>, now: i64) {
        let Ok(mut cache) = self.0.lock() else { return };
        if cache.len() >= Self::CAPACITY {
            cache.retain(|_, c| c.exp + LEEWAY_SECS as i64 > now);
            if cache.len() >= Self::CAPACITY {
                cache.clear();
            }
        }
        cache.insert(token.to_owned(), claims);
    }

    fn clear(&self) {
        if let Ok(mut cache) = self.0.lock() {
            cache.clear();
        }
    }
}

/// A minted token and when it expires.
pub struct Minted {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl TokenCodec {
    pub fn new(issuer: String, audience: String, access_ttl: Duration, keys: KeySet) -> Self {
        Self {
            issuer,
            audience,
            access_ttl,
            keys: RwLock::new(Arc::new(keys)),
            verified: VerifiedCache(Mutex::new(HashMap::new())),
        }
    }

    /// The `iss` of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace_keys(&self, keys: KeySet) {
        match self.keys.write() {
            Ok(mut slot) => *slot = Arc::new(keys),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
        }
        self.verified.clear();
    }

    pub fn knows_kid(&self, kid: &str) -> bool {
        let keys = self.keys();
        keys.verifying.contains_key(kid) || keys.refresh.verifying.contains_key(kid)
    }

    pub fn mint_access(
        &self,
        user: &User,
        session: SessionId,
        amr: &crate::domain::Amr,
        now: DateTime<Utc>,
    ) -> Result<Minted> {
        let expires_at = now + self.access_ttl;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id,
            sid: session,
            jti: Uuid::now_v7(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            typ: TokenType::Access,
            role: user.role,
            is_admin: user.role.is_admin(),
            email: user.email.clone(),
            amr: amr.values().to_vec(),
        };
        Ok(Minted {
            token: self.sign("at+jwt", &claims)?,
            expires_at,
        })
    }

    /// Mints the refresh token with the given identity; minting it again with the same
    /// arguments yields an equivalent token (same `jti`), which is how the reuse grace
    /// interval hands out the session's current refresh token.
    pub fn mint_refresh(
        &self,
        user: UserId,
        session: SessionId,
        jti: Uuid,
        iat: DateTime<Utc>,
        exp: DateTime<Utc>,
    ) -> Result<String> {
        let claims = RefreshClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user,
            sid: session,
            jti,
            iat: iat.timestamp(),
            exp: exp.timestamp(),
            typ: TokenType::Refresh,
        };
        let keys = self.keys();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(REFRESH_TYP.to_owned());
        header.kid = Some(keys.refresh.signing_kid.clone());
        jsonwebtoken::encode(&header, &claims, &keys.refresh.signing).map_err(Error::internal)
    }

    fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String> {
        let keys = self.keys();
        let mut header = Header::new(algorithm(keys.alg));
        header.typ = Some(typ.to_owned());
        header.kid = Some(keys.signing.kid.clone());
        jsonwebtoken::encode(&header, claims, &keys.signing.encoding).map_err(Error::internal)
    }

    /// Verifies an access token. Every failure is a 401.
    pub fn verify_access(&self, token: &str) -> Result<Arc<AccessClaims>> {
        let now = clock::now().timestamp();
        if let Some(claims) = self.verified.get(token, now) {
            return Ok(claims);
        }
        let keys = self.keys();
        let claims: AccessClaims = self
            .verify(token, true, Some(ACCESS_TYP), access_keys(&keys))
            .map_err(|failure| match failure {
                Failure::Expired => Error::TokenExpired,
                Failure::Invalid(reason) => Error::Unauthenticated(reason),
            })?;
        if claims.typ != TokenType::Access {
            return Err(Error::Unauthenticated("the token is not an access token"));
        }
        let claims = Arc::new(claims);
        self.verified.insert(token, Arc::clone(&claims), now);
        Ok(claims)
    }

    /// Verifies a refresh token. Every failure is `401 invalid_refresh_token`.
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims> {
        self.refresh_claims(token)
            .map_err(|_| Error::InvalidRefreshToken)
    }

    /// Verifies a token of either type, for introspection.
    pub fn verify_any(&self, token: &str) -> Option<AnyClaims> {
        let keys = self.keys();
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        if keys.refresh.verifying.contains_key(&kid) {
            return self.refresh_claims(token).ok();
        }
        let claims: AnyClaims = self.verify(token, false, None, access_keys(&keys)).ok()?;
        match claims.typ {
            TokenType::Access => Some(claims),
            TokenType::Refresh => legacy_refresh(&keys, claims).ok(),
        }
    }

    /// A refresh token's claims: verified with the refresh keys (HS256 pinned), or, for a
    /// token minted before refresh keys existed, with the access keys.
    fn refresh_claims<T>(&self, token: &str) -> Result<T, Failure>
    where
        T: serde::de::DeserializeOwned + Issued,
    {
        let keys = self.keys();
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|_| Failure::Invalid("the token is malformed"))?
            .kid
            .ok_or(Failure::Invalid("the token has no key id"))?;
        if keys.refresh.verifying.contains_key(&kid) {
            let verifier = Verifier {
                alg: Algorithm::HS256,
                keys: &keys.refresh.verifying,
            };
            let claims: T = self.verify(token, false, Some(REFRESH_TYP), verifier)?;
            if claims.typ() != &TokenType::Refresh {
                return Err(Failure::Invalid("the token is not a refresh token"));
            }
            return Ok(claims);
        }
        let claims: T = self.verify(token, false, None, access_keys(&keys))?;
        legacy_refresh(&keys, claims)
    }

    /// The `kid` of a token whose key this instance does not know, if that is why it fails.
    pub fn unknown_kid(&self, token: &str) -> Option<String> {
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        (!self.knows_kid(&kid)).then_some(kid)
    }

    /// Verifies signature, header and claims. `typ` is the media type the header must
    /// name (RFC 9068 for access tokens; the `application/` prefix may be left out, RFC
    /// 7515 §4.1.9).
    fn verify<T: serde::de::DeserializeOwned + Issued>(
        &self,
        token: &str,
        require_nbf: bool,
        typ: Option<&str>,
        keys: Verifier<'_>,
    ) -> Result<T, Failure> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Failure::Invalid("the token is malformed"))?;
        if header.alg != keys.alg {
            return Err(Failure::Invalid("the token uses another algorithm"));
        }
        // RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` lists an extension
        // it does not understand; this service understands none (and an empty list is
        // itself invalid).
        if header.crit.is_some() {
            return Err(Failure::Invalid(
                "the token has critical header parameters this service does not understand",
            ));
        }
        if let Some(expected) = typ {
            let given = header
                .typ
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if given.strip_prefix("application/").unwrap_or(&given) != expected {
                return Err(Failure::Invalid("the token's header has the wrong type"));
            }
        }
        let kid = header
            .kid
            .ok_or(Failure::Invalid("the token has no key id"))?;
        let key = keys
            .keys
            .get(&kid)
            .ok_or(Failure::Invalid("the token's key is unknown"))?;
        let mut validation = Validation::new(keys.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        let mut required = vec!["exp", "iat", "iss", "aud", "sub"];
        if require_nbf {
            required.push("nbf");
        }
        validation.set_required_spec_claims(&required);
        let claims = jsonwebtoken::decode::<T>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => Failure::Expired,
                ErrorKind::ImmatureSignature => Failure::Invalid("the token is not valid yet"),
                ErrorKind::InvalidIssuer => Failure::Invalid("the token has the wrong issuer"),
                ErrorKind::InvalidAudience => Failure::Invalid("the token has the wrong audience"),
                ErrorKind::InvalidSignature => Failure::Invalid("the token's signature is invalid"),
                _ => Failure::Invalid("the token is invalid"),
            })?;
        if claims.iat() > clock::now().timestamp() + LEEWAY_SECS as i64 {
            return Err(Failure::Invalid("the token was issued in the future"));
        }
        Ok(claims)
    }
}

/// The header `typ` of access tokens (RFC 9068 §2.1).
const ACCESS_TYP: &str = "at+jwt";

/// The header `typ` of refresh tokens.
const REFRESH_TYP: &str = "rt+jwt";

/// The only algorithm and keys a verification accepts.
#[derive(Clone, Copy)]
struct Verifier<'a> {
    alg: Algorithm,
    keys: &'a HashMap<String, DecodingKey>,
}

/// The published keys, with the configured algorithm pinned.
fn access_keys(keys: &KeySet) -> Verifier<'_> {
    Verifier {
        alg: algorithm(keys.alg),
        keys: &keys.verifying,
    }
}

/// A token that verified with an access key, accepted as a refresh token only if it is one
/// minted before refresh keys existed (the upgrade: those stay valid until they expire).
fn legacy_refresh<T: Issued>(keys: &KeySet, claims: T) -> Result<T, Failure> {
    if claims.typ() != &TokenType::Refresh {
        return Err(Failure::Invalid("the token is not a refresh token"));
    }
    if claims.iat() >= keys.refresh.legacy_before.timestamp() {
        return Err(Failure::Invalid(
            "a refresh token signed with an access key was issued after the upgrade",
        ));
    }
    Ok(claims)
}

/// Claims with an issue time, which must not lie in the future beyond the leeway, and a
/// token type.
trait Issued {
    fn iat(&self) -> i64;
    fn typ(&self) -> &TokenType;
}

impl Issued for AccessClaims {
    fn iat(&self) -> i64 {
        self.iat
    }
    fn typ(&self) -> &TokenType {
        &self.typ
    }
}

impl Issued for RefreshClaims {
    fn iat(&self) -> i64 {
        self.iat
    }
    fn typ(&self) -> &TokenType {
        &self.typ
    }
}

impl Issued for AnyClaims {
    fn iat(&self) -> i64 {
        self.iat
    }
    fn typ(&self) -> &TokenType {
        &self.typ
    }
}

enum Failure {
    Expired,
    Invalid(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "doorman".into(),
            aud: "doorman".into(),
            sub: UserId::new(),
            sid: SessionId::new(),
            jti: Uuid::now_v7(),
            iat: exp - 900,
            nbf: exp - 900,
            exp,
            typ: TokenType::Access,
            role: Role::User,
            is_admin: false,
            email: "a@example.com".into(),
            amr: vec!["pwd".into()],
        })
    }

    #[test]
    fn a_cached_token_is_only_answered_for_its_exact_text_and_until_it_expires() {
        let cache = VerifiedCache(Mutex::new(HashMap::new()));
        cache.insert("a.b.c", claims(1_000), 100);

        assert!(cache.get("a.b.c", 500).is_some());
        assert!(
            cache.get("a.b.x", 500).is_none(),
            "another signature is another token"
        );
        assert!(
            cache.get("a.b.c", 1_000 + LEEWAY_SECS as i64).is_none(),
            "expired tokens are never served"
        );
        cache.clear();
        assert!(cache.get("a.b.c", 500).is_none());
    }
}
