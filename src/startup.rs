//! The only wiring: configuration in, a bound server out. Tests build the real app the
//! same way, on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpServer, http, web};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::{Config, Registration};
use crate::crypto::data_key::Secrets;
use crate::crypto::jwt::TokenCodec;
use crate::crypto::password::PasswordHasher;
use crate::db::{DatabaseUrl, Db};
use crate::domain::{Email, NewPassword};
use crate::http::extract::{HttpSettings, path_error};
use crate::http::limits::IpRateLimit;
use crate::http::transport::{self, Transport};
use crate::http::{RouteTable, fallback, request_context, routes};
use crate::jobs;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::openapi::{ApiDoc, complete, document};
use crate::service::{self, Context, Settings};
use secrecy::ExposeSecret;

/// How long a client may take to send a request head, and a connection may stay idle
/// between requests.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Application {
    port: u16,
    server: Server,
    context: web::Data<Context>,
    grace: Duration,
    /// The webhook worker, which frees what it did not attempt as it stops.
    webhooks: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Connects, migrates, loads keys, binds. The server runs once `run_until_stopped` is awaited.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        // Bound before anything is created, so a busy port leaves no database behind.
        let listener = listen(&config.bind)?;
        let address = listener.local_addr()?;
        let port = address.port();
        let context = web::Data::new(context(&config).await?);
        bootstrap_admin(&context, &config).await?;
        let secrets = context.settings.secrets.clone();
        let webhook_sender = service::webhooks::Sender::new(config.webhook_allow_private, secrets)
            .map_err(|err| anyhow::anyhow!("cannot build the webhook HTTP client: {err}"))?;
        service::webhooks::refresh_subscriptions(&context)
            .await
            .map_err(|err| anyhow::anyhow!("cannot read the webhook endpoints: {err}"))?;
        let route_table = web::Data::new(RouteTable::from_openapi(&document()));
        let http_settings = web::Data::new(HttpSettings {
            trusted_proxies: config.trusted_proxies.clone(),
        });
        let ip_limits = web::Data::new(IpRateLimit::new(
            config.rate_limit_per_second,
            config.rate_limit_burst,
        ));
        let idle_limits = ip_limits.clone();
        let cors_origins = config.cors_origins.clone();
        let app_context = context.clone();
        let http_workers = if config.http_workers == 0 {
            Config::cores()
        } else {
            config.http_workers
        };
        let worker_connections = config.pool_size().div_ceil(http_workers);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let transport = web::Data::new(Transport {
            body_timeout: config.body_timeout,
            stopping: stopping.clone(),
        });
        let server = HttpServer::new(move || {
            if let Err(err) = app_context.db.adopt_worker_thread(worker_connections) {
                tracing::warn!(error = %err, "this HTTP worker uses the shared database pool");
            }
            App::new()
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .app_data(app_context.clone())
                .app_data(http_settings.clone())
                .app_data(route_table.clone())
                .app_data(ip_limits.clone())
                .app_data(transport.clone())
                .app_data(web::PathConfig::default().error_handler(path_error))
                .configure(routes)
                .openapi_service(|api| {
                    SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", complete(api))
                })
                .into_app()
                .service(web::redirect("/docs", "/docs/"))
                .configure(crate::http::console::routes)
                .default_service(web::to(fallback))
                .wrap(Condition::new(
                    !cors_origins.is_empty(),
                    cors(&cors_origins),
                ))
                .wrap(from_fn(transport::bounded_body))
                .wrap(from_fn(transport::head_as_get))
                .wrap(from_fn(request_context))
        })
        .workers(http_workers)
        .on_connect(no_delay)
        .client_request_timeout(HEAD_TIMEOUT)
        .keep_alive(HEAD_TIMEOUT)
        .client_disconnect_timeout(Duration::from_secs(1))
        .shutdown_timeout(config.shutdown_grace.as_secs())
        .disable_signals()
        .shutdown_signal(stop_on_signal(stop))
        .listen(listener)?
        .run();

        jobs::housekeeping::spawn(
            context.clone().into_inner(),
            idle_limits.into_inner(),
            stopping.clone(),
        );
        jobs::retention::spawn(context.clone().into_inner(), stopping.clone());
        let webhooks =
            jobs::webhooks::spawn(context.clone().into_inner(), webhook_sender, stopping);
        tracing::info!(port, backend = ?context.db.backend(), "doorman is listening");
        let base = base_url(&config.public_url, address);
        tracing::info!("console:    {base}/");
        tracing::info!("Swagger UI: {base}/docs/");
        tracing::info!("health:     {base}/health/ready");
        Ok(Self {
            port,
            server,
            context,
            grace: config.shutdown_grace,
            webhooks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a signal stops the server, then lets the webhook worker end its turn
    /// and sends the security notices still queued (for at most the shutdown grace each)
    /// before it returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        if tokio::time::timeout(self.grace, self.webhooks)
            .await
            .is_err()
        {
            tracing::warn!("stopped while webhook attempts were still waiting for their receivers");
        }
        let unsent = self.context.notifier.flush(self.grace).await;
        if unsent > 0 {
            tracing::warn!(
                unsent,
                "stopped with security notifications unsent: the mail server did not take them within the grace"
            );
        }
        Ok(())
    }
}

