//! Closed-loop load of whole sign-in flows, for the benchmark's (g) and (h): each of
//! `--connections` clients signs in again as soon as its last sign-in finished, for
//! `--duration` seconds, and the summary counts finished sign-ins (not requests).
//!
//! - `login`: `POST /auth/login` with a password, one request; the same client as the other
//!   modes, so (b) measured here is judged beside them on equal terms.
//! - `twostep`: a password that answers `401 mfa_required`, then `POST /auth/mfa` with the
//!   account's current TOTP code. A code is accepted once per account, so every sign-in uses
//!   an account of its own: set-up enrols `--users` accounts (two password hashes each).
//! - `passkey`: `POST /auth/passkey/options`, then `POST /auth/passkey` answered by a
//!   software authenticator (P-256, as `tests/api` uses); set-up adds one passkey to one
//!   account per client.
//!
//! The accounts are the benchmark's seeded `user{N}@bench.local`, from `--first`.
//! `cargo run --release --example flows -- --help`

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use totp_rs::{Builder, Secret};

#[allow(dead_code)]
#[allow(
    clippy::expect_used,
    reason = "the tests' software authenticator, which stops with a message when it cannot go on"
)]
#[path = "../tests/api/helpers/passkey.rs"]
mod passkey;

use passkey::SoftAuthenticator;

const USAGE: &str = "\
usage: flows --base http://HOST:PORT --mode login|twostep|passkey --password P [--origin URL (--base)]
             [--first N (1)] [--users N (1000)] [--connections N (16)] [--duration SECS (10)]
  --first N    the first seeded account used (user{N}@bench.local)
  --users N    twostep: how many accounts set-up enrols (each signs in at most once);
               login: how many accounts the sign-ins go round
Prints one summary line starting with mode=.";

struct Args {
    base: String,
    origin: String,
    mode: String,
    password: String,
    first: usize,
    users: usize,
    connections: usize,
    duration: Duration,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = Args {
        base: String::new(),
        origin: String::new(),
        mode: String::new(),
        password: String::new(),
        first: 1,
        users: 1000,
        connections: 16,
        duration: Duration::from_secs(10),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let number = || -> anyhow::Result<usize> {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| {
                    format!("{flag} takes a whole number of at least 1, not {value:?}")
                })
        };
        match flag.as_str() {
            "--base" => args.base = value.trim_end_matches('/').to_owned(),
            "--origin" => args.origin = value.trim_end_matches('/').to_owned(),
            "--mode" => args.mode = value.clone(),
            "--password" => args.password = value.clone(),
            "--first" => args.first = number()?,
            "--users" => args.users = number()?,
            "--connections" => args.connections = number()?,
            "--duration" => args.duration = Duration::from_secs(number()? as u64),
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    if args.base.is_empty() || args.password.is_empty() {
        bail!("--base and --password are needed\n{USAGE}");
    }
    if args.origin.is_empty() {
        args.origin.clone_from(&args.base);
    }
    if !matches!(args.mode.as_str(), "login" | "twostep" | "passkey") {
        bail!("--mode is login, twostep or passkey\n{USAGE}");
    }
    Ok(Some(args))
}

struct Client {
    http: reqwest::Client,
    base: String,
    /// The browser origin the software authenticator reports (doorman's public URL).
    origin: String,
    password: String,
}

impl Client {
    /// POSTs `body`; answers the status and the JSON body (`null` when there is none).
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("POST {path}"))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// POSTs `body` and insists on `expected`.
    async fn expect(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        expected: u16,
    ) -> anyhow::Result<Value> {
        let (status, body) = self.post(path, token, body).await?;
        if status != expected {
            bail!("POST {path} answered {status}, not {expected}: {body}");
        }
        Ok(body)
    }

    fn login_body(&self, n: usize) -> Value {
        json!({ "email": format!("user{n}@bench.local"), "password": self.password })
    }

