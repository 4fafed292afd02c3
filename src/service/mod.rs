//! The rules of the service: who may do what, in which transaction, with which audit
//! event. Knows neither actix nor Diesel.

pub mod admin;
pub mod auth;
pub mod keys;
pub mod mfa;
pub mod notify;
pub mod passkeys;
pub mod password_reset;
pub mod policy;
pub mod retention;
pub mod revocations;
pub mod sessions;
pub mod tasks;
pub mod users;
pub mod webhooks;

use std::time::Duration;

use crate::crypto::jwt::TokenCodec;
use crate::crypto::password::PasswordHasher;
use crate::db::Db;
use crate::mail::Mailer;

/// Everything a request needs, built once at start-up.
pub struct Context {
    pub db: Db,
    pub tokens: TokenCodec,
    pub hasher: PasswordHasher,
    pub mailer: std::sync::Arc<Mailer>,
    pub metrics: crate::metrics::Metrics,
    pub settings: Settings,
    pub key_reload: keys::ReloadGate,
    /// Queues security notifications (`notify::send`).
    pub notifier: notify::Notifier,
    /// The WebAuthn relying party; `None` when `DOORMAN_PUBLIC_URL` names no domain
    /// (passkeys are then off).
    pub webauthn: Option<std::sync::Arc<webauthn_rs::Webauthn>>,
}

/// The parts of the configuration the rules depend on. No `Debug`: it holds the HS256
/// secret (which stays a `SecretString` until the key set is built from it).
#[derive(Clone)]
pub struct Settings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub session_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    pub registration_open: bool,
    pub reset_token_ttl: Duration,
    pub public_url: String,
    pub jwt_alg: crate::config::JwtAlg,
    pub key_file: Option<String>,
    pub hs256_secret: Option<secrecy::SecretString>,
    /// Ended sessions are kept this long, then removed by the retention job.
    pub session_retention: Duration,
    /// Audit events are kept this long; `None` keeps them forever.
    pub audit_retention: Option<Duration>,
    /// How often the retention job runs (once across all instances).
    pub retention_interval: Duration,
    /// The revocation feed's `Cache-Control: max-age`.
    pub revocation_poll: Duration,
    /// Seals and opens the secrets kept in the database (`DOORMAN_DATA_KEY`).
    pub secrets: crate::crypto::data_key::Secrets,
    /// How long after its `revoked_at` a revocation may still be uncommitted: the
    /// deadline of a database call plus [`revocations::CLOCK_ALLOWANCE`].
    pub revocation_settle: Duration,
    /// Who must have a second factor (`DOORMAN_MFA_REQUIRED`).
    pub mfa_required: crate::config::MfaRequired,
    /// Webhook targets may be loopback or private addresses.
    pub webhook_allow_private: bool,
    /// The wait after a webhook's first failed attempt (doubling after each next one).
    pub webhook_retry_base: Duration,
}

/// `chrono` form of a configured duration (saturating; durations come from config).
pub(crate) fn span(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// How many credentials a new password is compared with: the current one and 4 before it.
pub const PASSWORD_HISTORY: i64 = 5;
