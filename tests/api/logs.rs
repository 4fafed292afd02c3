//! The real binary's logs: one JSON line per request with its id, route, status and
//! latency, and never a password, hash or token.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestDb};

/// The binary, killed and reaped however the test ends (a failed assertion included).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the binary logged while it served a sign-up, a login, a refresh, a failed login and
/// a read, with `RUST_LOG` at `level`; and the tokens it handed out.
struct Logged {
    lines: Vec<String>,
    tokens: Vec<String>,
}

impl Logged {
    fn parsed(&self) -> Vec<Value> {
        self.lines
            .iter()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }
}

async fn serve_and_log(level: &str) -> Logged {
    let db = TestDb::create().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port");
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_doorman"))
            .env("DATABASE_URL", db.url())
            .env("DOORMAN_BIND", format!("127.0.0.1:{port}"))
            .env("DOORMAN_LOG_FORMAT", "json")
            .env("DOORMAN_ARGON2_MEMORY_KIB", "1024")
            .env("DOORMAN_ARGON2_ITERATIONS", "1")
            .env("RUST_LOG", level)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts"),
    );
    // Read as it comes: at the verbose levels more is logged than a pipe buffers.
    let stderr = child.0.stderr.take().expect("no stderr");
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    // Up to 30 s: the debug binary starts beside the whole suite on two cores.
    let mut ready = false;
    for _ in 0..600 {
        if client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the binary did not become ready");

    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .header("x-request-id", "log-test-1")
            .json(&body)
            .send()
    };
    post(
        "/api/v1/users",
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await
    .expect("the request reaches the server");
    let login = Reply::from(
        post(
            "/api/v1/auth/login",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await
        .expect("the request reaches the server"),
    )
    .await;
    assert_eq!(login.status, reqwest::StatusCode::OK, "{:?}", login.body);
    let token = |reply: &Reply, name: &str| {
        reply.body[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name}: {:?}", reply.body))
            .to_owned()
    };
    let (access_token, refresh_token) = (
        token(&login, "access_token"),
        token(&login, "refresh_token"),
    );
    let refreshed = Reply::from(
        post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": refresh_token }),
        )
        .await
        .expect("the request reaches the server"),
    )
    .await;
    assert_eq!(
        refreshed.status,
        reqwest::StatusCode::OK,
        "{:?}",
        refreshed.body
    );
    post(
        "/api/v1/auth/login",
        json!({ "email": "ada@example.com", "password": "a wrong password" }),
    )
    .await
    .expect("the request reaches the server");
    client
        .get(format!("{base}/api/v1/users/me"))
        .bearer_auth(&access_token)
        .send()
        .await
        .expect("the request reaches the server");

    drop(child);
    let lines = reader.join().expect("the reader failed");
    Logged {
        lines,
        tokens: vec![
            access_token,
            refresh_token,
            token(&refreshed, "access_token"),
            token(&refreshed, "refresh_token"),
        ],
    }
}

/// Fails if any line holds the password, a token or a password hash, as text or, the way
/// a driver's debug output would print a bound parameter, as a list of bytes.
fn assert_no_secrets(logged: &Logged) {
    let everything = logged.lines.join("\n");
    let hash_as_bytes = b"$argon2id$".map(|b| b.to_string()).join(", ");
    let secrets = [PASSWORD, "a wrong password", "$argon2id$", &hash_as_bytes];
    for secret in secrets
        .iter()
        .copied()
        .chain(logged.tokens.iter().map(String::as_str))
    {
        assert!(
            !everything.contains(secret),
            "a log line holds a secret: {secret}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_have_one_line_per_request_and_no_secrets() {
    let logged = serve_and_log("info").await;
    let lines = &logged.lines;
    let parsed = logged.parsed();
    let requests: Vec<&Value> = parsed
        .iter()
        .filter(|l| l["message"] == "request")
        .collect();
    assert_eq!(
        requests.len(),
        6,
        "one line per request (ready + 5): {lines:#?}"
    );
    let login_line = requests
        .iter()
        .find(|l| l["route"] == "/api/v1/auth/login")
        .expect("no login line");
    assert_eq!(login_line["status"], 200);
    assert!(login_line["latency_ms"].is_f64());
    assert_eq!(login_line["span"]["request_id"], "log-test-1");
    assert_no_secrets(&logged);
}

/// An operator who turns every log up to find a fault still gets no secret: the database
/// driver, which logs each statement's parameters at debug level, stays at info.
#[tokio::test(flavor = "multi_thread")]
async fn no_secrets_at_the_most_verbose_level_either() {
    let logged = serve_and_log("trace").await;
    let parsed = logged.parsed();
    let verbose = |line: &&Value| line["level"] == "DEBUG" || line["level"] == "TRACE";
    assert!(
        parsed.iter().filter(verbose).any(|line| line["target"]
            .as_str()
            .is_some_and(|t| !t.starts_with("doorman"))),
        "trace lets other crates' debug lines through: {:#?}",
        logged.lines
    );
    let driver_details: Vec<&Value> = parsed
        .iter()
        .filter(verbose)
        .filter(|line| {
            line["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("tokio_postgres"))
        })
        .collect();
    assert!(driver_details.is_empty(), "{driver_details:#?}");
    assert_no_secrets(&logged);
}