/// Sends each response as soon as it is written: without `TCP_NODELAY`, a response written
/// in pieces (a compressed page) waits for the client's delayed ACK, about 40 ms a request.
fn no_delay(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Err(err) = tcp.set_nodelay(true)
    {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
}

/// Binds `DOORMAN_BIND`, saying what to change when it cannot.
fn listen(bind: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(bind).map_err(|err| match err.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {bind}: the address is already in use (another doorman?); \
             stop it or set DOORMAN_BIND to another address, e.g. DOORMAN_BIND=127.0.0.1:8081"
        ),
        _ => anyhow::anyhow!("cannot listen on {bind} (DOORMAN_BIND): {err}"),
    })
}

/// Where people reach this instance: `DOORMAN_PUBLIC_URL`, unless it is the default
/// while doorman listens on another port, when the bound port is the better guess.
fn base_url(public_url: &str, bound: std::net::SocketAddr) -> String {
    let public_url = public_url.trim_end_matches('/');
    let default = crate::config::DEFAULT_PUBLIC_URL;
    if public_url != default || bound.port() == 8080 {
        return public_url.to_owned();
    }
    let host = match bound.ip() {
        ip if ip.is_unspecified() || ip.is_loopback() => "localhost".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", bound.port())
}

/// Waits for SIGTERM or SIGINT, then tells the server to stop gracefully (it stops
/// accepting, closes idle connections, and gives requests in flight `DOORMAN_SHUTDOWN_GRACE`)
/// and everything watching `stop` (stalled bodies, background jobs) that it is stopping.
async fn stop_on_signal(stop: tokio::sync::watch::Sender<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot listen for SIGTERM and SIGINT; stop doorman with SIGKILL");
            return std::future::pending().await;
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "shutting down: finishing the requests in flight"
        );
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            return std::future::pending().await;
        }
        tracing::info!("shutting down: finishing the requests in flight");
    }
    stop.send_replace(true);
}

/// Database, keys and hashing pool: everything the service layer needs.
pub async fn context(config: &Config) -> anyhow::Result<Context> {
    let db = connect(&config.database_url, config.pool_size(), config.db_timeout).await?;
    db.migrate().await?;
    let settings = settings(config)?;
    let sealed = service::keys::seal_at_rest(&db, &settings.secrets).await?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed stored secrets under DOORMAN_DATA_KEY");
    }
    let keys = service::keys::load(&db, &settings).await?;
    let tokens = TokenCodec::new(
        config.issuer(),
        config.audience.clone(),
        config.access_ttl,
        keys,
    );
    let workers = if config.hash_workers == 0 {
        Config::cores()
    } else {
        config.hash_workers
    };
    let hasher = PasswordHasher::start(
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
        workers,
        config.hash_queue,
        config.hash_priority,
    )?;
    for gone in ["DOORMAN_HASH_CGROUP", "DOORMAN_HASH_GIVE_WAY_US"] {
        if std::env::var_os(gone).is_some_and(|value| !value.is_empty()) {
            tracing::warn!(
                variable = gone,
                "this setting was removed (it gained nothing where doorman has cores of its own; bench/RESULTS.md) and is ignored: unset it"
            );
        }
    }
    let smtp_url = config.smtp_url.as_ref().map(|url| url.expose_secret());
    let mailer = Arc::new(Mailer::new(smtp_url, &config.mail_from)?);
    let metrics = Metrics::new()?;
    let notifier = service::notify::Notifier::start(
        mailer.clone(),
        config.notify.clone(),
        metrics.notifications(),
    );
    Ok(Context {
        db,
        tokens,
        hasher,
        mailer,
        metrics,
        settings,
        key_reload: service::keys::ReloadGate::new(),
        notifier,
        webauthn: relying_party(config),
    })
}

