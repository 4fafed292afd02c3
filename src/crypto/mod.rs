//! Tokens, signing keys and password hashing.

pub mod jwt;
pub mod keys;
pub mod password;
