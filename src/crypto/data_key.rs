//! Secrets at rest: AES-256-GCM under `DOORMAN_DATA_KEY` (aws-lc-rs, already the crypto
//! backend of the tokens and the mailer's TLS). The one module that seals and opens what
//! doorman keeps secret in the database; nothing else touches data-key bytes.
//!
//! A sealed value is text, self-describing and versioned: `v1:<key id>:<base64 of nonce,
//! ciphertext and tag>`. The key id is derived from the key, so a value names the key that
//! sealed it, and a value written before any key was set (plain text, which never starts
//! with `v1:`: PEM, base64 and base32 have no colon) is told apart from a sealed one. The
//! associated data binds a value to its row and purpose (`signing_key:<kid>`,
//! `totp:<user id>`): a sealed value copied to another row does not open.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The version prefix of the one format so far.
const V1: &str = "v1";

/// Why a stored value does not open (or a key cannot be read). Never holds secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataKeyError {
    #[error(
        "{name} is not a data key: it must be 32 random bytes in base64 \
         (make one with `openssl rand -base64 32`)"
    )]
    BadKey { name: &'static str },
    #[error(
        "it is sealed under the data key `{0}`, which is neither DOORMAN_DATA_KEY nor one of \
         DOORMAN_DATA_KEY_OLD"
    )]
    UnknownKey(String),
    #[error("it is sealed under the data key `{0}`, but DOORMAN_DATA_KEY is unset")]
    NoKey(String),
    #[error("it is not a sealed value of a known format")]
    Malformed,
    #[error("it does not open under the data key `{0}`: changed, or copied from another row")]
    Forged(String),
    #[error("the system's random number generator failed")]
    NoRandomness,
}

/// One 256-bit AES-GCM key and its id.
pub struct DataKey {
    id: String,
    key: LessSafeKey,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").field("id", &self.id).finish()
    }
}

impl DataKey {
    /// A key from 32 bytes in base64 (standard or URL-safe, padded or not); `name` is the
    /// setting it came from, for the error.
    pub fn parse(name: &'static str, encoded: &str) -> Result<Self, DataKeyError> {
        let encoded = encoded.trim();
        let bytes = STANDARD
            .decode(encoded)
            .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')))
            .map_err(|_| DataKeyError::BadKey { name })?;
        Self::from_bytes(&bytes).ok_or(DataKeyError::BadKey { name })
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 {
            return None;
        }
        let digest = Sha256::digest([b"doorman-data-key-id:".as_slice(), bytes].concat());
        let id = URL_SAFE_NO_PAD.encode(&digest[..6]);
        let key = UnboundKey::new(&AES_256_GCM, bytes).ok()?;
        Some(Self {
            id,
            key: LessSafeKey::new(key),
        })
    }

    /// The key's id as sealed values name it (derived from the key; reveals nothing of it).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext` under a fresh random 96-bit nonce, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, DataKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| DataKeyError::NoRandomness)?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed,
            )
            .map_err(|_| DataKeyError::NoRandomness)?;
        let mut body = nonce.to_vec();
        body.extend_from_slice(&sealed);
        Ok(format!("{V1}:{}:{}", self.id, URL_SAFE_NO_PAD.encode(body)))
    }

    /// Opens a value this key sealed with the same `aad`.
    pub fn open(&self, stored: &str, aad: &[u8]) -> Result<Vec<u8>, DataKeyError> {
        let sealed = Sealed::parse(stored).ok_or(DataKeyError::Malformed)?;
        if sealed.key_id != self.id {
            return Err(DataKeyError::UnknownKey(sealed.key_id.to_owned()));
        }
        self.open_body(sealed.body, aad)
    }

    fn open_body(&self, body: &str, aad: &[u8]) -> Result<Vec<u8>, DataKeyError> {
        let mut bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| DataKeyError::Malformed)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(DataKeyError::Malformed);
        }
        let mut in_out = bytes.split_off(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(&bytes).map_err(|_| DataKeyError::Malformed)?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| DataKeyError::Forged(self.id.clone()))?;
        Ok(plain.to_vec())
    }
}

/// A stored value split into its parts.
struct Sealed<'a> {
    key_id: &'a str,
    body: &'a str,
}

impl<'a> Sealed<'a> {
    /// `None` when `stored` is not in the sealed format.
    fn parse(stored: &'a str) -> Option<Self> {
        let rest = stored.strip_prefix(V1)?.strip_prefix(':')?;
        let (key_id, body) = rest.split_once(':')?;
        Some(Self { key_id, body })
    }
}

/// Whether a stored value is plain text or sealed, and under which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Plain,
    SealedUnder(String),
}

/// Stored text as it is.
pub fn stored_as(stored: &str) -> Stored {
    match Sealed::parse(stored) {
        Some(sealed) => Stored::SealedUnder(sealed.key_id.to_owned()),
        None => Stored::Plain,
    }
}

/// What an instance seals with and opens: the current data key (`DOORMAN_DATA_KEY`, when
/// set) and older ones still read (`DOORMAN_DATA_KEY_OLD`). Cheap to clone.
///
/// Without a current key, values are stored as plain text (doorman warns at start); values
/// sealed under an old key still open, which is what lets instances be told about a new key
/// before any of them writes with it (see docs/OPERATIONS.md, "Data key").
#[derive(Clone, Default)]
pub struct Secrets {
    inner: Arc<Keyring>,
}

#[derive(Default)]
struct Keyring {
    current: Option<DataKey>,
    old: Vec<DataKey>,
}

