//! The revocation feed: sessions revoked while an access token of theirs may still be
//! unexpired, for services that verify tokens offline.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Context, span};
use crate::clock;
use crate::db;
use crate::domain::{RevokedSession, SessionId, UserId};
use crate::error::{Error, FieldError, Result};

/// The clock leeway a verifier may allow past `exp` (the contract's at most 30 s).
pub const LEEWAY: Duration = Duration::from_secs(30);
/// Entries per page at most: about 36 KB of JSON. A page of 500 (89 KB) took 11 ms at p99
/// with four pollers on two cores (bench/RESULTS.md, (j)); a verifier catching up on
/// 100,000 entries reads 500 pages of 200 in well under a second.
pub const PAGE: i64 = 200;
/// How far apart the clocks of instances sharing a database may be: a revocation stamped
/// by one instance is read against another's clock.
pub const CLOCK_ALLOWANCE: Duration = Duration::from_secs(1);

/// Where a poll resumes: after the revocation at `at` of session `sid`. Opaque to clients
/// (base64url of `<unix microseconds>.<session id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    at: DateTime<Utc>,
    sid: SessionId,
}

impl Cursor {
    /// A cursor as `next` gave it; anything else is `422` on `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let invalid = || {
            Error::Validation(vec![FieldError::new(
                field,
                "invalid_cursor",
                "is not a cursor this feed gave out (pass `next` back as it came)",
            )])
        };
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (micros, sid) = text.split_once('.').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
        let sid = Uuid::parse_str(sid).map_err(|_| invalid())?;
        Ok(Self {
            at,
            sid: SessionId(sid),
        })
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.at.timestamp_micros(), self.sid.0))
    }

    fn of(entry: &RevokedSession) -> Self {
        Self {
            at: entry.revoked_at,
            sid: entry.id,
        }
    }
}

/// One revoked session: its tokens must be refused until `expires_at`, after which none
/// of them can be valid anyway.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    pub sid: SessionId,
    pub sub: UserId,
    pub revoked_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A page of the feed and the cursor for the next poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub items: Vec<Revocation>,
    pub next: Cursor,
}

/// The revocations after `after` (all those in the window without it), oldest first.
///
/// The window is one access lifetime plus [`LEEWAY`]: a session revoked (or expired)
/// earlier has no access token left that any verifier would accept. An entry's
/// `expires_at` is the last moment one of its access tokens could still be accepted: no
/// token is minted after the session ends (revoked or expired, whichever came first), and
/// each lives one access lifetime, plus the verifier's leeway.
///
/// Commit order: `revoked_at` is stamped before its transaction commits, so a revocation
/// can become visible after a later-stamped one was already read. A transaction ends
/// within the database deadline of its stamp, so a revocation older than
/// `revocation_settle` (that deadline plus [`CLOCK_ALLOWANCE`]) that is not visible now
/// never will be. The cursor therefore never passes a revocation younger than that: such
/// entries are sent at once and again on the next polls until they have settled, and
/// verifiers keep a set of `sid`s, so the repeat is harmless and nothing is skipped. A full
/// page carries settled entries only, so "full means poll again at once" cannot spin.
pub async fn feed(ctx: &Context, after: Option<Cursor>) -> Result<Feed> {
    let now = clock::now();
    let lifetime = span(ctx.settings.access_ttl + LEEWAY);
    let window = now - lifetime;
    let settled = now - span(ctx.settings.revocation_settle);
    let from = match after {
        Some(cursor) if cursor.at >= window => (cursor.at, cursor.sid),
        _ => (window, SessionId(Uuid::nil())),
    };
    let mut rows = db::with_conn!(ctx.db, |c| {
        db::sessions::revoked_after(c, from, window, PAGE).await
    })
    .await?;
    if usize::try_from(PAGE).is_ok_and(|page| rows.len() >= page) {
        rows.retain(|row| row.revoked_at <= settled);
    }
    let last_settled = rows.iter().rev().find(|row| row.revoked_at <= settled);
    let next = match (last_settled, after) {
        (Some(last), _) => Cursor::of(last),
        (None, Some(given)) => given,
        // The start of time: the next poll reads the whole window again, which is empty
        // but for revocations made since. A fixed cursor keeps the `ETag` of an empty
        // feed stable between polls.
        (None, None) => Cursor {
            at: DateTime::UNIX_EPOCH,
            sid: SessionId(Uuid::nil()),
        },
    };
    let items = rows
        .into_iter()
        .map(|row| Revocation {
            sid: row.id,
            sub: row.user_id,
            revoked_at: row.revoked_at,
            expires_at: row.revoked_at.min(row.expires_at) + lifetime,
        })
        .collect();
    Ok(Feed { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_encodes() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap_or_default(),
            sid: SessionId(Uuid::now_v7()),
        };
        assert_eq!(Cursor::parse("after", &cursor.encode()).ok(), Some(cursor));
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        for raw in ["", "x", "bm90IGEgY3Vyc29y", "MTIzLm5vdC1hLXV1aWQ", "%%%"] {
            assert!(Cursor::parse("after", raw).is_err(), "{raw}");
        }
    }
}
