//! HTTP itself: `HEAD` wherever there is a `GET` (RFC 9110 §9.3.2), and a request body
//! that arrives too slowly, or not at all, is `408 request_timeout` as problem+json.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

/// A generous bound on any one exchange: a hang detector, not a timing assertion.
const HANG: Duration = Duration::from_secs(60);

/// Sends `head` (and `body`, as given) on a raw connection, then reads until the server
/// closes it. Returns everything the server sent.
pub async fn raw_exchange(port: u16, head: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(HANG, stream.read_to_end(&mut answer))
        .await
        .expect("the server neither answered nor closed the connection")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

fn port(app: &TestApp) -> u16 {
    app.address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", app.address))
}

/// The status, headers (lower-cased names) and body of one raw HTTP/1.1 response.
fn parse_response(raw: &str) -> (u16, Vec<(String, String)>, String) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[track_caller]
fn assert_request_timeout(raw: &str) {
    let (status, headers, body) = parse_response(raw);
    assert_eq!(status, 408, "{raw}");
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/problem+json")
    );
    assert_eq!(header(&headers, "connection"), Some("close"), "{raw}");
    let problem: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(problem["code"], "request_timeout");
    assert_eq!(problem["status"], 408);
}

async fn app_with_a_short_body_timeout() -> TestApp {
    TestApp::spawn_with(|c| c.body_timeout = Duration::from_secs(1)).await
}

const REGISTER_HEAD: &str = "POST /api/v1/users HTTP/1.1\r\nHost: doorman\r\n\
     Content-Type: application/json\r\nContent-Length: 60\r\n\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_stops_arriving_is_408_request_timeout_as_problem_json_and_the_connection_closes()
 {
    let app = app_with_a_short_body_timeout().await;
    let raw = raw_exchange(port(&app), REGISTER_HEAD, b"{\"email\": ").await;
    assert_request_timeout(&raw);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_never_comes_is_408_request_timeout() {
    let app = app_with_a_short_body_timeout().await;
    let raw = raw_exchange(port(&app), REGISTER_HEAD, b"").await;
    assert_request_timeout(&raw);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_trickling_in_a_byte_at_a_time_is_cut_off_with_408() {
    let app = app_with_a_short_body_timeout().await;
    let mut stream = TcpStream::connect(("127.0.0.1", port(&app)))
        .await
        .expect("connect");
    stream
        .write_all(REGISTER_HEAD.as_bytes())
        .await
        .expect("write");
    // One byte every 200 ms: each arrives well within any per-read timeout, the whole
    // body never within the body's. Stop trickling once the server has answered.
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    for _ in 0..300 {
        if stream.write_all(b" ").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
    }
    let _ = tokio::time::timeout(HANG, stream.read_to_end(&mut answer)).await;
    assert_request_timeout(&String::from_utf8_lossy(&answer));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_sent_in_time_is_not_affected_by_the_body_timeout() {
    let app = app_with_a_short_body_timeout().await;
    let body = br#"{"email": "intime@example.com", "password": "correct horse battery staple"}"#;
    let head = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: doorman\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let raw = raw_exchange(port(&app), &head, body).await;
    let (status, _, _) = parse_response(&raw);
    assert_eq!(status, 201, "{raw}");
}

#[tokio::test(flavor = "multi_thread")]
async fn head_answers_like_get_without_a_body_on_every_get_route() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("head@example.com").await;
    let paths = [
        "/health/live",
        "/health/ready",
        "/.well-known/jwks.json",
        "/metrics",
        "/api/v1/users/me",
        "/api/v1/users/me/sessions",
        "/api/v1/tasks",
    ];
    for path in paths {
        let get = app
            .client
            .get(app.url(path))
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let get_status = get.status();
        let get_type = get.headers().get("content-type").cloned();
        let get_body = get.bytes().await.expect("the body arrives");

        let raw = raw_exchange(
            port(&app),
            &format!(
                "HEAD {path} HTTP/1.1\r\nHost: doorman\r\nAuthorization: Bearer {}\r\n\
                 Connection: close\r\n\r\n",
                tokens.access
            ),
            b"",
        )
        .await;
        let (status, headers, body) = parse_response(&raw);
        assert_eq!(status, get_status.as_u16(), "HEAD {path}: {raw}");
        assert!(body.is_empty(), "HEAD {path} sent a body: {body:?}");
        assert_eq!(
            header(&headers, "content-type"),
            get_type.as_ref().and_then(|v| v.to_str().ok()),
            "HEAD {path}"
        );
        // /metrics counts requests, so its length moves; the others are the same resource.
        if path != "/metrics" {
            assert_eq!(
                header(&headers, "content-length"),
                Some(get_body.len().to_string().as_str()),
                "HEAD {path}: {raw}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn head_keeps_the_errors_of_get_and_is_refused_where_there_is_no_get() {
    let app = TestApp::spawn().await;
    let anonymous = app
        .client
        .head(app.url("/api/v1/users/me"))
        .send()
        .await
        .expect("the request reaches the server");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));

    let login_only_posts = app
        .request(Method::HEAD, "/api/v1/auth/login", None, None)
        .await;
    assert_eq!(login_only_posts.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(login_only_posts.header("allow"), Some("POST"));

    let unknown = app.request(Method::HEAD, "/nowhere", None, None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let get_only = app
        .request(Method::DELETE, "/health/live", None, None)
        .await;
    assert_eq!(get_only.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get_only.header("allow"), Some("GET, HEAD"));
}
