//! One typed configuration, read from environment variables (and mirrored as CLI flags),
//! validated once at start-up.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use secrecy::SecretString;

use crate::db::{Backend, DatabaseUrl};

/// `DOORMAN_PUBLIC_URL` when unset.
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";

/// Where the configuration lives: every field is an environment variable and a flag of
/// `doorman serve`. An empty variable (`DOORMAN_SMTP_URL=`) counts as unset (see
/// [`Config::without_empty_env`]). Each doc comment is one line of `--help`.
/// No `Debug`: `database_url` can hold a password.
#[derive(Clone, Args)]
pub struct Config {
    /// `sqlite://PATH` (created when missing) or `postgres://...`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://doorman.db",
        help_heading = "Database"
    )]
    pub database_url: String,

    /// Address and port to listen on (`0.0.0.0:8080`: every interface).
    #[arg(
        long,
        env = "DOORMAN_BIND",
        default_value = "0.0.0.0:8080",
        help_heading = "HTTP"
    )]
    pub bind: String,

    /// Base URL people reach doorman at, for links in mail and the start-up log.
    #[arg(
        long,
        env = "DOORMAN_PUBLIC_URL",
        default_value = DEFAULT_PUBLIC_URL,
        help_heading = "HTTP"
    )]
    pub public_url: String,

    /// The WebAuthn relying-party id passkeys are bound to: a registrable domain that is the
    /// host of `DOORMAN_PUBLIC_URL` or a parent of it (unset: that host). The ceremonies'
    /// origin is `DOORMAN_PUBLIC_URL`.
    #[arg(long, env = "DOORMAN_WEBAUTHN_RP_ID", help_heading = "HTTP")]
    pub webauthn_rp_id: Option<String>,

    /// The `iss` claim of every token (unset: `DOORMAN_PUBLIC_URL`, as discovery expects).
    #[arg(long, env = "DOORMAN_ISSUER", help_heading = "Tokens")]
    pub issuer: Option<String>,

    /// The `aud` claim of every token.
    #[arg(
        long,
        env = "DOORMAN_AUDIENCE",
        default_value = "doorman",
        help_heading = "Tokens"
    )]
    pub audience: String,

    /// Signing algorithm.
    #[arg(
        long,
        env = "DOORMAN_JWT_ALG",
        value_enum,
        default_value = "EdDSA",
        help_heading = "Tokens"
    )]
    pub jwt_alg: JwtAlg,

    /// PKCS#8 PEM signing key file (unset: keys kept in the database).
    #[arg(long, env = "DOORMAN_JWT_PRIVATE_KEY_FILE", help_heading = "Tokens")]
    pub jwt_private_key_file: Option<String>,

    /// HS256 secret, 32 bytes or more (unset: generated, kept in the database).
    #[arg(
        long,
        env = "DOORMAN_JWT_SECRET",
        hide_env_values = true,
        help_heading = "Tokens"
    )]
    pub jwt_secret: Option<SecretString>,

    /// Access token lifetime (`900s`, `15m`, `1h`, `30d`).
    #[arg(long, env = "DOORMAN_ACCESS_TTL", default_value = "15m", value_parser = parse_duration, help_heading = "Tokens")]
    pub access_ttl: Duration,

    /// Refresh token lifetime (at least the access token's).
    #[arg(long, env = "DOORMAN_REFRESH_TTL", default_value = "30d", value_parser = parse_duration, help_heading = "Tokens")]
    pub refresh_ttl: Duration,

    /// Absolute session lifetime: no refresh token outlives it.
    #[arg(long, env = "DOORMAN_SESSION_TTL", default_value = "30d", value_parser = parse_duration, help_heading = "Tokens")]
    pub session_ttl: Duration,

    /// How long a used refresh token still answers (concurrent refreshes).
    #[arg(long, env = "DOORMAN_REFRESH_REUSE_GRACE", default_value = "10s", value_parser = parse_duration, help_heading = "Tokens")]
    pub refresh_reuse_grace: Duration,

    /// How long ended sessions are kept before retention removes them (a revoked one at
    /// least one access lifetime + 30 s, while the revocation feed lists it).
    #[arg(long, env = "DOORMAN_SESSION_RETENTION", default_value = "7d", value_parser = parse_duration, help_heading = "Retention")]
    pub session_retention: Duration,

    /// How long audit events are kept (`0`: forever).
    #[arg(long, env = "DOORMAN_AUDIT_RETENTION", default_value = "365d", value_parser = parse_duration, help_heading = "Retention")]
    pub audit_retention: Duration,

    /// How often the retention job runs (once across all instances).
    #[arg(long, env = "DOORMAN_RETENTION_INTERVAL", default_value = "10m", value_parser = parse_duration, help_heading = "Retention")]
    pub retention_interval: Duration,

    /// How often other services should poll the revocation feed (its `Cache-Control: max-age`).
    #[arg(long, env = "DOORMAN_REVOCATION_POLL", default_value = "5s", value_parser = parse_duration, help_heading = "Tokens")]
    pub revocation_poll: Duration,

    /// Let webhooks reach loopback, private, link-local and unique-local addresses
    /// (`true`/`false`; default `false`).
    #[arg(long, env = "DOORMAN_WEBHOOK_ALLOW_PRIVATE", default_value = "false", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), help_heading = "Webhooks")]
    pub webhook_allow_private: bool,

    /// For tests only: the wait after a webhook's first failed attempt (default 5 s, as the
    /// contract says; it doubles after each next failure, up to 1 h).
    #[arg(long, env = "DOORMAN_WEBHOOK_RETRY_BASE", default_value = "5s", value_parser = parse_duration, hide = true)]
    pub webhook_retry_base: Duration,

    /// How long a password reset link is valid.
    #[arg(long, env = "DOORMAN_RESET_TOKEN_TTL", default_value = "30m", value_parser = parse_duration, help_heading = "Accounts")]
    pub reset_token_ttl: Duration,

    /// SMTP server (`smtp://user:pass@host:587?tls=required`, `smtps://…`; unset: mail to the log).
    #[arg(
        long,
        env = "DOORMAN_SMTP_URL",
        hide_env_values = true,
        help_heading = "Mail"
    )]
    pub smtp_url: Option<SecretString>,

    /// Sender of outgoing mail.
    #[arg(
        long,
        env = "DOORMAN_MAIL_FROM",
        default_value = "doorman <no-reply@localhost>",
        help_heading = "Mail"
    )]
    pub mail_from: String,

    /// Which security notifications to mail: `all`, `none`, or a comma list of kinds
    /// (`password_changed`, `password_reset`, `email_changed`, `new_device`,
    /// `account_locked`, `factor_added`, `factor_removed`, `factors_reset`,
    /// `recovery_code_used`).
    #[arg(long, env = "DOORMAN_NOTIFY", default_value = "all", value_parser = crate::service::notify::parse_kinds, help_heading = "Mail")]
    pub notify: crate::service::notify::Kinds,

    /// 32 random bytes in base64 that secrets in the database (signing keys, TOTP secrets)
    /// are encrypted under (unset: kept as plain text, with a warning).
    #[arg(
        long,
        env = "DOORMAN_DATA_KEY",
        hide_env_values = true,
        help_heading = "Secrets"
    )]
    pub data_key: Option<SecretString>,

    /// Earlier data keys, comma-separated: secrets sealed under them still open (rotation).
    #[arg(
        long,
        env = "DOORMAN_DATA_KEY_OLD",
        hide_env_values = true,
        help_heading = "Secrets"
    )]
    pub data_key_old: Option<SecretString>,

    /// Create this admin at start when no admin exists.
    #[arg(long, env = "DOORMAN_BOOTSTRAP_ADMIN_EMAIL", help_heading = "Accounts")]
    pub bootstrap_admin_email: Option<String>,

    /// The bootstrap admin's password.
    #[arg(
        long,
        env = "DOORMAN_BOOTSTRAP_ADMIN_PASSWORD",
        hide_env_values = true,
        help_heading = "Accounts"
    )]
    pub bootstrap_admin_password: Option<SecretString>,

    /// Requests per second per client IP on the auth endpoints (0: no limit).
    #[arg(
        long,
        env = "DOORMAN_RATE_LIMIT_PER_SECOND",
        default_value_t = 5,
        help_heading = "Limits"
    )]
    pub rate_limit_per_second: u32,

    /// Burst size of the per-IP limit (0: no limit).
    #[arg(
        long,
        env = "DOORMAN_RATE_LIMIT_BURST",
        default_value_t = 20,
        help_heading = "Limits"
    )]
    pub rate_limit_burst: u32,

    /// `open`, or `closed` to turn public sign-up off.
    #[arg(
        long,
        env = "DOORMAN_REGISTRATION",
        value_enum,
        default_value = "open",
        help_heading = "Accounts"
    )]
    pub registration: Registration,

    /// Who must have a second factor: `none`, `staff` (sub_admins and admins) or `all`.
    /// Such an account without one may sign in, but every endpoint except its own account
    /// (`GET /users/me`), its second factors and logout answers `403 mfa_enrolment_required`.
    #[arg(
        long,
        env = "DOORMAN_MFA_REQUIRED",
        value_enum,
        default_value = "none",
        help_heading = "Accounts"
    )]
    pub mfa_required: MfaRequired,

    /// Peers whose `X-Forwarded-For` is believed: comma-separated IPs or CIDRs.
    #[arg(long, env = "DOORMAN_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_ip_net, help_heading = "HTTP")]
    pub trusted_proxies: Vec<IpNet>,

    /// Origins allowed by CORS, comma-separated (`https://app.example.com`, or `*`).
    #[arg(
        long,
        env = "DOORMAN_CORS_ORIGINS",
        value_delimiter = ',',
        help_heading = "HTTP"
    )]
    pub cors_origins: Vec<String>,

    /// `pretty` for people, `json` for machines.
    #[arg(
        long,
        env = "DOORMAN_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        help_heading = "Logging"
    )]
    pub log_format: LogFormat,

    /// argon2id memory cost in KiB.
    #[arg(
        long,
        env = "DOORMAN_ARGON2_MEMORY_KIB",
        default_value_t = 19_456,
        help_heading = "Password hashing"
    )]
    pub argon2_memory_kib: u32,

    /// argon2id iterations.
    #[arg(
        long,
        env = "DOORMAN_ARGON2_ITERATIONS",
        default_value_t = 2,
        help_heading = "Password hashing"
    )]
    pub argon2_iterations: u32,

    /// argon2id lanes.
    #[arg(
        long,
        env = "DOORMAN_ARGON2_PARALLELISM",
        default_value_t = 1,
        help_heading = "Password hashing"
    )]
    pub argon2_parallelism: u32,

    /// Threads that hash passwords (0: one per core).
    #[arg(
        long,
        env = "DOORMAN_HASH_WORKERS",
        default_value_t = 0,
        help_heading = "Password hashing"
    )]
    pub hash_workers: usize,

    // A positive nice value by default: the hashing threads still get their share of a busy
    // host, so logins never starve, yet yield to doorman's request threads. `idle`
    // (SCHED_IDLE) runs them only when nothing else wants the CPU: measured in
    // bench/RESULTS.md, that starves logins beside any other busy process.
    /// Priority of the hashing threads: a nice value 0–19, or `idle` (Linux SCHED_IDLE).
    #[arg(long, env = "DOORMAN_HASH_PRIORITY", default_value = "10", value_parser = parse_hash_priority, help_heading = "Password hashing")]
    pub hash_priority: HashPriority,

    // A login takes its place before it counts its attempt, so a shed one counts nothing.
    /// Logins allowed to wait for a hashing thread; beyond that they are shed with 503.
    #[arg(
        long,
        env = "DOORMAN_HASH_QUEUE",
        default_value_t = 64,
        help_heading = "Password hashing"
    )]
    pub hash_queue: usize,

    // PostgreSQL: each HTTP worker keeps an even share. SQLite: its queries run on the CPU
    // here and gain nothing from more. Background work opens up to as many more.
    /// Database connections for requests (default: 16 on PostgreSQL, 2 per core on SQLite).
    #[arg(long, env = "DOORMAN_DB_POOL_SIZE", help_heading = "Database")]
    pub db_pool_size: Option<usize>,

    /// HTTP worker threads (0: one per core).
    #[arg(
        long,
        env = "DOORMAN_HTTP_WORKERS",
        default_value_t = 0,
        help_heading = "HTTP"
    )]
    pub http_workers: usize,

    /// The deadline of every database call: past it the request answers `503
    /// service_unavailable` and its connection is closed. `/health/ready` waits at most 2 s.
    #[arg(long, env = "DOORMAN_DB_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub db_timeout: Duration,

    /// On SIGTERM or SIGINT, how long requests in flight may take to finish before the
    /// connections are closed and doorman exits.
    #[arg(long, env = "DOORMAN_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration, global = true)]
    pub shutdown_grace: Duration,

    /// How long a request body may take to arrive once the headers have: past it, `408
    /// request_timeout` and the connection is closed.
    #[arg(long, env = "DOORMAN_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub body_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JwtAlg {
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "HS256")]
    Hs256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    Open,
    Closed,
}

