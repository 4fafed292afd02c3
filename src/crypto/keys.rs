//! Signing keys: generated here (or read from a PEM file), stored by the service layer,
//! turned into jsonwebtoken keys and a published JWK set; and the unpublished HS256
//! secrets refresh tokens are signed with.

use std::collections::HashMap;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use secrecy::{ExposeSecret, SecretString};

use crate::config::JwtAlg;

/// A key as kept in the database or read from a file.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: String,
    /// PKCS#8 PEM for asymmetric keys; base64 for an HS256 secret.
    pub private_pem: String,
    pub created_at: DateTime<Utc>,
    /// When the key stopped signing; it stays published until its tokens have expired.
    pub retired_at: Option<DateTime<Utc>>,
}

pub fn algorithm(alg: JwtAlg) -> Algorithm {
    match alg {
        JwtAlg::EdDsa => Algorithm::EdDSA,
        JwtAlg::Es256 => Algorithm::ES256,
        JwtAlg::Rs256 => Algorithm::RS256,
        JwtAlg::Hs256 => Algorithm::HS256,
    }
}

pub fn alg_name(alg: JwtAlg) -> &'static str {
    match alg {
        JwtAlg::EdDsa => "EdDSA",
        JwtAlg::Es256 => "ES256",
        JwtAlg::Rs256 => "RS256",
        JwtAlg::Hs256 => "HS256",
    }
}

/// A new random key for `alg`.
pub fn generate(alg: JwtAlg, now: DateTime<Utc>) -> anyhow::Result<KeyRecord> {
    let unspecified = |_| anyhow::anyhow!("key generation failed");
    let private_pem = match alg {
        JwtAlg::EdDsa => pkcs8_pem(
            Ed25519KeyPair::generate()
                .map_err(unspecified)?
                .to_pkcs8v1()
                .map_err(unspecified)?
                .as_ref(),
        ),
        JwtAlg::Es256 => pkcs8_pem(
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(unspecified)?
                .to_pkcs8v1()
                .map_err(unspecified)?
                .as_ref(),
        ),
        JwtAlg::Rs256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(unspecified)?;
            let der: Pkcs8V1Der<'_> = pair.as_der().map_err(unspecified)?;
            pkcs8_pem(der.as_ref())
        }
        JwtAlg::Hs256 => {
            let mut secret = [0u8; 64];
            SystemRandom::new().fill(&mut secret).map_err(unspecified)?;
            STANDARD.encode(secret)
        }
    };
    record_from_private(alg, private_pem, now)
}

/// A record for a private key given as PEM (or, for HS256, raw secret bytes in base64);
/// the `kid` is derived from the key itself, so every instance names it alike.
pub fn record_from_private(
    alg: JwtAlg,
    private_pem: String,
    now: DateTime<Utc>,
) -> anyhow::Result<KeyRecord> {
    let loaded = LoadedKey::load(alg, "pending", &private_pem)?;
    let kid = match &loaded.public_jwk {
        Some(jwk) => jwk.thumbprint(ThumbprintHash::SHA256)?,
        None => {
            use sha2::Digest;
            let digest =
                sha2::Sha256::digest(format!("doorman-hs256-kid:{private_pem}").as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
        }
    };
    Ok(KeyRecord {
        kid,
        alg: alg_name(alg).to_owned(),
        private_pem,
        created_at: now,
        retired_at: None,
    })
}

fn pkcs8_pem(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec()))
}

/// A key ready for jsonwebtoken.
pub struct LoadedKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// The public half as a JWK; none for HS256.
    pub public_jwk: Option<Jwk>,
}

