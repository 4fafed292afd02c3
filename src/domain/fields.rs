//! Request fields, parsed once into types that can only hold valid values.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::NaiveDate;
use unicode_normalization::UnicodeNormalization;

use crate::clock;
use crate::error::FieldError;

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .collect()
});

/// Rejects NUL and other control characters (`allow_newlines` lets `\n`, `\r`, `\t` through).
pub fn check_no_control_chars(
    field: &str,
    value: &str,
    allow_newlines: bool,
) -> Result<(), FieldError> {
    let bad = value
        .chars()
        .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')));
    if bad {
        return Err(FieldError::new(
            field,
            "control_characters",
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn length_between(field: &str, value: &str, min: usize, max: usize) -> Result<(), FieldError> {
    let len = value.chars().count();
    if len < min {
        return Err(FieldError::new(
            field,
            "too_short",
            format!("must be at least {min} characters"),
        ));
    }
    if len > max {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// An email address: trimmed, lower-cased, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        check_no_control_chars(field, raw, false)?;
        let value = raw.trim().to_lowercase();
        if value.chars().count() > 254 {
            return Err(FieldError::new(
                field,
                "too_long",
                "must be at most 254 characters",
            ));
        }
        if !is_valid_email(&value) {
            return Err(FieldError::new(
                field,
                "invalid_email",
                "is not a valid email address",
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

fn is_valid_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()));
    local_ok && domain_ok
}

/// A username: 3–32 characters of `[A-Za-z0-9_.-]`, unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        check_no_control_chars(field, raw, false)?;
        length_between(field, raw, 3, 32)?;
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(FieldError::new(
                field,
                "invalid_username",
                "may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): text
/// holding them can show staff something other than what it says ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing on their own: white space, format characters (zero-width
/// space, joiners, marks, the BOM, soft hyphen, tags, …), variation selectors and the
/// fillers that render blank.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Refuses text that would show staff something else than it holds: bidirectional
/// override or isolate characters, or nothing visible at all.
fn check_displayable(field: &str, value: &str) -> Result<(), FieldError> {
    if value.chars().any(is_bidi_control) {
        return Err(FieldError::new(
            field,
            "bidi_control_characters",
            "must not contain bidirectional override or isolate characters",
        ));
    }
    if !value.is_empty() && value.chars().all(is_invisible) {
        return Err(FieldError::new(
            field,
            "no_visible_characters",
            "must contain at least one visible character",
        ));
    }
    Ok(())
}

/// A first or last name: 1–100 characters after trimming, at least one of them visible,
/// no bidirectional overrides or isolates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        check_no_control_chars(field, raw, false)?;
        let value = raw.trim();
        length_between(field, value, 1, 100)?;
        check_displayable(field, value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A phone number in E.164: `+` and 8–15 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        check_no_control_chars(field, raw, false)?;
        let value = raw.trim();
        let digits = value.strip_prefix('+').unwrap_or("");
        let ok = (8..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0');
        if !ok {
            return Err(FieldError::new(
                field,
                "invalid_phone_number",
                "must be E.164: '+' and 8–15 digits",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A date of birth: a real `YYYY-MM-DD` date, not in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateOfBirth(NaiveDate);

impl DateOfBirth {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        check_no_control_chars(field, raw, false)?;
        let well_formed = raw.len() == 10 && raw.as_bytes()[4] == b'-' && raw.as_bytes()[7] == b'-';
        let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .filter(|_| well_formed)
            .ok_or_else(|| {
                FieldError::new(field, "invalid_date", "must be a real date as YYYY-MM-DD")
            })?;
        if date > clock::now().date_naive() {
            return Err(FieldError::new(
                field,
                "in_future",
                "must not be in the future",
            ));
        }
        Ok(Self(date))
    }

    pub fn into_inner(self) -> NaiveDate {
        self.0
    }
}

/// Why a password cannot be set. One rule for every place a password is set (registration,
/// change, reset, staff creation, `create-admin`, the bootstrap admin): the characters it may
/// hold follow NIST SP 800-63B: every printing character and the space, any Unicode, compared
/// after NFKC normalisation; control characters (C0, DEL, C1: tab, newline, NUL, …) are
/// refused, because a login form cannot reliably send them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    ControlCharacters,
    TooShort,
    TooLong,
    OnlyWhitespace,
    SameAsEmail,
    SameAsUsername,
    TooCommon,
}

impl PasswordProblem {
    /// The field error's code.
    pub fn code(self) -> &'static str {
        match self {
            Self::ControlCharacters => "control_characters",
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::OnlyWhitespace => "only_whitespace",
            Self::SameAsEmail => "same_as_email",
            Self::SameAsUsername => "same_as_username",
            Self::TooCommon => "too_common",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::ControlCharacters => {
                "must not contain control characters (tab, newline, NUL, DEL, …)"
            }
            Self::TooShort => "must be at least 8 characters",
            Self::TooLong => "must be at most 128 characters",
            Self::OnlyWhitespace => "must not be only whitespace",
            Self::SameAsEmail => "must not be the email address",
            Self::SameAsUsername => "must not be the username",
            Self::TooCommon => "is one of the 10,000 most common passwords",
        }
    }

    /// Malformed text (`validation_failed`, as for every text field) rather than a broken
    /// password rule (`weak_password`).
    pub fn is_malformed(self) -> bool {
        self == Self::ControlCharacters
    }

    pub fn field_error(self, field: &str) -> FieldError {
        FieldError::new(field, self.code(), self.message())
    }
}

/// The one normalisation of a password, applied where it is set and where it is checked:
/// NFKC, so that the same text typed on another keyboard or system matches.
fn normalise_password(raw: &str) -> String {
    raw.nfkc().collect()
}

/// A password that obeys the password rules, normalised. Holds the plain text only until it
/// is hashed.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

impl NewPassword {
    /// Checks the rules of the contract on the normalised password.
    pub fn parse(
        raw: &str,
        email: Option<&str>,
        username: Option<&str>,
    ) -> Result<Self, PasswordProblem> {
        let value = normalise_password(raw);
        if value.chars().any(char::is_control) {
            return Err(PasswordProblem::ControlCharacters);
        }
        let len = value.chars().count();
        if len < 8 {
            return Err(PasswordProblem::TooShort);
        }
        if len > 128 {
            return Err(PasswordProblem::TooLong);
        }
        if value.trim().is_empty() {
            return Err(PasswordProblem::OnlyWhitespace);
        }
        let trimmed = value.trim();
        if email.is_some_and(|e| e.trim().eq_ignore_ascii_case(trimmed)) {
            return Err(PasswordProblem::SameAsEmail);
        }
        if username.is_some_and(|u| u.eq_ignore_ascii_case(trimmed)) {
            return Err(PasswordProblem::SameAsUsername);
        }
        if COMMON_PASSWORDS.contains(value.to_lowercase().as_str()) {
            return Err(PasswordProblem::TooCommon);
        }
        Ok(Self(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A password someone gives to prove who they are (login, password change, account
/// deletion), normalised as [`NewPassword`] is. It is never refused for its characters: one
/// that could not have been set simply matches no credential (`invalid_credentials`, after
/// the same work as any wrong password).
#[derive(Clone)]
pub struct PasswordAttempt {
    normalised: String,
    /// The text as given, when normalising changed it: a credential set before passwords
    /// were normalised is a hash of that.
    legacy: Option<String>,
}

impl std::fmt::Debug for PasswordAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordAttempt(***)")
    }
}

impl PasswordAttempt {
    pub fn new(raw: &str) -> Self {
        let normalised = normalise_password(raw);
        let legacy = (normalised != raw).then(|| raw.to_owned());
        Self { normalised, legacy }
    }

    pub fn expose(&self) -> &str {
        &self.normalised
    }

    /// The text as given, if it is not already normalised; to be tried against a
    /// credential only after the normalised form failed.
    pub fn legacy(&self) -> Option<&str> {
        self.legacy.as_deref()
    }
}

/// A task title: 1–200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        check_no_control_chars(field, raw, false)?;
        let value = raw.trim();
        length_between(field, value, 1, 200)?;
        Ok(Self(value.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A task description: at most 10,000 characters; newlines and tabs allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDescription(String);

impl TaskDescription {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        check_no_control_chars(field, raw, true)?;
        length_between(field, raw, 0, 10_000)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("email", "  Ann@Example.COM ").map(Email::into_inner),
            Ok("ann@example.com".into())
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a..b@example.com",
            "ann@-x.com",
            "a b@x.com",
        ] {
            assert!(
                Email::parse("email", bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn common_and_short_passwords_are_weak() {
        let problem = |raw| NewPassword::parse(raw, None, None).err();
        assert_eq!(problem("password"), Some(PasswordProblem::TooCommon));
        assert_eq!(problem("QWERTYUIOP"), Some(PasswordProblem::TooCommon));
        assert_eq!(problem("short"), Some(PasswordProblem::TooShort));
        assert_eq!(problem("         "), Some(PasswordProblem::OnlyWhitespace));
        assert_eq!(problem("correct horse battery"), None);
    }

    #[test]
    fn passwords_may_hold_any_printing_unicode_but_no_control_character() {
        for ok in [
            "pässwörd ünïcödé",
            "пароль-надёжный",
            "🔐🔑🗝️ emoji pass",
            "tab\u{00A0}less nbsp",
        ] {
            assert!(NewPassword::parse(ok, None, None).is_ok(), "{ok:?}");
        }
        for bad in [
            "with\ttab inside",
            "new\nline inside",
            "bell\u{7} inside",
            "del\u{7f} inside",
            "nel\u{85} inside",
            "nul\u{0} inside",
        ] {
            assert_eq!(
                NewPassword::parse(bad, None, None).err(),
                Some(PasswordProblem::ControlCharacters),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_password_is_normalised_alike_where_it_is_set_and_where_it_is_checked() {
        let composed = "caf\u{e9} au lait fort";
        let decomposed = "cafe\u{301} au lait fort";
        let set = NewPassword::parse(composed, None, None).map(|p| p.expose().to_owned());
        assert_eq!(
            set.as_deref(),
            Ok(PasswordAttempt::new(decomposed).expose())
        );
    }

    #[test]
    fn names_must_show_something_and_hold_no_bidi_controls() {
        let code = |raw| Name::parse("first_name", raw).err().map(|e| e.code);
        assert_eq!(code("Ada"), None);
        assert_eq!(code("Zoë-Ångström"), None);
        assert_eq!(code("عائشة"), None, "right-to-left scripts are fine");
        assert_eq!(code("\u{200B}"), Some("no_visible_characters".into()));
        assert_eq!(
            code("\u{200D}\u{FEFF}\u{2060}"),
            Some("no_visible_characters".into())
        );
        assert_eq!(code("\u{3164}"), Some("no_visible_characters".into()));
        assert_eq!(
            code("Ada\u{202E}nimda"),
            Some("bidi_control_characters".into())
        );
        assert_eq!(
            code("\u{2066}Ada\u{2069}"),
            Some("bidi_control_characters".into())
        );
    }

    #[test]
    fn the_common_list_holds_ten_thousand_entries() {
        assert!(COMMON_PASSWORDS.len() > 9_900);
    }

    #[test]
    fn phone_numbers_must_be_e164() {
        assert!(Phone::parse("p", "+4915112345678").is_ok());
        assert!(Phone::parse("p", "015112345678").is_err());
        assert!(Phone::parse("p", "+12").is_err());
    }

    #[test]
    fn dates_of_birth_must_be_real_and_past() {
        assert!(DateOfBirth::parse("d", "1990-02-28").is_ok());
        assert!(DateOfBirth::parse("d", "1990-02-30").is_err());
        assert!(DateOfBirth::parse("d", "1990-2-3").is_err());
        assert!(DateOfBirth::parse("d", "2999-01-01").is_err());
    }
}