impl Secrets {
    /// No key: values pass through as plain text.
    pub fn plain() -> Self {
        Self::default()
    }

    /// From `DOORMAN_DATA_KEY` and `DOORMAN_DATA_KEY_OLD` (a comma list).
    pub fn from_settings(
        current: Option<&SecretString>,
        old: Option<&SecretString>,
    ) -> Result<Self, DataKeyError> {
        let current = current
            .map(|key| DataKey::parse("DOORMAN_DATA_KEY", key.expose_secret()))
            .transpose()?;
        let old = old
            .map(|keys| {
                keys.expose_secret()
                    .split(',')
                    .filter(|key| !key.trim().is_empty())
                    .map(|key| DataKey::parse("DOORMAN_DATA_KEY_OLD", key))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            inner: Arc::new(Keyring { current, old }),
        })
    }

    /// The id of the key new values are sealed under, if any.
    pub fn current_id(&self) -> Option<&str> {
        self.inner.current.as_ref().map(DataKey::id)
    }

    /// Seals `plaintext` under the current key; without one, returns it as it is.
    pub fn seal(&self, plaintext: &str, aad: &str) -> Result<String, DataKeyError> {
        match &self.inner.current {
            Some(key) => key.seal(plaintext.as_bytes(), aad.as_bytes()),
            None => Ok(plaintext.to_owned()),
        }
    }

    /// Opens a stored value: plain text as it is, a sealed one under whichever known key
    /// sealed it.
    pub fn open(&self, stored: &str, aad: &str) -> Result<String, DataKeyError> {
        let Some(sealed) = Sealed::parse(stored) else {
            return Ok(stored.to_owned());
        };
        let keyring = &self.inner;
        let key = keyring
            .current
            .iter()
            .chain(&keyring.old)
            .find(|key| key.id == sealed.key_id)
            .ok_or_else(|| match keyring.current {
                Some(_) => DataKeyError::UnknownKey(sealed.key_id.to_owned()),
                None if keyring.old.is_empty() => DataKeyError::NoKey(sealed.key_id.to_owned()),
                None => DataKeyError::UnknownKey(sealed.key_id.to_owned()),
            })?;
        let plain = key.open_body(sealed.body, aad.as_bytes())?;
        String::from_utf8(plain).map_err(|_| DataKeyError::Malformed)
    }

    /// Whether `stored` should be sealed again: plain while a key is set, or sealed under
    /// another key than the current one.
    pub fn needs_sealing(&self, stored: &str) -> bool {
        match (self.current_id(), stored_as(stored)) {
            (None, _) => false,
            (Some(_), Stored::Plain) => true,
            (Some(current), Stored::SealedUnder(id)) => id != current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    fn secrets(current: Option<&str>, old: Option<&str>) -> Secrets {
        let current = current.map(|k| SecretString::from(k.to_owned()));
        let old = old.map(|k| SecretString::from(k.to_owned()));
        Secrets::from_settings(current.as_ref(), old.as_ref()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_sealed_value_opens_with_its_aad_and_hides_the_plaintext() {
        let secrets = secrets(Some(&key(1)), None);
        let sealed = secrets
            .seal("-----BEGIN PRIVATE KEY-----", "signing_key:a")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("PRIVATE"));
        assert_eq!(
            secrets.open(&sealed, "signing_key:a"),
            Ok("-----BEGIN PRIVATE KEY-----".to_owned())
        );
        assert!(matches!(
            secrets.open(&sealed, "signing_key:b"),
            Err(DataKeyError::Forged(_))
        ));
        let again = secrets
            .seal("-----BEGIN PRIVATE KEY-----", "signing_key:a")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(sealed, again, "a fresh nonce each time");
    }

    #[test]
    fn plain_values_pass_through_and_old_keys_still_open() {
        let before = secrets(Some(&key(1)), None);
        let sealed = before.seal("secret", "x").unwrap_or_else(|e| panic!("{e}"));
        let after = secrets(Some(&key(2)), Some(&format!(" {} ", key(1))));
        assert_eq!(after.open(&sealed, "x"), Ok("secret".to_owned()));
        assert_eq!(after.open("plain", "x"), Ok("plain".to_owned()));
        assert!(after.needs_sealing(&sealed));
        assert!(after.needs_sealing("plain"));
        let resealed = after.seal("secret", "x").unwrap_or_else(|e| panic!("{e}"));
        assert!(!after.needs_sealing(&resealed));

        let forgotten = secrets(Some(&key(3)), None);
        assert!(matches!(
            forgotten.open(&sealed, "x"),
            Err(DataKeyError::UnknownKey(_))
        ));
        assert!(matches!(
            Secrets::plain().open(&sealed, "x"),
            Err(DataKeyError::NoKey(_))
        ));
        assert_eq!(Secrets::plain().seal("p", "x"), Ok("p".to_owned()));
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        for bad in [
            "",
            "not base64!",
            &STANDARD.encode([0u8; 16]),
            &key(1)[..40],
        ] {
            let err = DataKey::parse("DOORMAN_DATA_KEY", bad).err();
            assert_eq!(
                err,
                Some(DataKeyError::BadKey {
                    name: "DOORMAN_DATA_KEY"
                }),
                "{bad:?}"
            );
        }
        let url_safe = URL_SAFE_NO_PAD.encode([0xfb; 32]);
        assert!(DataKey::parse("DOORMAN_DATA_KEY", &url_safe).is_ok());
    }
}
