//! Tokens, signing keys, password hashing, and the data key secrets are sealed under.

pub mod data_key;
pub mod jwt;
pub mod keys;
pub mod password;
pub mod webhook;

use sha2::{Digest, Sha256};

/// The SHA-256 of `data`, in lower-case hex: how reset tokens and unknown login names are
/// kept.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