    async fn access_token(&self, n: usize) -> anyhow::Result<String> {
        let pair = self
            .expect("/api/v1/auth/login", None, &self.login_body(n), 200)
            .await?;
        pair["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no access_token in {pair}"))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn totp_code(secret: &str, at: u64) -> anyhow::Result<String> {
    let secret = Secret::try_from_base32(secret).map_err(|e| anyhow!("secret: {e:?}"))?;
    let totp = Builder::new()
        .with_secret(secret)
        .build()
        .map_err(|e| anyhow!("totp: {e:?}"))?;
    Ok(totp.generate(at).to_string())
}

/// Turns TOTP on for account `n`, confirmed with the previous step's code so that the codes
/// of this step and the next are still unused; answers the secret.
async fn enrol_totp(client: &Client, n: usize) -> anyhow::Result<String> {
    let token = client.access_token(n).await?;
    let body = json!({ "password": client.password });
    let started = client
        .expect("/api/v1/users/me/mfa/totp", Some(&token), &body, 200)
        .await?;
    let secret = started["secret"]
        .as_str()
        .ok_or_else(|| anyhow!("no secret in {started}"))?;
    let code = totp_code(secret, unix_now().saturating_sub(30))?;
    client
        .expect(
            "/api/v1/users/me/mfa/totp/confirm",
            Some(&token),
            &json!({ "code": code }),
            200,
        )
        .await?;
    Ok(secret.to_owned())
}

/// Adds a passkey to account `n`; answers its authenticator.
async fn enrol_passkey(client: &Client, n: usize) -> anyhow::Result<SoftAuthenticator> {
    let token = client.access_token(n).await?;
    let body = json!({ "password": client.password });
    let options = client
        .expect(
            "/api/v1/users/me/passkeys/options",
            Some(&token),
            &body,
            200,
        )
        .await?;
    let mut authenticator = SoftAuthenticator::new(&client.origin);
    let credential = authenticator.register(&options["public_key"]);
    let body = json!({ "challenge_id": options["challenge_id"], "name": "bench", "credential": credential });
    client
        .expect("/api/v1/users/me/passkeys", Some(&token), &body, 201)
        .await?;
    Ok(authenticator)
}

/// One client's loop; answers the latency of each finished sign-in, in microseconds.
async fn run_client(
    client: &Client,
    mode: &str,
    until: Instant,
    next: &AtomicUsize,
    accounts: &[(usize, String)],
    mut authenticator: Option<SoftAuthenticator>,
) -> anyhow::Result<Vec<u64>> {
    let mut latencies = Vec::new();
    while Instant::now() < until {
        let started = Instant::now();
        match mode {
            "login" => {
                let k = next.fetch_add(1, Ordering::Relaxed) % accounts.len();
                let body = client.login_body(accounts[k].0);
                client
                    .expect("/api/v1/auth/login", None, &body, 200)
                    .await?;
            }
            "twostep" => {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some((n, secret)) = accounts.get(k) else {
                    break; // every enrolled account has signed in once
                };
                let (status, problem) = client
                    .post("/api/v1/auth/login", None, &client.login_body(*n))
                    .await?;
                let token = problem["mfa_token"].as_str();
                let Some(token) = token.filter(|_| status == 401) else {
                    bail!("the password step answered {status}: {problem}");
                };
                let code = totp_code(secret, unix_now())?;
                let body = json!({ "mfa_token": token, "totp_code": code });
                client.expect("/api/v1/auth/mfa", None, &body, 200).await?;
            }
            _ => {
                let authenticator = authenticator
                    .as_mut()
                    .ok_or_else(|| anyhow!("no authenticator"))?;
                let options = client
                    .expect("/api/v1/auth/passkey/options", None, &json!({}), 200)
                    .await?;
                let credential = authenticator.assert(&options["public_key"]);
                let body =
                    json!({ "challenge_id": options["challenge_id"], "credential": credential });
                client
                    .expect("/api/v1/auth/passkey", None, &body, 200)
                    .await?;
            }
        }
        latencies.push(started.elapsed().as_micros() as u64);
    }
    Ok(latencies)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

async fn run(args: Args) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    let client = Arc::new(Client {
        http,
        base: args.base.clone(),
        origin: args.origin.clone(),
        password: args.password.clone(),
    });
    let numbers: Vec<usize> = (args.first..args.first + args.users).collect();

    // Set-up, outside the measured window.
    let set_up = Instant::now();
    let mut accounts: Vec<(usize, String)> = numbers.iter().map(|n| (*n, String::new())).collect();
    let mut authenticators: Vec<Option<SoftAuthenticator>> =
        (0..args.connections).map(|_| None).collect();
    match args.mode.as_str() {
        "twostep" => {
            let enrolled: Vec<anyhow::Result<(usize, String)>> =
                stream::iter(numbers.iter().copied())
                    .map(|n| {
                        let client = Arc::clone(&client);
                        async move { Ok((n, enrol_totp(&client, n).await?)) }
                    })
                    .buffer_unordered(args.connections)
                    .collect()
                    .await;
            accounts = enrolled.into_iter().collect::<anyhow::Result<_>>()?;
            // Start on a fresh time step, so no sign-in meets the code set-up confirmed with.
            let into = unix_now() % 30;
            tokio::time::sleep(Duration::from_secs(30 - into + 1)).await;
        }
        "passkey" => {
            let added: Vec<anyhow::Result<SoftAuthenticator>> =
                stream::iter(numbers.iter().copied().take(args.connections))
                    .map(|n| {
                        let client = Arc::clone(&client);
                        async move { enrol_passkey(&client, n).await }
                    })
                    .buffer_unordered(args.connections)
                    .collect()
                    .await;
            if added.len() < args.connections {
                bail!("passkey needs --users of at least --connections");
            }
            for (slot, authenticator) in authenticators.iter_mut().zip(added) {
                *slot = Some(authenticator?);
            }
        }
        _ => {}
    }
    let set_up = set_up.elapsed();

    let accounts = Arc::new(accounts);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + args.duration;
    let mut tasks = Vec::new();
    for authenticator in authenticators {
        let (client, accounts, next, mode) = (
            Arc::clone(&client),
            Arc::clone(&accounts),
            Arc::clone(&next),
            args.mode.clone(),
        );
        tasks.push(tokio::spawn(async move {
            run_client(&client, &mode, until, &next, &accounts, authenticator).await
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(mine)) => latencies.extend(mine),
            Ok(Err(err)) => errors.push(format!("{err:#}")),
            Err(err) => errors.push(err.to_string()),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    println!(
        "mode={} signins={} seconds={:.2} rate={:.1}/s p50={:.2}ms p99={:.2}ms setup={:.1}s clients_failed={}",
        args.mode,
        latencies.len(),
        elapsed,
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        set_up.as_secs_f64(),
        errors.len(),
    );
    if let Some(first) = errors.first() {
        bail!(
            "{} of the clients stopped on an error; the first: {first}",
            errors.len()
        );
    }
    if args.mode == "twostep" && latencies.len() >= accounts.len() {
        eprintln!(
            "flows: every enrolled account signed in before the time was up; the rate is over {elapsed:.1} s"
        );
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match parse_args() {
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(args)) => match run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("flows: {err:#}");
                ExitCode::FAILURE
            }
        },
        Err(err) => {
            eprintln!("flows: {err:#}");
            ExitCode::from(2)
        }
    }
}
