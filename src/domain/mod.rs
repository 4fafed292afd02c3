//! Types every layer shares: ids, roles, the user and session records, and the parsed
//! request fields. Pure and synchronous: no I/O, no framework.

mod fields;

pub use fields::{
    DateOfBirth, Email, Name, NewPassword, Phone, TaskDescription, TaskTitle, Username,
    check_no_control_chars,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A user's id.
    UserId,
    /// A sign-in session's id (the `sid` claim).
    SessionId,
    /// A task's id.
    TaskId,
    /// An audit event's id.
    AuditEventId,
);

/// Staff roles, ordered: `user` < `sub_admin` < `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    SubAdmin,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::SubAdmin => "sub_admin",
            Self::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(Self::User),
            "sub_admin" => Some(Self::SubAdmin),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn is_admin(self) -> bool {
        self == Self::Admin
    }

    pub fn is_staff(self) -> bool {
        self >= Self::SubAdmin
    }
}

/// A user as stored (never with a password or hash).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub date_of_birth: Option<chrono::NaiveDate>,
    pub role: Role,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

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
}

impl Session {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// How a person names themselves at login (email already lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    Email(String),
    Username(String),
    Phone(String),
}

/// Who made a request, for sessions and the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

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
}

impl AuditKind {
    pub const ALL: [Self; 16] = [
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
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
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

/// A freshly issued pair of tokens.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub session_id: SessionId,
    pub user: User,
}
