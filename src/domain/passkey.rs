//! Passkeys (WebAuthn credentials) as the API shows them, and their names.

use super::*;

/// A passkey of an account: never its key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    pub id: PasskeyId,
    pub user_id: UserId,
    pub name: PasskeyName,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What the account holder calls a passkey ("Laptop", "YubiKey 5"): 1–64 characters after
/// trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

impl PasskeyName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(field: &str, raw: &str) -> Result<Self, crate::error::FieldError> {
        check_no_control_chars(field, raw, false)?;
        let name = raw.trim();
        if name.is_empty() {
            return Err(crate::error::FieldError::new(
                field,
                "required",
                "must not be empty",
            ));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(crate::error::FieldError::new(
                field,
                "too_long",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// A name read back from the database, where only parsed names are written.
    pub fn stored(name: String) -> Self {
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
