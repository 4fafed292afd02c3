//! Response bodies shared by several resources, and the field-error collector.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{self, Role, SessionId, UserId};
use crate::error::{Error, FieldError};

/// A user. Never carries a password or hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019ae8a4-7c1e-7d3a-9f3e-2b6c1d0e4a57",
    "email": "ada@example.com",
    "username": "ada",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone_number": "+4915112345678",
    "date_of_birth": "1990-12-10",
    "role": "user",
    "is_admin": false,
    "is_active": true,
    "created_at": "2026-12-06T15:04:05.123456Z",
    "updated_at": "2026-12-06T15:04:05.123456Z",
    "last_login_at": null
}))]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<NaiveDate>,
    pub role: Role,
    /// `role == "admin"`.
    pub is_admin: bool,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<domain::User> for User {
    fn from(u: domain::User) -> Self {
        Self {
            id: u.id,
            is_admin: u.role.is_admin(),
            email: u.email,
            username: u.username,
            first_name: u.first_name,
            last_name: u.last_name,
            phone_number: u.phone_number,
            date_of_birth: u.date_of_birth,
            role: u.role,
            is_active: u.is_active,
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// An access token and the session's refresh token.
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    pub session_id: SessionId,
    pub user: User,
}

impl From<domain::TokenPair> for TokenPair {
    fn from(p: domain::TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            token_type: "Bearer",
            expires_in: p.expires_in,
            refresh_token: p.refresh_token,
            refresh_expires_in: p.refresh_expires_in,
            session_id: p.session_id,
            user: p.user.into(),
        }
    }
}

/// Collects field problems so a request learns about all of them at once.
#[derive(Default)]
pub struct Fields {
    invalid: Vec<FieldError>,
    weak: Vec<FieldError>,
}

impl Fields {
    pub fn take<T>(&mut self, parsed: Result<T, FieldError>) -> Option<T> {
        parsed.map_err(|e| self.invalid.push(e)).ok()
    }

    pub fn take_opt<T>(
        &mut self,
        raw: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, FieldError>,
    ) -> Option<T> {
        raw.and_then(|raw| self.take(parse(raw)))
    }

    /// A password rule problem (`weak_password`) or a malformed password (`validation_failed`).
    pub fn take_password<T>(
        &mut self,
        field: &str,
        parsed: Result<T, domain::PasswordProblem>,
    ) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(problem) if problem.is_malformed() => {
                self.invalid.push(problem.field_error(field));
                None
            }
            Err(problem) => {
                self.weak.push(problem.field_error(field));
                None
            }
        }
    }

    pub fn push(&mut self, error: FieldError) {
        self.invalid.push(error);
    }

    /// `validation_failed` listing every problem when any field is malformed; otherwise
    /// `weak_password` when only password rules were broken.
    pub fn finish(self) -> Result<(), Error> {
        if !self.invalid.is_empty() {
            let mut all = self.invalid;
            all.extend(self.weak);
            return Err(Error::Validation(all));
        }
        if !self.weak.is_empty() {
            return Err(Error::WeakPassword(self.weak));
        }
        Ok(())
    }
}

/// The parsed value of a field that `Fields::finish` has vouched for.
pub fn vouched<T>(value: Option<T>) -> Result<T, Error> {
    value.ok_or_else(|| Error::internal(anyhow::anyhow!("a field was missing after validation")))
}

/// For PATCH bodies: an absent field is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

impl Fields {
    /// A nullable PATCH field: absent keeps, `null` clears, a value is parsed.
    pub fn patch<T>(
        &mut self,
        raw: Option<Option<String>>,
        parse: impl FnOnce(&str) -> Result<T, FieldError>,
    ) -> domain::Patch<T> {
        match raw {
            None => domain::Patch::Keep,
            Some(None) => domain::Patch::Clear,
            Some(Some(value)) => self
                .take(parse(&value))
                .map_or(domain::Patch::Keep, domain::Patch::Set),
        }
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// How many items the whole list has.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

impl<T: ToSchema> Page<T> {
    pub fn from_domain<D>(page: domain::Page<D>, convert: impl FnMut(D) -> T) -> Self {
        let request = page.request;
        Self {
            items: page.items.into_iter().map(convert).collect(),
            total: page.total,
            limit: request.limit,
            offset: request.offset,
        }
    }
}

/// `?limit=&offset=` parsed into a page request, or 422.
pub fn page_request(limit: Option<i64>, offset: Option<i64>) -> Result<domain::PageRequest, Error> {
    domain::PageRequest::parse(limit, offset).map_err(Error::Validation)
}

/// A sign-in session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub id: SessionId,
    pub created_at: DateTime<Utc>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// The absolute end of the session.
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The session of the token that made this request.
    pub current: bool,
}

impl Session {
    pub fn new(session: domain::Session, current: Option<SessionId>) -> Self {
        Self {
            current: Some(session.id) == current,
            id: session.id,
            created_at: session.created_at,
            last_refreshed_at: session.last_refreshed_at,
            expires_at: session.expires_at,
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}
