//! A service that verifies doorman's access tokens offline, with revocation.
//!
//! Given only the issuer URL it reads discovery, keeps the JWKS (fetched again when a
//! token names an unknown `kid`) and polls the revocation feed; then it verifies each token
//! read on stdin (one a line) and prints `valid <sub>` or `invalid <reason>`.
//!
//! ```text
//! DOORMAN_REVOCATION_POLL=5s cargo run --example offline_verifier -- http://127.0.0.1:8080 doorman
//! ```
//!
//! Arguments: the issuer, and the audience (default `doorman`). `DOORMAN_REVOCATION_POLL`
//! (`500ms`, `5s`, `1m`; default: the feed's `Cache-Control: max-age`) sets how often the
//! feed is polled. A revoked session's tokens are refused within one poll; if the feed has
//! not answered for three polls (and at least 30 s), every token is refused (`feed_stale`)
//! rather than trusted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde::Deserialize;

/// How far past `exp` a token is still accepted; the feed keeps an entry this long too.
const LEEWAY_SECS: u64 = 30;
/// The feed's page size: a full page means more is waiting.
const FEED_PAGE: usize = 200;
/// Without an answer from the feed for three polls, and at least this long, every token
/// is refused: one revoked meanwhile could not be told apart.
const STALE_AFTER: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    revocations_endpoint: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    typ: String,
}

#[derive(Deserialize)]
struct FeedPage {
    items: Vec<FeedEntry>,
    next: String,
}

#[derive(Deserialize)]
struct FeedEntry {
    sid: String,
    expires_at: DateTime<Utc>,
}

/// What the poller keeps between polls.
#[derive(Default)]
struct Revocations {
    /// Revoked session id → when its tokens have all expired and the entry may go.
    sids: HashMap<String, DateTime<Utc>>,
    cursor: Option<String>,
    /// The `ETag` of the last page read at `cursor`.
    etag: Option<String>,
    fresh_at: Option<Instant>,
}

pub struct Verifier {
    http: reqwest::Client,
    discovery: Discovery,
    audience: String,
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    keys_fetched: Mutex<Option<Instant>>,
    revocations: Mutex<Revocations>,
    poll: Mutex<Duration>,
}

impl Verifier {
    /// Reads discovery and the keys, reads the feed once, and keeps polling it every
    /// `poll` (or the feed's `max-age` when `None`) on a task of its own.
    pub async fn start(
        issuer: &str,
        audience: &str,
        poll: Option<Duration>,
    ) -> anyhow::Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: Discovery = http
            .get(&url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if discovery.issuer != issuer.trim_end_matches('/') {
            bail!("{url} names the issuer {}, not {issuer}", discovery.issuer);
        }
        let verifier = Arc::new(Self {
            http,
            discovery,
            audience: audience.to_owned(),
            keys: RwLock::default(),
            keys_fetched: Mutex::default(),
            revocations: Mutex::default(),
            poll: Mutex::new(poll.unwrap_or(Duration::from_secs(5))),
        });
        verifier.fetch_keys().await?;
        let max_age = verifier.poll_feed().await?;
        if poll.is_none() {
            *lock(&verifier.poll) = max_age.unwrap_or(Duration::from_secs(5));
        }
        let poller = Arc::clone(&verifier);
        tokio::spawn(async move {
            loop {
                let every = *lock(&poller.poll);
                tokio::time::sleep(every).await;
                if let Err(err) = poller.poll_feed().await {
                    eprintln!("revocation feed: {err:#}");
                }
            }
        });
        Ok(verifier)
    }

    /// `valid <sub>` or `invalid <reason>`.
    pub async fn answer(&self, token: &str) -> String {
        match self.verify(token).await {
            Ok(sub) => format!("valid {sub}"),
            Err(reason) => format!("invalid {reason}"),
        }
    }

