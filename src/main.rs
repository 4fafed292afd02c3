//! The `doorman` command: `serve` (the default), `migrate`, `create-admin`, `rotate-keys`,
//! `openapi`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use doorman::config::{Config, LogFormat};
use doorman::startup::Application;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;

#[derive(Parser)]
#[command(
    name = "doorman",
    version,
    about = "A user service: accounts, sessions and tokens"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an admin account; the password is read from standard input.
    CreateAdmin {
        #[arg(long)]
        email: String,
    },
    /// Add a new signing key; the old ones stay published until their tokens expire.
    RotateKeys,
    /// Print the OpenAPI document.
    Openapi,
}

fn main() -> ExitCode {
    return_freed_memory();
    let cli = Cli::parse();
    init_tracing(cli.config.log_format);
    // The runtime that runs the database work (see `db`). SQLite queries run on its
    // blocking threads, never more at once than there are pooled connections.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cli.config.pool_size())
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("doorman: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "doorman stopped");
            eprintln!("doorman: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            Application::build(config)
                .await?
                .run_until_stopped()
                .await?
        }
        Command::Migrate => {
            config.validate()?;
            let db = doorman::db::Db::connect(&config.database_url, 1).await?;
            db.migrate().await?;
            println!("migrations applied");
        }
        Command::RotateKeys => {
            config.validate()?;
            let db = doorman::db::Db::connect(&config.database_url, 1).await?;
            db.migrate().await?;
            let kid = doorman::service::keys::rotate(&db, config.jwt_alg).await?;
            println!("new signing key {kid}; instances pick it up within a minute");
        }
        Command::CreateAdmin { email } => {
            config.validate()?;
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let (email, password) = doorman::startup::admin_credentials(&email, password)?;
            let context = doorman::startup::context(&config).await?;
            let admin = doorman::service::admin::create_admin(&context, email, password)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create the admin: {e}"))?;
            println!("created admin {} ({})", admin.email, admin.id);
        }
        Command::Openapi => println!("{}", doorman::openapi::document().to_pretty_json()?),
    }
    Ok(())
}

/// Whatever `RUST_LOG` asks, nothing below info from tokio-postgres: at debug it logs every
/// statement's parameters (password hashes, token digests), and no log line may hold those.
fn not_a_driver_detail(meta: &tracing::Metadata<'_>) -> bool {
    !(meta.target().starts_with("tokio_postgres") && *meta.level() > tracing::Level::INFO)
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(filter_fn(not_a_driver_detail));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .log_internal_errors(true);
    match format {
        LogFormat::Json => subscriber.with(lines.json().flatten_event(true)).init(),
        LogFormat::Pretty => subscriber.with(lines).init(),
    }
}

/// glibc raises its mmap threshold after the first large free, after which every freed
/// 19 MiB argon2 block stays in its thread's arena: ten logins left 216 MiB resident.
/// Pinning the threshold keeps large blocks mmapped, so they go back to the OS when freed
/// (measured: 25 MiB after the same logins, 63 MiB at peak). Two arenas instead of one per
/// thread keep SQLite's blocking threads from each holding freed memory of their own.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[expect(
        unsafe_code,
        reason = "mallopt only tunes the allocator; it has no memory-safety preconditions"
    )]
    // SAFETY: called once at start, before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