/// Who must have a second factor (`DOORMAN_MFA_REQUIRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MfaRequired {
    None,
    Staff,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Config {
    /// The defaults with no environment and no flags.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Bare {
            #[command(flatten)]
            config: Config,
        }
        // Every field has a default, so parsing no arguments cannot fail.
        <Bare as clap::Parser>::try_parse_from(["doorman"])
            .map(|bare| bare.config)
            .unwrap_or_else(|err| unreachable!("defaults must parse: {err}"))
    }

    /// The configuration from the environment alone (no flags), for the subcommands other
    /// than `serve`; an empty variable counts as unset.
    pub fn from_env() -> Result<Self, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        #[derive(clap::Parser)]
        struct Bare {
            #[command(flatten)]
            config: Config,
        }
        let matches = Self::without_empty_env(Bare::command()).try_get_matches_from(["doorman"])?;
        Bare::from_arg_matches(&matches).map(|bare| bare.config)
    }

    /// Ignores every environment variable of `command` (and its subcommands) that is set but
    /// empty, so that `DOORMAN_SMTP_URL=` means unset (as compose's `${VAR:-}` writes it)
    /// rather than an invalid value.
    pub fn without_empty_env(command: clap::Command) -> clap::Command {
        command
            .mut_args(|arg| {
                let empty = arg
                    .get_env()
                    .and_then(std::env::var_os)
                    .is_some_and(|value| value.is_empty());
                if empty { arg.env(None) } else { arg }
            })
            .mut_subcommands(Self::without_empty_env)
    }

    /// Checks what clap cannot: relations between fields.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.access_ttl.is_zero(),
            "DOORMAN_ACCESS_TTL must be positive"
        );
        anyhow::ensure!(
            !self.refresh_ttl.is_zero(),
            "DOORMAN_REFRESH_TTL must be positive"
        );
        anyhow::ensure!(
            !self.session_ttl.is_zero(),
            "DOORMAN_SESSION_TTL must be positive"
        );
        anyhow::ensure!(
            self.access_ttl <= self.refresh_ttl,
            "DOORMAN_ACCESS_TTL ({}) is longer than DOORMAN_REFRESH_TTL ({}): an access token \
             must not outlive the refresh token that renews it; shorten the first or lengthen the second",
            seconds(self.access_ttl),
            seconds(self.refresh_ttl)
        );
        check_bind(&self.bind)?;
        check_public_url(&self.public_url)?;
        let rp_id = self.webauthn_rp_id();
        let host = url::Url::parse(&self.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        anyhow::ensure!(
            !rp_id.is_empty() && (host == rp_id || host.ends_with(&format!(".{rp_id}"))),
            "DOORMAN_WEBAUTHN_RP_ID={rp_id} must be the host of DOORMAN_PUBLIC_URL ({host}) or a \
             domain it belongs to"
        );
        for origin in &self.cors_origins {
            check_cors_origin(origin)?;
        }
        anyhow::ensure!(
            self.bootstrap_admin_email.is_some() == self.bootstrap_admin_password.is_some(),
            "DOORMAN_BOOTSTRAP_ADMIN_EMAIL and DOORMAN_BOOTSTRAP_ADMIN_PASSWORD go together"
        );
        anyhow::ensure!(
            !self.retention_interval.is_zero(),
            "DOORMAN_RETENTION_INTERVAL must be positive"
        );
        anyhow::ensure!(self.hash_queue > 0, "DOORMAN_HASH_QUEUE must be at least 1");
        crate::crypto::data_key::Secrets::from_settings(
            self.data_key.as_ref(),
            self.data_key_old.as_ref(),
        )?;
        anyhow::ensure!(
            !self.db_timeout.is_zero(),
            "DOORMAN_DB_TIMEOUT must be positive"
        );
        anyhow::ensure!(
            !self.body_timeout.is_zero(),
            "DOORMAN_BODY_TIMEOUT must be positive"
        );
        anyhow::ensure!(
            self.db_pool_size != Some(0),
            "DOORMAN_DB_POOL_SIZE must be at least 1"
        );
        DatabaseUrl::parse(&self.database_url)?;
        Ok(())
    }

    /// The WebAuthn relying-party id: `DOORMAN_WEBAUTHN_RP_ID`, else the host of
    /// `DOORMAN_PUBLIC_URL`.
    pub fn webauthn_rp_id(&self) -> String {
        self.webauthn_rp_id.clone().unwrap_or_else(|| {
            url::Url::parse(&self.public_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()
        })
    }

    /// The `iss` of every token: `DOORMAN_ISSUER`, else `DOORMAN_PUBLIC_URL` without a
    /// trailing slash (so `{issuer}/.well-known/openid-configuration` is doorman's).
    pub fn issuer(&self) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| self.public_url.trim_end_matches('/').to_owned())
    }

    /// `DOORMAN_DB_POOL_SIZE`, or the default for the database.
    pub fn pool_size(&self) -> usize {
        let sqlite = DatabaseUrl::parse(&self.database_url)
            .is_ok_and(|url| url.backend() == Backend::Sqlite);
        self.db_pool_size
            .unwrap_or(if sqlite { 2 * Self::cores() } else { 16 })
            .max(1)
    }

    pub fn cores() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs())
}

