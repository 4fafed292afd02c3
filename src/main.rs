//! The `doorman` command: `serve` (the default), `migrate`, `create-admin`, `rotate-keys`,
//! `seal-secrets`, `openapi`.

use std::process::ExitCode;

use std::io::IsTerminal;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use doorman::config::{Config, JwtAlg, LogFormat};
use doorman::startup::Application;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;

#[derive(Parser)]
#[command(
    name = "doorman",
    version,
    about = "A user service: accounts, sessions and tokens",
    term_width = 0,
    after_help = "Without a command, doorman serves (see `doorman serve --help`). Every \
                  setting is also an environment variable; an empty one counts as unset."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve(Box<Config>),
    /// Apply pending database migrations and exit.
    Migrate(Database),
    /// Create an admin account; the password is asked for (or read from standard input).
    CreateAdmin {
        /// The admin's email address.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        database: Database,
    },
    /// Add a new signing key; the old ones stay published until their tokens expire.
    RotateKeys {
        #[command(flatten)]
        database: Database,
        /// Algorithm of the new key.
        #[arg(long, env = "DOORMAN_JWT_ALG", value_enum, default_value = "EdDSA")]
        jwt_alg: JwtAlg,
    },
    /// Seal every stored secret under DOORMAN_DATA_KEY (plain ones, and ones under a key of
    /// DOORMAN_DATA_KEY_OLD); `serve` does the same at start.
    SealSecrets(Database),
    /// Print the OpenAPI document.
    Openapi,
}

/// The one setting every command but `openapi` needs; the rest come from the environment.
#[derive(Args)]
struct Database {
    /// `sqlite://PATH` or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://doorman.db")]
    database_url: String,
}

fn main() -> ExitCode {
    return_freed_memory();
    let command = Config::without_empty_env(Cli::command());
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|err| err.exit());
    let config = match config(cli.command.as_ref()) {
        Ok(config) => config,
        Err(err) => err.exit(),
    };
    init_tracing(config.log_format);
    // The runtime that runs the database work (see `db`). SQLite queries run on its
    // blocking threads, never more at once than there are pooled connections.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(config.pool_size())
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("doorman: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let log_format = config.log_format;
    match runtime.block_on(run(
        cli.command
            .unwrap_or(Command::Serve(Box::new(config.clone()))),
        config,
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Once, on one line: for people on standard error, for machines in the JSON log.
            let message = format!("{err:#}").replace('\n', " ");
            match log_format {
                LogFormat::Json => tracing::error!(error = message, "doorman stopped"),
                LogFormat::Pretty => eprintln!("doorman: {message}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// `serve`'s flags and environment, or for the other commands the environment with their
/// own options on top.
fn config(command: Option<&Command>) -> Result<Config, clap::Error> {
    let mut config = match command {
        Some(Command::Serve(config)) => return Ok(config.as_ref().clone()),
        _ => Config::from_env()?,
    };
    match command {
        Some(
            Command::Migrate(database)
            | Command::SealSecrets(database)
            | Command::CreateAdmin { database, .. }
            | Command::RotateKeys { database, .. },
        ) => config.database_url.clone_from(&database.database_url),
        Some(Command::Serve(_) | Command::Openapi) | None => {}
    }
    if let Some(Command::RotateKeys { jwt_alg, .. }) = command {
        config.jwt_alg = *jwt_alg;
    }
    Ok(config)
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => {
            Application::build(*config)
                .await?
                .run_until_stopped()
                .await?
        }
        Command::Migrate(_) => {
            config.validate()?;
            let db = doorman::startup::connect(&config.database_url, 1, config.db_timeout).await?;
            db.migrate().await?;
            println!("migrations applied");
        }
        Command::RotateKeys { .. } => {
            config.validate()?;
            let db = doorman::startup::connect(&config.database_url, 1, config.db_timeout).await?;
            db.migrate().await?;
            let secrets = doorman::startup::secrets(&config)?;
            let kid = doorman::service::keys::rotate(&db, config.jwt_alg, &secrets).await?;
            println!("new signing key {kid}; instances pick it up within a minute");
        }
        Command::SealSecrets(_) => {
            config.validate()?;
            anyhow::ensure!(
                config.data_key.is_some(),
                "DOORMAN_DATA_KEY is unset: there is no key to seal the secrets under"
            );
            let db = doorman::startup::connect(&config.database_url, 1, config.db_timeout).await?;
            db.migrate().await?;
            let secrets = doorman::startup::secrets(&config)?;
            let sealed = doorman::service::keys::seal_at_rest(&db, &secrets).await?;
            println!("{sealed} stored secrets sealed under DOORMAN_DATA_KEY");
        }
        Command::CreateAdmin { email, .. } => {
            config.validate()?;
            let password = admin_password()?;
            let (email, password) = doorman::startup::admin_credentials(&email, &password)?;
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

/// On a terminal, asked twice without echo; from a pipe, the first line of standard input.
fn admin_password() -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        let mut password = String::new();
        std::io::stdin().read_line(&mut password)?;
        let password = password.trim_end_matches(['\r', '\n']);
        anyhow::ensure!(!password.is_empty(), "the admin password is empty");
        return Ok(password.to_owned());
    }
    let password = rpassword::prompt_password("Password for the new admin: ")?;
    anyhow::ensure!(!password.is_empty(), "the admin password is empty");
    let again = rpassword::prompt_password("The same password again: ")?;
    anyhow::ensure!(password == again, "the two passwords differ");
    Ok(password)
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
