//! Accounts: roles, the user record, login names, profile changes and staff filters.

use super::*;

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

/// How a person names themselves at login (email already lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    Email(String),
    Username(String),
    Phone(String),
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

impl UserSort {
    /// The same order, backwards (each order is total: ties on `created_at` go by id, and
    /// emails are unique).
    pub fn reversed(self) -> Self {
        match self {
            Self::CreatedAt => Self::CreatedAtDesc,
            Self::CreatedAtDesc => Self::CreatedAt,
            Self::Email => Self::EmailDesc,
            Self::EmailDesc => Self::Email,
        }
    }
}