/// `DOORMAN_BIND` is an address and a port; a bare port is explained rather than guessed
/// at, since which interfaces to expose is the operator's choice.
fn check_bind(bind: &str) -> anyhow::Result<()> {
    let bind = bind.trim();
    if let Ok(port) = bind.parse::<u16>() {
        anyhow::bail!(
            "DOORMAN_BIND={bind} is a port without an address: write 0.0.0.0:{port} \
             (every interface) or 127.0.0.1:{port} (this machine only)"
        );
    }
    let port = bind
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(_))) if !host.is_empty() => Ok(()),
        _ => anyhow::bail!(
            "DOORMAN_BIND={bind} is not an address and port such as 0.0.0.0:8080 or [::]:8080"
        ),
    }
}

/// `http(s)://host[:port][/path]`.
fn check_public_url(raw: &str) -> anyhow::Result<()> {
    match url::Url::parse(raw) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty())
                && url.query().is_none() =>
        {
            Ok(())
        }
        _ => anyhow::bail!(
            "DOORMAN_PUBLIC_URL={raw} is not a URL such as https://accounts.example.com \
             (http or https, a host, no query)"
        ),
    }
}

/// `*`, or an origin as browsers send it: `scheme://host[:port]`, no path.
fn check_cors_origin(raw: &str) -> anyhow::Result<()> {
    if raw == "*" {
        return Ok(());
    }
    let authority = raw.split_once("://").map_or("", |(_, rest)| rest);
    match url::Url::parse(raw) {
        Ok(url)
            if url.host_str().is_some_and(|h| !h.is_empty())
                && !authority.contains(['/', '?', '#']) =>
        {
            Ok(())
        }
        _ => anyhow::bail!(
            "DOORMAN_CORS_ORIGINS: `{raw}` is not an origin such as https://app.example.com \
             (scheme and host, an optional port, no path or trailing slash), nor `*`"
        ),
    }
}

