//! Sessions and what they hand out: the session record, the client that opened it, token
//! pairs, revoked sessions for the feed, and reset tokens.

use super::*;

/// A sign-in session: one login, renewed by refresh, ended by logout or revocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The `jti` of the one refresh token that may be exchanged now.
    pub refresh_jti: Uuid,
    pub refresh_iat: DateTime<Utc>,
    pub refresh_exp: DateTime<Utc>,
    /// The `jti` exchanged last, still answered during the reuse grace interval.
    pub previous_jti: Option<Uuid>,
    pub rotated_at: Option<DateTime<Utc>>,
    /// How the session was signed in; refreshes keep it.
    pub amr: Amr,
}

/// Authentication methods references (RFC 8176) of a sign-in: `pwd`, then `otp` or `rec`
/// and `mfa` after a second step; `hwk`/`swk`, `user`, `mfa` after a passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amr(Vec<String>);

impl Amr {
    /// A password alone.
    pub fn password() -> Self {
        Self::of(&["pwd"])
    }

    pub fn of(values: &[&str]) -> Self {
        Self(values.iter().map(|v| (*v).to_owned()).collect())
    }

    /// As stored: the values separated by spaces (an empty text reads as `pwd`, the
    /// column's default).
    pub fn from_stored(stored: &str) -> Self {
        let values: Vec<String> = stored.split_whitespace().map(str::to_owned).collect();
        if values.is_empty() {
            Self::password()
        } else {
            Self(values)
        }
    }

    pub fn to_stored(&self) -> String {
        self.0.join(" ")
    }

    pub fn values(&self) -> &[String] {
        &self.0
    }
}

impl Session {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// Who made a request, for sessions and the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A freshly issued pair of tokens.
#[derive(Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub session_id: SessionId,
    pub user: User,
}

/// A password reset token as stored (only its hash is kept, so not the token itself).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResetToken {
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

impl ResetToken {
    /// Unused and unexpired.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

/// A revoked session, as the revocation feed reads it: when it was revoked and when it
/// would have expired.
#[derive(Debug, Clone, PartialEq)]
pub struct RevokedSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub revoked_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
