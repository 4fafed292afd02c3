//! The audit trail: event kinds and events.

use super::*;

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    UserRegistered,
    LoginSucceeded,
    LoginFailed,
    LoginLocked,
    Logout,
    RefreshTokenReused,
    PasswordChanged,
    PasswordResetRequested,
    PasswordResetCompleted,
    UserCreated,
    UserUpdated,
    UserRoleChanged,
    UserActivated,
    UserDeactivated,
    UserDeleted,
    SessionsRevoked,
    PasskeyAdded,
    PasskeyRemoved,
    PasskeyLogin,
    /// An assertion whose signature counter did not go forward (a cloned authenticator?):
    /// refused.
    PasskeyCounterRegressed,
    MfaEnabled,
    MfaDisabled,
    MfaFailed,
    MfaRecoveryCodeUsed,
    MfaRecoveryCodesRegenerated,
    MfaReset,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
}

impl AuditKind {
    pub const ALL: [Self; 29] = [
        Self::UserRegistered,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LoginLocked,
        Self::Logout,
        Self::RefreshTokenReused,
        Self::PasswordChanged,
        Self::PasswordResetRequested,
        Self::PasswordResetCompleted,
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserRoleChanged,
        Self::UserActivated,
        Self::UserDeactivated,
        Self::UserDeleted,
        Self::SessionsRevoked,
        Self::PasskeyAdded,
        Self::PasskeyRemoved,
        Self::PasskeyLogin,
        Self::PasskeyCounterRegressed,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::MfaFailed,
        Self::MfaRecoveryCodeUsed,
        Self::MfaRecoveryCodesRegenerated,
        Self::MfaReset,
        Self::WebhookCreated,
        Self::WebhookUpdated,
        Self::WebhookDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::LoginLocked => "login.locked",
            Self::Logout => "logout",
            Self::RefreshTokenReused => "refresh_token.reused",
            Self::PasswordChanged => "password.changed",
            Self::PasswordResetRequested => "password.reset_requested",
            Self::PasswordResetCompleted => "password.reset_completed",
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserRoleChanged => "user.role_changed",
            Self::UserActivated => "user.activated",
            Self::UserDeactivated => "user.deactivated",
            Self::UserDeleted => "user.deleted",
            Self::SessionsRevoked => "sessions.revoked",
            Self::PasskeyAdded => "passkey.added",
            Self::PasskeyRemoved => "passkey.removed",
            Self::PasskeyLogin => "passkey.login",
            Self::PasskeyCounterRegressed => "passkey.counter_regressed",
            Self::MfaEnabled => "mfa.enabled",
            Self::MfaDisabled => "mfa.disabled",
            Self::MfaFailed => "mfa.failed",
            Self::MfaRecoveryCodeUsed => "mfa.recovery_code_used",
            Self::MfaRecoveryCodesRegenerated => "mfa.recovery_codes_regenerated",
            Self::MfaReset => "mfa.reset",
            Self::WebhookCreated => "webhook.created",
            Self::WebhookUpdated => "webhook.updated",
            Self::WebhookDeleted => "webhook.deleted",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// The kind's bit in a set of kinds (see `EventFilter::mask`).
    pub fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// One entry of the audit trail. `detail` never holds passwords, hashes or tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub at: DateTime<Utc>,
    pub kind: AuditKind,
    pub actor_id: Option<UserId>,
    pub subject_id: Option<UserId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditEvent {
    pub fn new(kind: AuditKind, at: DateTime<Utc>, client: &ClientInfo) -> Self {
        Self {
            id: AuditEventId::new(),
            at,
            kind,
            actor_id: None,
            subject_id: None,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            detail: serde_json::json!({}),
        }
    }

    pub fn actor(mut self, id: UserId) -> Self {
        self.actor_id = Some(id);
        self
    }

    pub fn subject(mut self, id: UserId) -> Self {
        self.subject_id = Some(id);
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}
