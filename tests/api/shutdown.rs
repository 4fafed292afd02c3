//! Graceful shutdown (contract: "Operations"): on SIGTERM or SIGINT the real binary stops
//! accepting, finishes the requests in flight, closes idle and stalled connections at once
//! instead of waiting out `DOORMAN_SHUTDOWN_GRACE`, and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::mail::MailServer;
use crate::helpers::process::send_signal;
use crate::helpers::{PASSWORD, TestDb};

/// A hang detector for the exit, far below the grace: an exit that waited for the stalled
/// connection would take the whole grace.
const EXIT_DETECTOR: Duration = Duration::from_secs(20);
const GRACE: &str = "60s";

struct Running {
    child: Child,
    port: u16,
}

/// Starts `doorman serve` on a free port and waits until it listens.
async fn start(db: &TestDb) -> Running {
    start_with(db, &[]).await
}

/// The same, with more environment.
async fn start_with(db: &TestDb, env: &[(&str, &str)]) -> Running {
    let url = db.url();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_doorman"))
            .envs(env)
            .env("DATABASE_URL", url)
            .env("DOORMAN_BIND", "127.0.0.1:0")
            .env("DOORMAN_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("DOORMAN_ARGON2_MEMORY_KIB", "1024")
            .env("DOORMAN_ARGON2_ITERATIONS", "1")
            .env("DOORMAN_RATE_LIMIT_PER_SECOND", "0")
            .env("DOORMAN_HTTP_WORKERS", "1")
            .env("DOORMAN_SHUTDOWN_GRACE", GRACE)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts");
        let stderr = child.stderr.take().expect("no stderr");
        let mut lines = BufReader::new(stderr).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("doorman exited before listening")
                .expect("doorman's output is readable");
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if event["message"] == "doorman is listening" {
                break event["port"]
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or_else(|| panic!("no port in {line}"));
            }
        };
        // Keep draining the log, so that doorman never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Running { child, port }
    })
    .await
    .expect("the blocking task finishes")
}

/// Waits for the child to exit (a hang detector, not a timing assertion).
async fn exit_status(mut child: Child) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("the process can be polled") {
                return status;
            }
            if started.elapsed() > EXIT_DETECTOR {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "doorman did not exit after the signal: an idle or stalled connection held it"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("the blocking task finishes")
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect")
}

async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write");
}

/// Everything the server sends until it closes the connection.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(EXIT_DETECTOR, stream.read_to_end(&mut answer))
        .await
        .expect("the server kept the connection open")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

fn registration(email: &str) -> (String, Vec<u8>) {
    let body = serde_json::json!({ "email": email, "password": PASSWORD }).to_string();
    let head = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: doorman\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    (head, body.into_bytes())
}

/// A request in flight, an idle keep-alive connection, a half-sent request head and a
/// stalled body are open when `signal` arrives: the request finishes (201), the others are
/// closed, and doorman exits 0 without waiting out its grace.
async fn stops_gracefully_on(signal: libc::c_int) {
    let db = TestDb::create().await;
    let running = start(&db).await;
    let port = running.port;

    let mut idle = connect(port).await;
    send(
        &mut idle,
        b"GET /health/live HTTP/1.1\r\nHost: doorman\r\n\r\n",
    )
    .await;
    let mut first = [0u8; 12];
    idle.read_exact(&mut first)
        .await
        .expect("the read succeeds");
    assert_eq!(&first, b"HTTP/1.1 200");

    // A client that stopped in the middle of its request head.
    let mut half_head = connect(port).await;
    send(&mut half_head, b"GET /health/live HTTP/1.1\r\nHost: doo").await;

    let (stalled_head, stalled_body) = registration("stalled@example.com");
    let mut stalled = connect(port).await;
    send(&mut stalled, stalled_head.as_bytes()).await;
    send(&mut stalled, &stalled_body[..5]).await;

    let (head, body) = registration("inflight@example.com");
    let mut in_flight = connect(port).await;
    send(&mut in_flight, head.as_bytes()).await;
    send(&mut in_flight, &body[..5]).await;
    // Let doorman read the heads before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;

    send_signal(&running.child, signal);
    let signalled = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&mut in_flight, &body[5..]).await;

    let finished = read_until_closed(&mut in_flight).await;
    assert!(
        finished.starts_with("HTTP/1.1 201"),
        "the request in flight did not finish: {finished}"
    );
    let cut = read_until_closed(&mut stalled).await;
    assert!(
        cut.is_empty() || cut.starts_with("HTTP/1.1 503") || cut.starts_with("HTTP/1.1 408"),
        "the stalled body got: {cut}"
    );
    read_until_closed(&mut idle).await;
    read_until_closed(&mut half_head).await;

    let status = exit_status(running.child).await;
    eprintln!("doorman exited {:?} after the signal", signalled.elapsed());
    assert!(status.success(), "doorman exited with {status}");
    if let TestDb::Sqlite { path } = &db {
        let wal = std::fs::metadata(format!("{}-wal", path.display()));
        assert!(
            wal.map_or(true, |meta| meta.len() == 0),
            "the SQLite WAL was left unchecked-pointed"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_request_in_flight_closes_idle_and_stalled_connections_and_exits_0() {
    stops_gracefully_on(libc::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_stops_as_gracefully_as_sigterm() {
    stops_gracefully_on(libc::SIGINT).await;
}

/// A notice queued by the last request before the signal is still mailed: doorman sends its
/// queue before it exits, even through a mail relay that takes its time to answer.
#[tokio::test(flavor = "multi_thread")]
async fn the_notices_queued_before_the_signal_are_mailed_before_the_exit() {
    let mail = MailServer::start_slow(Duration::from_millis(1500)).await;
    let db = TestDb::create().await;
    let running = start_with(&db, &[("DOORMAN_SMTP_URL", &mail.url())]).await;
    let port = running.port;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let account = serde_json::json!({ "email": "ada@example.com", "password": PASSWORD });
    let registered = client
        .post(format!("{base}/users"))
        .json(&account)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), reqwest::StatusCode::CREATED);

    // The fifth wrong password locks the account and queues the notice.
    let wrong = serde_json::json!({ "email": "ada@example.com", "password": "not it" });
    for _ in 0..5 {
        let reply = client
            .post(format!("{base}/auth/login"))
            .json(&wrong)
            .send()
            .await
            .expect("login");
        assert_eq!(reply.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    send_signal(&running.child, libc::SIGTERM);
    let status = exit_status(running.child).await;

    assert!(status.success(), "doorman exited with {status}");
    let locked: Vec<_> = mail
        .received()
        .into_iter()
        .filter(|m| {
            m.header("Subject").as_deref() == Some("Your account was locked after failed sign-ins")
        })
        .collect();
    assert_eq!(locked.len(), 1, "the notice was lost with the process");
}
