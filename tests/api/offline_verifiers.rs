//! The offline verifiers in `examples/` against a live doorman: given only the issuer URL,
//! each accepts a session's access token, refuses it within one poll of the revocation
//! feed once the session is logged out, and never accepts a refresh token.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, Tokens};

#[path = "../../examples/offline_verifier.rs"]
#[expect(
    dead_code,
    reason = "the example's main reads stdin; the tests drive its Verifier"
)]
mod rust_verifier;

const POLL: Duration = Duration::from_secs(1);
/// How long a test waits for an answer to change: many polls, so a slow machine does not
/// fail it; the verifiers themselves are expected to change within one.
const PATIENCE: Duration = Duration::from_secs(30);

/// An app whose `DOORMAN_PUBLIC_URL` (the issuer) is where it really listens, polled
/// every second.
async fn app_at_its_public_url() -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    TestApp::spawn_with(|config| {
        config.bind = format!("127.0.0.1:{port}");
        config.public_url = format!("http://127.0.0.1:{port}/");
        config.revocation_poll = POLL;
    })
    .await
}

async fn logout(app: &TestApp, tokens: &Tokens) {
    let reply = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&tokens.access),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
}

/// Asks `ask` again (a poll apart) until it answers `wanted`, for at most [`PATIENCE`];
/// returns the last answer.
async fn answer_until<F, Fut>(wanted: &str, mut ask: F) -> String
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let until = Instant::now() + PATIENCE;
    loop {
        let answer = ask().await;
        if answer == wanted || Instant::now() > until {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_verifier_refuses_a_logged_out_sessions_token_and_any_refresh_token() {
    let app = app_at_its_public_url().await;
    let ada = app.signed_in("ada@example.com").await;
    let grace = app.signed_in("grace@example.com").await;
    let verifier = rust_verifier::Verifier::start(app.config.issuer().as_str(), "doorman", None)
        .await
        .expect("the verifier starts from the issuer URL alone");

    assert_eq!(
        verifier.answer(&ada.access).await,
        format!("valid {}", ada.user_id)
    );
    assert_eq!(
        verifier.answer(&ada.refresh).await,
        "invalid unknown_key",
        "a refresh token's key is never published"
    );

    logout(&app, &ada).await;
    let answer = answer_until("invalid revoked", || verifier.answer(&ada.access)).await;
    assert_eq!(answer, "invalid revoked");
    assert_eq!(
        verifier.answer(&grace.access).await,
        format!("valid {}", grace.user_id),
        "another session's token is still accepted"
    );
}

/// The Python verifier as a process: tokens in on stdin, answers out on stdout.
struct PythonVerifier {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PythonVerifier {
    /// `DOORMAN_PY_VERIFIER_PYTHON` (`.ci/run` sets it to a venv with PyJWT and requests),
    /// else `python3` if it has them; `None` when neither can run the example.
    fn python() -> Option<String> {
        if let Ok(python) = std::env::var("DOORMAN_PY_VERIFIER_PYTHON") {
            return Some(python);
        }
        let has_packages = Command::new("python3")
            .args(["-c", "import jwt, requests, cryptography"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        has_packages.then(|| "python3".to_owned())
    }

    fn start(python: &str, issuer: &str) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/offline_verifier.py");
        let mut child = Command::new(python)
            .args([script, issuer, "doorman"])
            .env("DOORMAN_REVOCATION_POLL", format!("{}s", POLL.as_secs()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python} {script}: {e}"));
        let stdin = child.stdin.take().expect("a stdin");
        let stdout = BufReader::new(child.stdout.take().expect("a stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends a token; the verifier's answer line.
    fn ask(&mut self, token: &str) -> String {
        tokio::task::block_in_place(|| {
            writeln!(self.stdin, "{token}").expect("the verifier reads its stdin");
            self.stdin.flush().expect("the verifier reads its stdin");
            let mut line = String::new();
            let read = self
                .stdout
                .read_line(&mut line)
                .expect("the verifier answers");
            assert!(
                read > 0,
                "the Python verifier exited (see its stderr above)"
            );
            line.trim_end().to_owned()
        })
    }
}

impl Drop for PythonVerifier {
    fn drop(&mut self) {
        // Best effort: the process is ours and of no use after the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Discovery with stock libraries: the Python verifier finds the keys from the issuer's
/// `/.well-known/openid-configuration` and verifies with PyJWT's `PyJWKClient`.
#[tokio::test(flavor = "multi_thread")]
async fn the_python_verifier_refuses_a_logged_out_sessions_token_and_any_refresh_token() {
    let Some(python) = PythonVerifier::python() else {
        eprintln!(
            "SKIPPED: no Python with PyJWT[crypto] and requests; set DOORMAN_PY_VERIFIER_PYTHON \
             (.ci/run does) or `pip install 'PyJWT[crypto]' requests`"
        );
        return;
    };
    let app = app_at_its_public_url().await;
    let ada = app.signed_in("ada@example.com").await;
    let grace = app.signed_in("grace@example.com").await;
    let mut verifier = PythonVerifier::start(&python, &app.config.issuer());

    assert_eq!(verifier.ask(&ada.access), format!("valid {}", ada.user_id));
    assert_eq!(
        verifier.ask(&ada.refresh),
        "invalid unknown_key",
        "a refresh token's key is never published"
    );

    logout(&app, &ada).await;
    let mut last = String::new();
    let until = Instant::now() + PATIENCE;
    while Instant::now() < until {
        last = verifier.ask(&ada.access);
        if last == "invalid revoked" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, "invalid revoked");
    assert_eq!(
        verifier.ask(&grace.access),
        format!("valid {}", grace.user_id),
        "another session's token is still accepted"
    );
}