    /// The token's `sub` if it is a live access token of this issuer for this audience.
    pub async fn verify(&self, token: &str) -> Result<String, &'static str> {
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|_| "malformed")?
            .kid
            .ok_or("no_kid")?;
        let Some((key, alg)) = self.key(&kid).await else {
            // Refresh tokens land here: their key is never published.
            return Err("unknown_key");
        };
        // The algorithm comes from the published key, never from the token's header.
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.discovery.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "expired",
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => "wrong_issuer",
                jsonwebtoken::errors::ErrorKind::InvalidAudience => "wrong_audience",
                _ => "bad_token",
            })?
            .claims;
        if claims.typ != "access" {
            return Err("not_an_access_token");
        }
        let revocations = lock(&self.revocations);
        let poll = *lock(&self.poll);
        if revocations
            .fresh_at
            .is_none_or(|at| at.elapsed() > (3 * poll).max(STALE_AFTER))
        {
            return Err("feed_stale");
        }
        if revocations.sids.contains_key(&claims.sid) {
            return Err("revoked");
        }
        Ok(claims.sub)
    }

    /// The key named `kid`, fetching the JWKS again (at most once a second) if it is new.
    async fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        if let Some(found) = read(&self.keys).get(kid) {
            return Some(found.clone());
        }
        let recently =
            lock(&self.keys_fetched).is_some_and(|at| at.elapsed() < Duration::from_secs(1));
        if !recently && let Err(err) = self.fetch_keys().await {
            eprintln!("JWKS: {err:#}");
        }
        read(&self.keys).get(kid).cloned()
    }

    async fn fetch_keys(&self) -> anyhow::Result<()> {
        *lock(&self.keys_fetched) = Some(Instant::now());
        let set: JwkSet = self
            .http
            .get(&self.discovery.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Some(alg)) = (&jwk.common.key_id, jwk.common.key_algorithm) else {
                continue;
            };
            let alg: Algorithm = alg.to_string().parse().context("a JWK's alg")?;
            keys.insert(kid.clone(), (DecodingKey::from_jwk(jwk)?, alg));
        }
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(())
    }

    /// Reads the feed from the cursor until a page is not full; returns its `max-age`.
    async fn poll_feed(&self) -> anyhow::Result<Option<Duration>> {
        loop {
            let (cursor, etag) = {
                let r = lock(&self.revocations);
                (r.cursor.clone(), r.etag.clone())
            };
            let mut request = self.http.get(&self.discovery.revocations_endpoint);
            if let Some(cursor) = &cursor {
                request = request.query(&[("after", cursor)]);
            }
            if let Some(etag) = &etag {
                request = request.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            let response = request.send().await?;
            let max_age = max_age(&response);
            let mut r = lock(&self.revocations);
            if response.status() == StatusCode::NOT_MODIFIED {
                r.fresh_at = Some(Instant::now());
                return Ok(max_age);
            }
            drop(r);
            let response = response.error_for_status()?;
            let etag = response
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let page: FeedPage = response.json().await?;
            let now = Utc::now();
            let mut r = lock(&self.revocations);
            // The same session may come twice (the feed repeats revocations that are still
            // settling): keeping a map makes that harmless.
            for entry in &page.items {
                r.sids.insert(entry.sid.clone(), entry.expires_at);
            }
            r.sids.retain(|_, expires_at| *expires_at > now);
            let moved = r.cursor.as_deref() != Some(page.next.as_str());
            r.etag = if moved { None } else { etag };
            r.cursor = Some(page.next);
            r.fresh_at = Some(Instant::now());
            if page.items.len() < FEED_PAGE {
                return Ok(max_age);
            }
        }
    }
}

fn max_age(response: &reqwest::Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)?
        .to_str()
        .ok()?;
    let seconds = value
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))?
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// `500ms`, `5s`, `2m` or plain seconds.
fn parse_duration(raw: &str) -> anyhow::Result<Duration> {
    let raw = raw.trim();
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = number
        .parse()
        .with_context(|| format!("not a duration: {raw}"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => bail!("not a duration: {raw}"),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let issuer = args
        .next()
        .context("usage: offline_verifier ISSUER_URL [AUDIENCE] < tokens")?;
    let audience = args.next().unwrap_or_else(|| "doorman".to_owned());
    let poll = std::env::var("DOORMAN_REVOCATION_POLL")
        .ok()
        .map(|raw| parse_duration(&raw))
        .transpose()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let verifier = runtime.block_on(Verifier::start(&issuer, &audience, poll))?;
    for line in std::io::stdin().lines() {
        let line = line?;
        let token = line.trim();
        if !token.is_empty() {
            println!("{}", runtime.block_on(verifier.answer(token)));
        }
    }
    Ok(())
}