/// The WebAuthn relying party, or `None` (with a warning) when the public URL's host cannot
/// be a relying-party id.
fn relying_party(config: &Config) -> Option<std::sync::Arc<webauthn_rs::Webauthn>> {
    let origin = config.public_url.trim_end_matches('/');
    match service::passkeys::relying_party(&config.webauthn_rp_id(), origin) {
        Ok(webauthn) => Some(std::sync::Arc::new(webauthn)),
        Err(why) => {
            tracing::warn!(reason = %why, "passkeys are off");
            None
        }
    }
}

/// Creates `DOORMAN_BOOTSTRAP_ADMIN_EMAIL` as an admin when no admin exists yet.
async fn bootstrap_admin(context: &Context, config: &Config) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (
        &config.bootstrap_admin_email,
        &config.bootstrap_admin_password,
    ) else {
        return Ok(());
    };
    let (email, password) = admin_credentials(email, password.expose_secret())?;
    match service::admin::bootstrap_admin(context, email, password).await {
        Ok(Some(admin)) => tracing::info!(user_id = %admin.id, "created the bootstrap admin"),
        Ok(None) => tracing::debug!("an admin exists; no bootstrap admin created"),
        Err(err) => anyhow::bail!("cannot create the bootstrap admin: {err}"),
    }
    Ok(())
}

/// Parses an operator-given admin email and password under the usual rules.
pub fn admin_credentials(email: &str, password: &str) -> anyhow::Result<(Email, NewPassword)> {
    let email = Email::parse("email", email)
        .map_err(|e| anyhow::anyhow!("the admin email {}", e.message))?;
    let password = NewPassword::parse(password, Some(email.as_str()), None)
        .map_err(|problem| anyhow::anyhow!("the admin password {}", problem.message()))?;
    Ok((email, password))
}

/// The data keys of `config`, with a warning at start when none is set.
pub fn secrets(config: &Config) -> anyhow::Result<Secrets> {
    let secrets = Secrets::from_settings(config.data_key.as_ref(), config.data_key_old.as_ref())?;
    if secrets.current_id().is_none() {
        tracing::warn!(
            "DOORMAN_DATA_KEY is unset: signing keys, TOTP and webhook secrets are stored in the \
             database as plain text (set it to 32 random bytes in base64, e.g. \
             `openssl rand -base64 32`; see docs/OPERATIONS.md, \"Data key\")"
        );
    }
    Ok(secrets)
}

fn settings(config: &Config) -> anyhow::Result<Settings> {
    Ok(Settings {
        access_ttl: config.access_ttl,
        refresh_ttl: config.refresh_ttl,
        session_ttl: config.session_ttl,
        refresh_reuse_grace: config.refresh_reuse_grace,
        registration_open: config.registration == Registration::Open,
        reset_token_ttl: config.reset_token_ttl,
        public_url: config.public_url.trim_end_matches('/').to_owned(),
        jwt_alg: config.jwt_alg,
        key_file: config.jwt_private_key_file.clone(),
        hs256_secret: config.jwt_secret.clone(),
        session_retention: config.session_retention,
        audit_retention: Some(config.audit_retention).filter(|kept| !kept.is_zero()),
        retention_interval: config.retention_interval,
        revocation_poll: config.revocation_poll,
        secrets: secrets(config)?,
        revocation_settle: config.db_timeout + service::revocations::CLOCK_ALLOWANCE,
        mfa_required: config.mfa_required,
        webhook_allow_private: config.webhook_allow_private,
        webhook_retry_base: config.webhook_retry_base,
    })
}

fn cors(origins: &[String]) -> Cors {
    let cors = if origins.iter().any(|o| o == "*") {
        Cors::default().allow_any_origin()
    } else {
        origins
            .iter()
            .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
    };
    cors.allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            http::header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            http::header::LOCATION,
            http::header::RETRY_AFTER,
            http::header::WWW_AUTHENTICATE,
            http::header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(3600)
}

