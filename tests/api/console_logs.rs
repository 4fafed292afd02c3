//! The real binary's logs while a person resets a password and signs in on the console
//! pages: neither the reset token nor the session cookie ever reaches a log line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::helpers::mail::{MAIL_WAIT, MailServer};
use crate::helpers::{PASSWORD, TestDb};

/// The binary, killed and reaped however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `name=value` of a response's cookie called `name`.
fn cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..start + page[start..].find('"').unwrap_or(0)].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reset_token_and_the_session_cookie_never_reach_a_log_line() {
    let db = TestDb::create().await;
    let mail = MailServer::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port");
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_doorman"))
            .env("DATABASE_URL", db.url())
            .env("DOORMAN_BIND", format!("127.0.0.1:{port}"))
            .env("DOORMAN_PUBLIC_URL", &base)
            .env("DOORMAN_SMTP_URL", mail.url())
            .env("DOORMAN_LOG_FORMAT", "json")
            .env("DOORMAN_ARGON2_MEMORY_KIB", "1024")
            .env("DOORMAN_ARGON2_ITERATIONS", "1")
            .env("RUST_LOG", "debug")
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts"),
    );
    let stderr = child.0.stderr.take().expect("no stderr");
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the HTTP client builds");
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
    let registered = client
        .post(format!("{base}/api/v1/users"))
        .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("the request reaches the server");
    assert_eq!(registered.status(), reqwest::StatusCode::CREATED);
    client
        .post(format!("{base}/api/v1/auth/password/forgot"))
        .json(&json!({ "email": "ada@example.com" }))
        .send()
        .await
        .expect("the request reaches the server");
    let token = mail.next_reset_mail(MAIL_WAIT).await.reset_token(&base);

    // The page the mail links to, then its form, posted as Chromium posts from a
    // no-referrer page.
    let page = client
        .get(format!("{base}/reset-password?token={token}"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("the request reaches the server");
    assert_eq!(
        page.headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("no-referrer")
    );
    let csrf_cookie = cookie(&page, "doorman_csrf");
    let body = page.text().await.unwrap_or_default();
    let reset = client
        .post(format!("{base}/reset-password"))
        .header("cookie", &csrf_cookie)
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("csrf", hidden(&body, "csrf").as_str()),
            ("token", hidden(&body, "token").as_str()),
            ("new_password", "a brand new passphrase"),
            ("confirm_new_password", "a brand new passphrase"),
        ])
        .send()
        .await
        .expect("the request reaches the server");
    assert_eq!(reset.status(), reqwest::StatusCode::SEE_OTHER);
    let location = reset
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(location, "/login?notice=password_reset");

    let signed_in = client
        .post(format!("{base}/login"))
        .header("cookie", &csrf_cookie)
        .header("origin", &base)
        .form(&[
            ("csrf", csrf_cookie.trim_start_matches("doorman_csrf=")),
            ("identifier", "ada@example.com"),
            ("password", "a brand new passphrase"),
        ])
        .send()
        .await
        .expect("the request reaches the server");
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
    let session = cookie(&signed_in, "doorman_session");
    let dashboard = client
        .get(format!("{base}/dashboard"))
        .header("cookie", &session)
        .send()
        .await
        .expect("the request reaches the server");
    assert_eq!(dashboard.status(), reqwest::StatusCode::OK);

    let _ = child.0.kill();
    let _ = child.0.wait();
    let lines = reader.join().expect("the log reader panicked");
    let session_token = session.trim_start_matches("doorman_session=");
    assert!(
        lines.iter().any(|l| l.contains("/reset-password")),
        "the reset page's requests are logged (by route)"
    );
    for line in &lines {
        assert!(!line.contains(&token), "the reset token was logged: {line}");
        assert!(
            !line.contains(session_token),
            "the session cookie was logged: {line}"
        );
    }
    drop(db);
}
