//! Types every layer shares: ids, roles, the user and session records, and the parsed
//! request fields. Pure and synchronous: no I/O, no framework.

mod fields;

pub use fields::{
    DateOfBirth, Email, Name, NewPassword, PasswordAttempt, PasswordProblem, Phone,
    TaskDescription, TaskTitle, Username, check_no_control_chars,
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

/// What a task update changes: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskChange {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub done: Option<bool>,
}

/// A to-do item, owned by one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub user_id: UserId,
    pub title: String,
    pub description: Option<String>,
    pub done: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `?limit=&offset=`, parsed: limit 1–200 (default 50), offset ≥ 0 (default 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: i64,
    pub offset: i64,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 200;

    pub fn parse(
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Self, Vec<crate::error::FieldError>> {
        use crate::error::FieldError;
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        let offset = offset.unwrap_or(0);
        let mut errors = Vec::new();
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                "out_of_range",
                "must be between 1 and 200",
            ));
        }
        if offset < 0 {
            errors.push(FieldError::new(
                "offset",
                "out_of_range",
                "must not be negative",
            ));
        }
        if errors.is_empty() {
            Ok(Self { limit, offset })
        } else {
            Err(errors)
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub request: PageRequest,
}

/// A change to an optional field: leave it, clear it (`null`), or set it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Self::Keep => Patch::Keep,
            Self::Clear => Patch::Clear,
            Self::Set(value) => Patch::Set(f(value)),
        }
    }

    /// `None` to keep, `Some(None)` to clear, `Some(Some(v))` to set.
    pub fn into_option(self) -> Option<Option<T>> {
        match self {
            Self::Keep => None,
            Self::Clear => Some(None),
            Self::Set(value) => Some(Some(value)),
        }
    }
}

/// Profile fields a change may touch; `Keep` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChanges {
    pub email: Option<Email>,
    pub username: Patch<Username>,
    pub first_name: Patch<Name>,
    pub last_name: Patch<Name>,
    pub phone_number: Patch<Phone>,
    pub date_of_birth: Patch<DateOfBirth>,
    pub is_active: Option<bool>,
}

impl ProfileChanges {
    pub fn touches_profile(&self) -> bool {
        self.email.is_some()
            || !self.username.is_keep()
            || !self.first_name.is_keep()
            || !self.last_name.is_keep()
            || !self.phone_number.is_keep()
            || !self.date_of_birth.is_keep()
    }
}

/// Staff list filters.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of email, username, first or last name.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub sort: UserSort,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserSort {
    CreatedAt,
    #[default]
    CreatedAtDesc,
    Email,
    EmailDesc,
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