/// How the hashing threads are scheduled against the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashPriority {
    /// SCHED_IDLE: below every normal thread.
    Idle,
    /// A normal thread at this nice value (0–19).
    Nice(u8),
}

/// `idle`, or a nice value `0`–`19`.
pub fn parse_hash_priority(raw: &str) -> Result<HashPriority, String> {
    match raw.trim() {
        "idle" => Ok(HashPriority::Idle),
        nice => match nice.parse::<u8>() {
            Ok(nice) if nice <= 19 => Ok(HashPriority::Nice(nice)),
            _ => Err(format!("`{raw}` is neither `idle` nor a nice value 0-19")),
        },
    }
}

/// `900s`, `15m`, `1h`, `30d`, or plain seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration like 15m"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("'{raw}': the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(number * seconds))
}

/// An IP network: an address and a prefix no longer than the address. An IPv4-mapped IPv6
/// network (`::ffff:10.0.0.0/104`) is kept as the IPv4 network it maps (`10.0.0.0/8`), since
/// peers are compared in their canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => (net.to_bits().into(), ip.to_bits().into(), 32),
            (IpAddr::V6(net), IpAddr::V6(ip)) => (net.to_bits(), ip.to_bits(), 128),
            _ => return false,
        };
        let host_bits: u8 = bits - self.prefix.min(bits);
        (net ^ ip).checked_shr(host_bits.into()).unwrap_or(0) == 0
    }
}

