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
use crate::crypto::jwt::TokenCodec;
use crate::crypto::password::{PasswordHasher, Scheduling};
use crate::db::Db;
use crate::domain::{Email, NewPassword};
use crate::http::extract::{HttpSettings, path_error};
use crate::http::limits::IpRateLimit;
use crate::http::{RouteTable, fallback, request_context, routes};
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::openapi::{ApiDoc, document};
use crate::service::{self, Context, Settings};
use secrecy::ExposeSecret;

/// How often an instance re-reads the signing keys (to learn of rotations elsewhere),
/// forgets idle clients of the rate limiter, and forgets failed logins a day old.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(60);

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects, migrates, loads keys, binds. The server runs once `run_until_stopped` is awaited.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let context = web::Data::new(context(&config).await?);
        bootstrap_admin(&context, &config).await?;
        let listener = TcpListener::bind(&config.bind)?;
        let port = listener.local_addr()?.port();
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
                .app_data(web::PathConfig::default().error_handler(path_error))
                .configure(routes)
                .openapi_service(|api| {
                    SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", api)
                })
                .into_app()
                .service(web::redirect("/docs", "/docs/"))
                .configure(crate::http::console::routes)
                .default_service(web::to(fallback))
                .wrap(Condition::new(
                    !cors_origins.is_empty(),
                    cors(&cors_origins),
                ))
                .wrap(from_fn(request_context))
        })
        .workers(http_workers)
        .listen(listener)?
        .run();

        let (reloading, limits) = (context.clone(), idle_limits);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(HOUSEKEEPING_INTERVAL);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                limits.forget_idle();
                if let Err(err) = service::keys::reload(&reloading).await {
                    tracing::warn!(error = %err, "reloading signing keys failed");
                }
                if let Err(err) = service::auth::forget_idle_failures(&reloading).await {
                    tracing::warn!(error = %err, "forgetting old failed logins failed");
                }
            }
        });
        tracing::info!(port, backend = ?context.db.backend(), "doorman is listening");
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Database, keys and hashing pool: everything the service layer needs.
pub async fn context(config: &Config) -> anyhow::Result<Context> {
    let db = Db::connect(&config.database_url, config.pool_size()).await?;
    db.migrate().await?;
    let settings = settings(config);
    let keys = service::keys::load(&db, &settings, config.access_ttl).await?;
    let tokens = TokenCodec::new(
        config.issuer.clone(),
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
        &Scheduling {
            priority: config.hash_priority,
            cgroup: config.hash_cgroup.as_deref(),
            give_way: Duration::from_micros(config.hash_give_way_us),
        },
    )?;
    let smtp_url = config.smtp_url.as_ref().map(|url| url.expose_secret());
    let mailer = Arc::new(Mailer::new(smtp_url, &config.mail_from)?);
    Ok(Context {
        db,
        tokens,
        hasher,
        mailer,
        metrics: Metrics::new()?,
        settings,
        key_reload: service::keys::ReloadGate::new(),
    })
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
    let password = NewPassword::parse("password", password, Some(email.as_str()), None)
        .map_err(|(_, e)| anyhow::anyhow!("the admin password {}", e.message))?;
    Ok((email, password))
}

fn settings(config: &Config) -> Settings {
    Settings {
        refresh_ttl: config.refresh_ttl,
        session_ttl: config.session_ttl,
        refresh_reuse_grace: config.refresh_reuse_grace,
        registration_open: config.registration == Registration::Open,
        reset_token_ttl: config.reset_token_ttl,
        public_url: config.public_url.trim_end_matches('/').to_owned(),
        jwt_alg: config.jwt_alg,
        key_file: config.jwt_private_key_file.clone(),
        hs256_secret: config
            .jwt_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
    }
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
