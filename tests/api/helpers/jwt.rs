//! Reading JWTs in assertions.

/// The claims of a JWT, unverified (for assertions only).
pub fn claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// The header of a JWT, unverified (for assertions only).
pub fn header(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}