/// `10.0.0.1`, `10.0.0.0/8`, `2001:db8::/32`, or `::ffff:10.0.0.0/104` (the same as
/// `10.0.0.0/8`). Host bits past the prefix are ignored. An IPv4-mapped address with a
/// prefix under /96 is refused: that network is not an IPv4 one, and as IPv6 it would never
/// match the IPv4 peers it was surely written for.
pub fn parse_ip_net(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    let (addr, prefix) = raw
        .split_once('/')
        .map_or((raw, None), |(a, p)| (a, Some(p)));
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("'{raw}' is not an IP address or CIDR"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => Some(max),
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u8>().ok().filter(|p| *p <= max)
        }
        Some(_) => None,
    }
    .ok_or(format!("'{raw}' has a bad prefix (0-{max})"))?;
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) if prefix >= 96 => Ok(IpNet {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            }),
            Some(_) => Err(format!(
                "'{raw}': an IPv4-mapped network needs a prefix of /96 or more; \
                 write it as an IPv4 network"
            )),
            None => Ok(IpNet { addr, prefix }),
        },
        IpAddr::V4(_) => Ok(IpNet { addr, prefix }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("900s"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5w").is_err());
    }

    fn net(raw: &str) -> IpNet {
        parse_ip_net(raw).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn cidrs_match_addresses() {
        let ten = net("10.0.0.0/8");
        assert!(ten.contains(ip("10.1.2.3")));
        assert!(!ten.contains(ip("11.1.2.3")));
        assert!(net("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn prefixes_at_the_edges_match_everything_or_one_address() {
        assert!(net("0.0.0.0/0").contains(ip("255.255.255.255")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        assert!(
            !net("::/0").contains(ip("10.0.0.1")),
            "IPv4 peers are canonical"
        );
        assert!(net("10.0.0.7/32").contains(ip("10.0.0.7")));
        assert!(!net("10.0.0.7/32").contains(ip("10.0.0.6")));
        assert!(net("2001:db8::7/128").contains(ip("2001:db8::7")));
        assert!(!net("2001:db8::7/128").contains(ip("2001:db8::6")));
        assert_eq!(net("10.0.0.7"), net("10.0.0.7/32"));
        assert_eq!(net("2001:db8::7"), net("2001:db8::7/128"));
    }

    #[test]
    fn host_bits_past_the_prefix_are_ignored() {
        assert!(net("10.1.2.3/8").contains(ip("10.200.0.1")));
        assert!(!net("10.1.2.3/8").contains(ip("11.1.2.3")));
        assert!(net("2001:db8::1/32").contains(ip("2001:db8:ffff::1")));
    }

    #[test]
    fn ipv4_mapped_networks_are_their_ipv4_network() {
        assert_eq!(net("::ffff:10.0.0.0/104"), net("10.0.0.0/8"));
        assert_eq!(net("::ffff:10.0.0.7/128"), net("10.0.0.7/32"));
        assert_eq!(net("::ffff:10.0.0.7"), net("10.0.0.7"));
        assert_eq!(net("::ffff:0.0.0.0/96"), net("0.0.0.0/0"));
        let mapped = net("::ffff:10.0.0.0/104");
        assert!(mapped.contains(ip("10.9.9.9")));
        assert!(mapped.contains(ip("::ffff:10.9.9.9")));
        assert!(!mapped.contains(ip("11.0.0.1")), "not every IPv4 peer");
    }

    #[test]
    fn ipv4_mapped_networks_shorter_than_96_are_refused() {
        for raw in ["::ffff:10.0.0.0/95", "::ffff:10.0.0.0/80", "::ffff:0:0/0"] {
            let err = parse_ip_net(raw)
                .err()
                .unwrap_or_else(|| panic!("{raw} parsed"));
            assert!(err.contains("/96"), "{raw}: {err}");
        }
    }

    #[test]
    fn bad_prefixes_and_addresses_are_refused() {
        for raw in [
            "10.0.0.0/33",
            "10.0.0.0/255",
            "10.0.0.0/256",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "10.0.0.0/8/8",
            "10.0.0.0/ 8",
            "2001:db8::/129",
            "::ffff:10.0.0.0/129",
            "::ffff:10.0.0.0/99999999999999999999",
        ] {
            let err = parse_ip_net(raw)
                .err()
                .unwrap_or_else(|| panic!("{raw} parsed"));
            assert!(err.contains("bad prefix"), "{raw}: {err}");
        }
        for raw in [
            "",
            "unknown",
            "10.0.0",
            "10.0.0.256/8",
            "[::1]",
            "fe80::1%eth0",
        ] {
            assert!(parse_ip_net(raw).is_err(), "{raw} parsed");
        }
    }

    #[test]
    fn every_prefix_either_parses_into_a_network_or_is_refused() {
        for (base, accepted) in [
            ("10.0.0.0", 33),
            ("2001:db8::", 129),
            ("::ffff:10.0.0.0", 33),
        ] {
            let nets: Vec<IpNet> = (0..=u8::MAX)
                .filter_map(|prefix| parse_ip_net(&format!("{base}/{prefix}")).ok())
                .collect();
            assert_eq!(nets.len(), accepted, "{base}");
            for net in nets {
                assert!(net.contains(ip(base)), "{net:?}");
            }
        }
    }

    #[test]
    fn giving_way_is_never_or_at_most_every_100_microseconds() {}

    #[test]
    fn hash_priority_is_idle_or_a_nice_value() {
        assert_eq!(parse_hash_priority("idle"), Ok(HashPriority::Idle));
        assert_eq!(parse_hash_priority("0"), Ok(HashPriority::Nice(0)));
        assert_eq!(parse_hash_priority("19"), Ok(HashPriority::Nice(19)));
        assert!(parse_hash_priority("20").is_err());
        assert!(parse_hash_priority("-1").is_err());
        assert!(parse_hash_priority("low").is_err());
    }

    #[test]
    fn the_pool_defaults_to_the_database() {
        let mut config = Config::defaults();
        config.database_url = "sqlite://doorman.db".into();
        assert_eq!(config.pool_size(), 2 * Config::cores());
        config.database_url = "postgres://localhost/doorman".into();
        assert_eq!(config.pool_size(), 16);
        config.db_pool_size = Some(3);
        assert_eq!(config.pool_size(), 3);
    }

    #[test]
    fn the_defaults_validate() {
        assert!(Config::defaults().validate().is_ok());
    }

    #[test]
    fn the_issuer_is_the_public_url_unless_set() {
        let mut config = Config::defaults();
        assert_eq!(config.issuer(), "http://localhost:8080");
        config.public_url = "https://accounts.example.com/auth/".into();
        assert_eq!(config.issuer(), "https://accounts.example.com/auth");
        config.issuer = Some("https://issuer.example.com".into());
        assert_eq!(config.issuer(), "https://issuer.example.com");
    }

    #[test]
    fn hashing_runs_at_nice_10_by_default_and_idle_only_when_asked() {
        assert_eq!(Config::defaults().hash_priority, HashPriority::Nice(10));
    }

    fn refusal(change: impl FnOnce(&mut Config)) -> String {
        let mut config = Config::defaults();
        change(&mut config);
        config
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("accepted"))
    }

    #[test]
    fn origins_and_urls_are_checked_and_good_ones_pass() {
        let mut config = Config::defaults();
        config.cors_origins = vec![
            "*".into(),
            "https://app.example.com".into(),
            "http://localhost:3000".into(),
        ];
        config.public_url = "https://accounts.example.com/auth/".into();
        config.bind = "[::]:8080".into();
        assert!(config.validate().is_ok());
        assert!(refusal(|c| c.cors_origins = vec!["https://a.example/".into()]).contains("origin"));
        assert!(refusal(|c| c.public_url = "example.com".into()).contains("DOORMAN_PUBLIC_URL"));
        assert!(refusal(|c| c.bind = "8081".into()).contains("0.0.0.0:8081"));
        assert!(refusal(|c| c.bind = "localhost".into()).contains("DOORMAN_BIND"));
    }
}
