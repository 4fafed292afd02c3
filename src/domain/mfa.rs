//! Second factors: an account's TOTP factor as stored.

use super::*;

/// An account's TOTP factor. The secrets are as sealed by `service::mfa` (never shown
/// again once enrolled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    /// The confirmed secret: TOTP is on when this is set.
    pub secret: Option<String>,
    /// A secret being enrolled, until a code confirms it.
    pub pending_secret: Option<String>,
    /// The last time step whose code was accepted: none at or before it is accepted again.
    pub last_step: Option<i64>,
    pub confirmed_at: Option<DateTime<Utc>>,
}