impl LoadedKey {
    pub fn load(alg: JwtAlg, kid: &str, private: &str) -> anyhow::Result<Self> {
        let algorithm = algorithm(alg);
        let encoding = match alg {
            JwtAlg::EdDsa => EncodingKey::from_ed_pem(private.as_bytes())?,
            JwtAlg::Es256 => EncodingKey::from_ec_pem(private.as_bytes())?,
            JwtAlg::Rs256 => EncodingKey::from_rsa_pem(private.as_bytes())?,
            JwtAlg::Hs256 => {
                let secret = STANDARD
                    .decode(private.trim())
                    .unwrap_or_else(|_| private.as_bytes().to_vec());
                anyhow::ensure!(
                    secret.len() >= 32,
                    "an HS256 secret must be at least 32 bytes"
                );
                let key = EncodingKey::from_secret(&secret);
                return Ok(Self {
                    kid: kid.to_owned(),
                    encoding: key,
                    decoding: DecodingKey::from_secret(&secret),
                    public_jwk: None,
                });
            }
        };
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm)?;
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk)?;
        Ok(Self {
            kid: kid.to_owned(),
            encoding,
            decoding,
            public_jwk: Some(jwk),
        })
    }
}

/// A refresh-token key as kept in the database: an HS256 secret that is never published,
/// so no service verifying against the JWKS can accept a refresh token.
pub struct RefreshKeyRecord {
    /// A random id (`refresh-…`), never the id of a published key.
    pub kid: String,
    /// 32 random bytes, in base64.
    pub secret: SecretString,
    pub created_at: DateTime<Utc>,
    /// When the key stopped signing; it verifies until its refresh tokens have expired.
    pub retired_at: Option<DateTime<Utc>>,
}

/// A new refresh-token key: a random 256-bit secret under a random `kid`.
pub fn generate_refresh(now: DateTime<Utc>) -> anyhow::Result<RefreshKeyRecord> {
    let mut secret = [0u8; 32];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| anyhow::anyhow!("key generation failed"))?;
    Ok(RefreshKeyRecord {
        kid: format!("refresh-{}", uuid::Uuid::now_v7().simple()),
        secret: STANDARD.encode(secret).into(),
        created_at: now,
        retired_at: None,
    })
}

/// The refresh-token keys one instance knows (always HS256, whatever `DOORMAN_JWT_ALG` is).
pub struct RefreshKeys {
    pub signing_kid: String,
    pub signing: EncodingKey,
    pub verifying: HashMap<String, DecodingKey>,
    /// Refresh tokens signed with an access key (before refresh keys existed) are accepted
    /// only if issued before this: when the first refresh key was made.
    pub legacy_before: DateTime<Utc>,
}

impl RefreshKeys {
    /// The newest unretired key signs; every key unretired or retired less than
    /// `max_token_life` ago verifies.
    pub fn build(
        records: &[RefreshKeyRecord],
        now: DateTime<Utc>,
        max_token_life: chrono::Duration,
    ) -> anyhow::Result<Self> {
        let secret = |record: &RefreshKeyRecord| {
            let bytes = STANDARD
                .decode(record.secret.expose_secret().trim())
                .map_err(|_| anyhow::anyhow!("refresh key {} is not base64", record.kid))?;
            anyhow::ensure!(
                bytes.len() >= 32,
                "refresh key {} is shorter than 32 bytes",
                record.kid
            );
            Ok(bytes)
        };
        let legacy_before = records
            .iter()
            .map(|r| r.created_at)
            .min()
            .ok_or_else(|| anyhow::anyhow!("no refresh-token key"))?;
        let newest = records
            .iter()
            .filter(|r| r.retired_at.is_none())
            .max_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)))
            .ok_or_else(|| anyhow::anyhow!("no active refresh-token key"))?;
        let mut verifying = HashMap::new();
        for record in records
            .iter()
            .filter(|r| r.retired_at.is_none_or(|at| at + max_token_life > now))
        {
            verifying.insert(
                record.kid.clone(),
                DecodingKey::from_secret(&secret(record)?),
            );
        }
        Ok(Self {
            signing_kid: newest.kid.clone(),
            signing: EncodingKey::from_secret(&secret(newest)?),
            verifying,
            legacy_before,
        })
    }
}

/// The keys one instance knows: the one it signs with and all it accepts.
pub struct KeySet {
    pub alg: JwtAlg,
    pub signing: LoadedKey,
    pub verifying: HashMap<String, DecodingKey>,
    /// The public JWK set as served at `/.well-known/jwks.json`.
    pub jwks: serde_json::Value,
    /// The unpublished keys of refresh tokens.
    pub refresh: RefreshKeys,
}

