//! The client address behind trusted proxies: how `X-Forwarded-For` is read, and which
//! per-IP bucket a client counts against. Every test request comes from 127.0.0.1, which
//! each test configures as a trusted proxy in front of the app.

use reqwest::StatusCode;
use serde_json::{Value, json};

use doorman::config::{IpNet, parse_ip_net};

use crate::helpers::{PASSWORD, Reply, TestApp, Tokens};

fn nets(raw: &[&str]) -> Vec<IpNet> {
    raw.iter()
        .map(|raw| parse_ip_net(raw).expect("a valid network"))
        .collect()
}

/// An app behind the proxies `trusted` whose per-IP limit allows a burst of one request.
async fn limited_behind(trusted: &[&str]) -> TestApp {
    let trusted = nets(trusted);
    TestApp::spawn_with(|c| {
        c.trusted_proxies = trusted;
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 1;
    })
    .await
}

/// An app behind the proxies `trusted` with no per-IP limit.
async fn unlimited_behind(trusted: &[&str]) -> TestApp {
    let trusted = nets(trusted);
    TestApp::spawn_with(|c| c.trusted_proxies = trusted).await
}

/// A rate-limited request carrying `lines`, one `X-Forwarded-For` header line each.
async fn introspect(app: &TestApp, lines: &[&str]) -> Reply {
    let headers: Vec<(&str, &str)> = lines
        .iter()
        .map(|line| ("x-forwarded-for", *line))
        .collect();
    app.post_with_headers("/api/v1/auth/introspect", &headers, json!({ "token": "x" }))
        .await
}

#[track_caller]
fn assert_allowed(reply: &Reply, why: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{why}: {}", reply.body);
}

/// Signs `email` in with `X-Forwarded-For: forwarded_for`; returns the address its session
/// recorded.
async fn session_ip_forwarded_for(app: &TestApp, email: &str, forwarded_for: &str) -> Value {
    app.register(email).await;
    let login = app
        .post_with_headers(
            "/api/v1/auth/login",
            &[("x-forwarded-for", forwarded_for)],
            json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "login: {}", login.body);
    let tokens = Tokens::from(&login.body);
    let sessions = app.api().list_my_sessions(&tokens.access).await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.body);
    sessions.body[0]["ip"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_entry_left_of_an_unknown_one_does_not_escape_the_bucket() {
    let app = limited_behind(&["127.0.0.1"]).await;

    let first = introspect(&app, &["10.0.0.7, unknown"]).await;
    let rotated = introspect(&app, &["10.0.0.8, unknown"]).await;
    let other_junk = introspect(&app, &["10.0.0.9, _hidden"]).await;

    assert_allowed(&first, "the first request of the burst");
    rotated.assert_problem(429, "rate_limited");
    other_junk.assert_problem(429, "rate_limited");
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_entry_left_of_an_ip_port_one_does_not_escape_the_bucket() {
    let app = limited_behind(&["127.0.0.1"]).await;

    let first = introspect(&app, &["10.0.0.7, 198.51.100.7:1111"]).await;
    let rotated = introspect(&app, &["10.0.0.8, 198.51.100.7:2222"]).await;

    assert_allowed(&first, "the first request of the burst");
    rotated.assert_problem(429, "rate_limited");
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_port_and_bracketed_ipv6_entries_are_the_client() {
    let app = limited_behind(&["127.0.0.1"]).await;
    // The proxy's own bucket is spent, so an entry misread as "no client" would get 429.
    assert_allowed(&introspect(&app, &[]).await, "the proxy's own request");

    for (written, plain) in [
        ("198.51.100.7:1111", "198.51.100.7"),
        ("198.51.100.8:1111", "198.51.100.8"),
        ("[2001:db8:1::1]", "2001:db8:1::1"),
        ("[2001:db8:2::1]:5678", "2001:db8:2::1"),
        ("203.0.113.9 ,  [2001:db8:3::1]:5678", "2001:db8:3::1"),
    ] {
        let first = introspect(&app, &[written]).await;
        let again = introspect(&app, &[plain]).await;

        assert_allowed(&first, &format!("{written} has a bucket of its own"));
        again.assert_problem(429, "rate_limited");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spoofed_leftmost_entry_behind_a_trusted_proxy_does_not_change_the_bucket() {
    let app = limited_behind(&["127.0.0.1", "10.0.0.0/8"]).await;

    let first = introspect(&app, &["203.0.113.1, 198.51.100.7"]).await;
    let spoofed = introspect(&app, &["203.0.113.2, 198.51.100.7"]).await;
    let spoofed_as_a_proxy = introspect(&app, &["10.0.0.5, 198.51.100.7"]).await;
    let through_two_proxies = introspect(&app, &["203.0.113.3, 198.51.100.7, 10.0.0.2"]).await;
    let another_client = introspect(&app, &["203.0.113.1, 198.51.100.8"]).await;

    assert_allowed(&first, "the first request of the burst");
    spoofed.assert_problem(429, "rate_limited");
    spoofed_as_a_proxy.assert_problem(429, "rate_limited");
    through_two_proxies.assert_problem(429, "rate_limited");
    assert_allowed(&another_client, "another client has its own bucket");
}

#[tokio::test(flavor = "multi_thread")]
async fn several_x_forwarded_for_lines_are_one_list_in_order() {
    let app = limited_behind(&["127.0.0.1"]).await;

    let first = introspect(&app, &["203.0.113.1", "198.51.100.7"]).await;
    let spoofed = introspect(&app, &["203.0.113.2", "198.51.100.7"]).await;
    let another_client = introspect(&app, &["198.51.100.7", "198.51.100.8"]).await;

    assert_allowed(&first, "the first request of the burst");
    spoofed.assert_problem(429, "rate_limited");
    assert_allowed(&another_client, "the last line holds the client");
}

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_clients_share_a_bucket_per_64() {
    let app = limited_behind(&["127.0.0.1"]).await;

    let first = introspect(&app, &["2001:db8:1:2::1"]).await;
    let same_64 = introspect(&app, &["2001:db8:1:2:ffff:ffff:ffff:9"]).await;
    let next_64 = introspect(&app, &["2001:db8:1:3::1"]).await;
    let ipv4_neighbour = introspect(&app, &["198.51.100.8"]).await;

    assert_allowed(&first, "the first request of the burst");
    same_64.assert_problem(429, "rate_limited");
    assert_allowed(&next_64, "another /64 has its own bucket");
    assert_allowed(&ipv4_neighbour, "an IPv4 client has its own bucket");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_record_the_full_forwarded_client_address() {
    let app = unlimited_behind(&["127.0.0.1"]).await;

    let ip = session_ip_forwarded_for(&app, "ada@example.com", "[2001:db8:1:2::abcd]:5678").await;

    assert_eq!(ip, "2001:db8:1:2::abcd", "the address, not its /64");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_that_is_not_an_address_makes_the_nearest_trusted_hop_the_client() {
    let app = unlimited_behind(&["127.0.0.1", "10.0.0.0/8"]).await;

    let ip =
        session_ip_forwarded_for(&app, "ada@example.com", "198.51.100.7, unknown, 10.0.0.2").await;

    assert_eq!(ip, "10.0.0.2", "never the entry left of `unknown`");
}
