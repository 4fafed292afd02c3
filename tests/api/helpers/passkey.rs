//! A software authenticator: a P-256 key (aws-lc-rs, already doorman's crypto) that
//! answers WebAuthn options as a browser with a platform authenticator would, with
//! `RegistrationResponseJSON` / `AuthenticationResponseJSON` bodies ("none" attestation,
//! user present and verified). Its fields are public so a test can misbehave on purpose:
//! another origin, a counter that goes back.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub struct SoftAuthenticator {
    key: EcdsaKeyPair,
    pub credential_id: Vec<u8>,
    /// The user handle (`user.id` of the registration options), answered when signing in.
    pub user_handle: Vec<u8>,
    /// The signature counter of the next assertion is this plus one.
    pub counter: u32,
    /// The origin the "browser" reports in `clientDataJSON`.
    pub origin: String,
    /// Whether the credential says it may be synced (backup eligible).
    pub backup_eligible: bool,
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a base64url string: {value}"));
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

impl SoftAuthenticator {
    /// An authenticator in a browser at `origin` (e.g. the app's public URL).
    pub fn new(origin: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("generating a P-256 key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
            .expect("reading back the generated key");
        let mut credential_id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut credential_id).expect("random credential id");
        Self {
            key,
            credential_id,
            user_handle: Vec::new(),
            counter: 0,
            origin: origin.trim_end_matches('/').to_owned(),
            backup_eligible: false,
        }
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["challenge"]
            .as_str()
            .unwrap_or_else(|| panic!("no challenge in {options}"));
        json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn auth_data(&self, rp_id: &str, attested: Option<&[u8]>) -> Vec<u8> {
        let mut data = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        // User present, user verified, backup eligible, attested credential data.
        let mut flags = 0x01 | 0x04;
        if self.backup_eligible {
            flags |= 0x08;
        }
        if attested.is_some() {
            flags |= 0x40;
        }
        data.push(flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        if let Some(attested) = attested {
            data.extend_from_slice(attested);
        }
        data
    }

    /// The COSE_Key of the public key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        let (x, y) = (&point[1..33], &point[33..65]);
        let mut out = Vec::new();
        cbor_head(&mut out, 5, 5);
        cbor_int(&mut out, 1);
        cbor_int(&mut out, 2);
        cbor_int(&mut out, 3);
        cbor_int(&mut out, -7);
        cbor_int(&mut out, -1);
        cbor_int(&mut out, 1);
        cbor_int(&mut out, -2);
        cbor_bytes(&mut out, x);
        cbor_int(&mut out, -3);
        cbor_bytes(&mut out, y);
        out
    }

    /// Answers `public_key` (the creation options) with a `RegistrationResponseJSON`.
    pub fn register(&mut self, public_key: &Value) -> Value {
        self.user_handle = unb64(&public_key["user"]["id"]);
        let rp_id = public_key["rp"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no rp.id in {public_key}"));
        let mut attested = vec![0u8; 16]; // AAGUID: none
        let id_len = u16::try_from(self.credential_id.len()).unwrap_or(u16::MAX);
        attested.extend_from_slice(&id_len.to_be_bytes());
        attested.extend_from_slice(&self.credential_id);
        attested.extend_from_slice(&self.cose_key());
        let auth_data = self.auth_data(rp_id, Some(&attested));
        let mut attestation = Vec::new();
        cbor_head(&mut attestation, 5, 3);
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        cbor_head(&mut attestation, 5, 0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &auth_data);
        let client_data = self.client_data("webauthn.create", public_key);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
    }

    /// Answers `public_key` (the request options) with an `AuthenticationResponseJSON`,
    /// the counter one up.
    pub fn assert(&mut self, public_key: &Value) -> Value {
        self.counter += 1;
        let rp_id = public_key["rpId"]
            .as_str()
            .unwrap_or_else(|| panic!("no rpId in {public_key}"));
        let auth_data = self.auth_data(rp_id, None);
        let client_data = self.client_data("webauthn.get", public_key);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(digest(&SHA256, &client_data).as_ref());
        let signature = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("signing the assertion");
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}

fn cbor_head(out: &mut Vec<u8>, major: u8, len: u64) {
    let major = major << 5;
    match len {
        0..=23 => out.push(major | len as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, len as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(major | 26);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

fn cbor_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        cbor_head(out, 0, n.unsigned_abs());
    } else {
        cbor_head(out, 1, (-1 - n).unsigned_abs());
    }
}

fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 2, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}