impl KeySet {
    /// Builds the set from stored records: the newest unretired key signs; every key that
    /// is unretired, or was retired less than `max_token_life` ago, verifies and is published.
    pub fn build(
        alg: JwtAlg,
        records: &[KeyRecord],
        refresh: &[RefreshKeyRecord],
        now: DateTime<Utc>,
        max_token_life: chrono::Duration,
    ) -> anyhow::Result<Self> {
        let name = alg_name(alg);
        let mut usable: Vec<&KeyRecord> = records
            .iter()
            .filter(|r| r.alg == name && r.retired_at.is_none_or(|at| at + max_token_life > now))
            .collect();
        usable.sort_by(|a, b| {
            (b.retired_at.is_none(), b.created_at, &b.kid).cmp(&(
                a.retired_at.is_none(),
                a.created_at,
                &a.kid,
            ))
        });
        let Some(newest) = usable.first().filter(|r| r.retired_at.is_none()) else {
            anyhow::bail!("no active {name} signing key");
        };
        let signing = LoadedKey::load(alg, &newest.kid, &newest.private_pem)?;
        let refresh = RefreshKeys::build(refresh, now, max_token_life)?;
        let mut verifying = HashMap::new();
        let mut published = Vec::new();
        for record in usable {
            let key = LoadedKey::load(alg, &record.kid, &record.private_pem)?;
            if let Some(jwk) = &key.public_jwk {
                published.push(serde_json::to_value(jwk)?);
            }
            anyhow::ensure!(
                !refresh.verifying.contains_key(&record.kid),
                "a refresh-token key has the id of a signing key"
            );
            verifying.insert(record.kid.clone(), key.decoding);
        }
        Ok(Self {
            alg,
            signing,
            verifying,
            jwks: serde_json::json!({ "keys": published }),
            refresh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_generates_a_loadable_key_with_a_stable_kid() {
        for alg in [JwtAlg::EdDsa, JwtAlg::Es256, JwtAlg::Rs256, JwtAlg::Hs256] {
            let record =
                generate(alg, crate::clock::now()).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            let again = record_from_private(alg, record.private_pem.clone(), crate::clock::now())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(record.kid, again.kid);
            let refresh = generate_refresh(crate::clock::now()).unwrap_or_else(|e| panic!("{e}"));
            let set = KeySet::build(
                alg,
                &[record],
                &[refresh],
                crate::clock::now(),
                chrono::Duration::days(30),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let published = set.jwks["keys"].as_array().map_or(0, Vec::len);
            assert_eq!(published, usize::from(alg != JwtAlg::Hs256));
        }
    }

    #[test]
    fn a_retired_refresh_key_verifies_until_its_tokens_have_expired_and_never_signs() {
        let now = crate::clock::now();
        let life = chrono::Duration::days(30);
        let mut old =
            generate_refresh(now - chrono::Duration::days(40)).unwrap_or_else(|e| panic!("{e}"));
        let new =
            generate_refresh(now - chrono::Duration::days(10)).unwrap_or_else(|e| panic!("{e}"));
        old.retired_at = Some(new.created_at);

        let keys = RefreshKeys::build(&[old, new], now, life).unwrap_or_else(|e| panic!("{e}"));
        assert!(keys.signing_kid.starts_with("refresh-"));
        assert_eq!(
            keys.verifying.len(),
            2,
            "retired 10 days ago: still verifies"
        );
        assert_eq!(keys.legacy_before, now - chrono::Duration::days(40));

        let later = now + chrono::Duration::days(21);
        let mut old =
            generate_refresh(now - chrono::Duration::days(40)).unwrap_or_else(|e| panic!("{e}"));
        let new =
            generate_refresh(now - chrono::Duration::days(10)).unwrap_or_else(|e| panic!("{e}"));
        old.retired_at = Some(new.created_at);
        let new_kid = new.kid.clone();
        let keys = RefreshKeys::build(&[old, new], later, life).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys.signing_kid, new_kid);
        assert_eq!(keys.verifying.len(), 1, "retired 31 days ago: forgotten");
    }
}
