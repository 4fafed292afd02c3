//! Start-up errors, as a newcomer meets them: the real `doorman` binary, its standard error
//! and its exit code. Each error is one line that says what to change, printed once.

use std::net::TcpListener;

use crate::helpers::TestDb;
use crate::helpers::process::{doorman, serve, the_error_of};

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free local port");
    listener
        .local_addr()
        .expect("the listener has an address")
        .port()
}

fn sqlite_path_in_temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "doorman-{name}-{}.db",
        uuid::Uuid::new_v4().simple()
    ))
}

#[tokio::test]
async fn a_busy_port_is_named_with_the_bind_hint_before_any_database_file_is_created() {
    let busy = TcpListener::bind("127.0.0.1:0").expect("a free local port");
    let address = busy.local_addr().expect("the listener has an address");
    let path = sqlite_path_in_temp("busy");

    let error = the_error_of(
        doorman(&format!("sqlite://{}", path.display())).env("DOORMAN_BIND", address.to_string()),
    );

    assert!(
        error.contains(&format!("cannot listen on {address}"))
            && error.contains("already in use")
            && error.contains("DOORMAN_BIND="),
        "{error}"
    );
    assert!(!path.exists(), "{} was created", path.display());
}

#[tokio::test]
async fn a_busy_port_on_postgres_is_named_the_same_way() {
    let db = TestDb::create().await;
    let busy = TcpListener::bind("127.0.0.1:0").expect("a free local port");
    let address = busy.local_addr().expect("the listener has an address");

    let error = the_error_of(doorman(&db.url()).env("DOORMAN_BIND", address.to_string()));

    assert!(
        error.contains("already in use") && error.contains("DOORMAN_BIND="),
        "{error}"
    );
}

#[tokio::test]
async fn a_bare_port_in_doorman_bind_is_explained() {
    let db = TestDb::create().await;

    let error = the_error_of(doorman(&db.url()).env("DOORMAN_BIND", "8081"));

    assert!(
        error.contains("DOORMAN_BIND=8081")
            && error.contains("0.0.0.0:8081")
            && error.contains("127.0.0.1:8081"),
        "{error}"
    );
}

#[tokio::test]
async fn a_refused_postgres_connection_names_the_host_and_port_and_says_refused() {
    let port = closed_port();

    let error = the_error_of(&mut doorman(&format!(
        "postgres://doorman:secret@127.0.0.1:{port}/doorman"
    )));

    assert!(
        error.contains(&format!("PostgreSQL at 127.0.0.1:{port}")) && error.contains("refused"),
        "{error}"
    );
    assert!(!error.contains("secret"), "the password is shown: {error}");
}

#[tokio::test]
async fn a_postgres_address_that_takes_the_connection_but_never_answers_is_not_called_refused() {
    // The kernel completes the handshake; nothing ever answers PostgreSQL's start-up message.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a free local port");
    let port = silent
        .local_addr()
        .expect("the listener has an address")
        .port();

    let error = the_error_of(&mut doorman(&format!(
        "postgres://doorman@127.0.0.1:{port}/doorman"
    )));

    assert!(
        error.contains(&format!("PostgreSQL at 127.0.0.1:{port}"))
            && error.contains("did not answer")
            && !error.contains("refused"),
        "{error}"
    );
}

#[tokio::test]
async fn an_sqlite_path_that_cannot_be_opened_is_named_with_the_reason() {
    let missing = std::env::temp_dir()
        .join(format!("doorman-missing-{}", uuid::Uuid::new_v4().simple()))
        .join("doorman.db");

    let error = the_error_of(&mut doorman(&format!("sqlite://{}", missing.display())));

    assert!(
        error.contains(&format!("SQLite database {}", missing.display()))
            && error.contains("does not exist"),
        "{error}"
    );
}

#[tokio::test]
async fn a_cors_origin_that_is_not_an_origin_is_refused_at_start() {
    let db = TestDb::create().await;

    for origin in [
        "app.example.com",
        "https://app.example.com/",
        "https://a.example/x",
    ] {
        let error = the_error_of(doorman(&db.url()).env(
            "DOORMAN_CORS_ORIGINS",
            format!("http://ok.example,{origin}"),
        ));

        assert!(
            error.contains("DOORMAN_CORS_ORIGINS") && error.contains(origin),
            "{origin}: {error}"
        );
    }
}

#[tokio::test]
async fn a_public_url_that_is_not_a_url_is_refused_at_start() {
    let db = TestDb::create().await;

    for url in [
        "localhost:8080",
        "accounts.example.com",
        "ftp://example.com",
    ] {
        let error = the_error_of(doorman(&db.url()).env("DOORMAN_PUBLIC_URL", url));

        assert!(
            error.contains(&format!("DOORMAN_PUBLIC_URL={url} is not a URL")),
            "{url}: {error}"
        );
    }
}

#[tokio::test]
async fn an_access_lifetime_longer_than_the_refresh_lifetime_is_refused_at_start() {
    let db = TestDb::create().await;

    let error = the_error_of(
        doorman(&db.url())
            .env("DOORMAN_ACCESS_TTL", "2h")
            .env("DOORMAN_REFRESH_TTL", "1h"),
    );

    assert!(
        error.contains("DOORMAN_ACCESS_TTL (7200s) is longer than DOORMAN_REFRESH_TTL (3600s)"),
        "{error}"
    );
}

#[tokio::test]
async fn empty_variables_count_as_unset_and_the_log_says_where_to_go() {
    let db = TestDb::create().await;
    let mut command = doorman(&db.url());
    // What `docker compose` passes for `${VAR:-}` with no `.env`.
    for name in [
        "DOORMAN_BOOTSTRAP_ADMIN_EMAIL",
        "DOORMAN_BOOTSTRAP_ADMIN_PASSWORD",
        "DOORMAN_SMTP_URL",
        "DOORMAN_JWT_SECRET",
        "DOORMAN_JWT_PRIVATE_KEY_FILE",
        "DOORMAN_TRUSTED_PROXIES",
        "DOORMAN_CORS_ORIGINS",
        "DOORMAN_HASH_CGROUP",
        "DOORMAN_DB_POOL_SIZE",
        "DOORMAN_ACCESS_TTL",
        "DOORMAN_HASH_PRIORITY",
        "DOORMAN_LOG_FORMAT",
        "DOORMAN_PUBLIC_URL",
    ] {
        command.env(name, "");
    }

    let (_server, log) = serve(&mut command);

    let log = log.join("\n");
    let base = log
        .split("console:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| panic!("no console line in the log:\n{log}"));
    assert!(base.starts_with("http://localhost:"), "{base}");
    for line in [
        format!("console:    {base}/"),
        format!("Swagger UI: {base}/docs/"),
        format!("health:     {base}/health/ready"),
    ] {
        assert!(log.contains(&line), "no `{line}` in:\n{log}");
    }
    let health = reqwest::get(format!("{base}/health/ready"))
        .await
        .expect("the request reaches the server");
    assert_eq!(health.status(), 200);
}