/// Opens the database, and when that fails says which server or file, and why.
pub async fn connect(url: &str, pool_size: usize, timeout: Duration) -> anyhow::Result<Db> {
    let url = DatabaseUrl::parse(url)?;
    match &url {
        DatabaseUrl::Postgres(text) => {
            let (host, port) = postgres_address(text);
            // A `?host=` parameter (a Unix socket, say) overrides the URL's host: not checked here.
            let host_parameter = text
                .split_once('?')
                .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("host=")));
            if !host.starts_with('/') && !host_parameter {
                reachable(&host, port).await?;
            }
            Db::open(&url, pool_size, timeout).await.map_err(|err| {
                let mut why = one_line(&err, "cannot connect to PostgreSQL: ");
                if why.starts_with("Timeout occurred") {
                    why = format!(
                        "it took the connection but did not answer within {} s (is it PostgreSQL?)",
                        timeout.as_secs_f32()
                    );
                }
                anyhow::anyhow!(
                    "cannot connect to PostgreSQL at {host}:{port} (DATABASE_URL): {why}"
                )
            })
        }
        DatabaseUrl::Sqlite(path) => {
            openable(path)?;
            Db::open(&url, pool_size, timeout).await.map_err(|err| {
                anyhow::anyhow!(
                    "cannot open the SQLite database {path} (DATABASE_URL): {}",
                    one_line(&err, "cannot open the SQLite database: ")
                )
            })
        }
    }
}

/// The error on one line, without the prefix `db` gave it (said already, with more).
fn one_line(err: &anyhow::Error, prefix: &str) -> String {
    let line = format!("{err:#}").replace('\n', " ");
    line.strip_prefix(prefix)
        .map_or(line.clone(), str::to_owned)
}

/// The host and port of a `postgres://` URL (libpq's defaults when absent).
fn postgres_address(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // With several hosts (`h1:5432,h2:5432`) the first is named.
    let first = hosts.split(',').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = first.strip_prefix('[') {
        let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
        (host, after.strip_prefix(':'))
    } else {
        first
            .rsplit_once(':')
            .map_or((first, None), |(h, p)| (h, Some(p)))
    };
    let host = if host.is_empty() { "localhost" } else { host };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(5432);
    (host.to_owned(), port)
}

/// A TCP connection to PostgreSQL's address, to tell a refused connection from one that
/// times out before the driver's error hides which it was.
async fn reachable(host: &str, port: u16) -> anyhow::Result<()> {
    const WAIT: Duration = Duration::from_secs(5);
    let attempt = tokio::time::timeout(WAIT, tokio::net::TcpStream::connect((host, port))).await;
    let why = match attempt {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
            "the connection was refused (is PostgreSQL running and listening there?)".to_owned()
        }
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!(
            "no answer within {} s (a firewall, or a wrong host?)",
            WAIT.as_secs()
        ),
    };
    anyhow::bail!("cannot connect to PostgreSQL at {host}:{port} (DATABASE_URL): {why}")
}

/// Opens (or creates) the SQLite file the way SQLite will, to name the path and the reason
/// when it cannot be.
fn openable(path: &str) -> anyhow::Result<()> {
    if path.is_empty() || path.contains(":memory:") {
        return Ok(()); // refused by `Db::connect` with its own message
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path);
    let Err(err) = opened else { return Ok(()) };
    let file = std::path::Path::new(path);
    let parent = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let why = match err.kind() {
        std::io::ErrorKind::NotFound => {
            format!("its directory {} does not exist", parent.display())
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("permission denied (to {} or its directory)", file.display())
        }
        std::io::ErrorKind::IsADirectory => "it is a directory".to_owned(),
        _ => err.to_string(),
    };
    anyhow::bail!("cannot open the SQLite database {path} (DATABASE_URL): {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_name_their_host_and_port() {
        for (url, host, port) in [
            (
                "postgres://u:p@db.internal:6432/doorman",
                "db.internal",
                6432,
            ),
            ("postgres://db/doorman?sslmode=disable", "db", 5432),
            ("postgresql://u@[::1]:5433/x", "::1", 5433),
            ("postgres:///doorman", "localhost", 5432),
            ("postgres://u:p@a:5001,b:5002/x", "a", 5001),
        ] {
            assert_eq!(postgres_address(url), (host.to_owned(), port), "{url}");
        }
    }

    #[test]
    fn the_logged_base_url_follows_the_bound_port_while_the_public_url_is_the_default() {
        let bound = |addr: &str| addr.parse().unwrap_or_else(|e| panic!("{addr}: {e}"));
        assert_eq!(
            base_url(crate::config::DEFAULT_PUBLIC_URL, bound("0.0.0.0:8080")),
            "http://localhost:8080"
        );
        assert_eq!(
            base_url(crate::config::DEFAULT_PUBLIC_URL, bound("127.0.0.1:9000")),
            "http://localhost:9000"
        );
        assert_eq!(
            base_url(crate::config::DEFAULT_PUBLIC_URL, bound("10.1.2.3:9000")),
            "http://10.1.2.3:9000"
        );
        assert_eq!(
            base_url("https://id.example.com/", bound("0.0.0.0:9000")),
            "https://id.example.com"
        );
    }
}
