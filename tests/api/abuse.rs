//! Abuse limits: the per-IP bucket, the per-account lockout, shedding under a login flood,
//! and the metrics that show them.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, Reply, TestApp};

async fn post_from(
    app: &TestApp,
    path: &str,
    forwarded_for: Option<&str>,
    body: serde_json::Value,
) -> Reply {
    let headers: Vec<(&str, &str)> = forwarded_for
        .map(|ip| ("x-forwarded-for", ip))
        .into_iter()
        .collect();
    app.post_with_headers(path, &headers, body).await
}

fn limited_app(c: &mut doorman::config::Config) {
    c.rate_limit_per_second = 1;
    c.rate_limit_burst = 3;
}

/// The seconds a reply's `Retry-After` asks for; 0 when it has none.
fn retry_after(reply: &Reply) -> u64 {
    reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_endpoints_are_limited_per_ip_with_429_and_retry_after() {
    let app = TestApp::spawn_with(limited_app).await;
    let tokens = app.signed_in("ada@example.com").await; // register + login: 2 of the burst of 3

    let third = app.login("ada@example.com", "wrong password here").await;
    let fourth = app
        .post("/api/v1/auth/introspect", json!({ "token": tokens.access }))
        .await;

    assert_eq!(third.status, StatusCode::UNAUTHORIZED);
    fourth.assert_problem(429, "rate_limited");
    let retry_after = retry_after(&fourth);
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        app.api().get_me(&tokens.access).await.status,
        StatusCode::OK,
        "reads are not limited"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.refresh(&tokens.refresh).await.status,
        StatusCode::OK,
        "the bucket refills"
    );
}

/// `DOORMAN_RATE_LIMIT_PER_SECOND=0` turns the limit off, whatever the burst says.
#[tokio::test(flavor = "multi_thread")]
async fn a_rate_of_zero_turns_the_limit_off() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit_per_second = 0;
        c.rate_limit_burst = 1;
    })
    .await;

    let replies =
        join_all((0..10).map(|_| app.post("/api/v1/auth/introspect", json!({ "token": "x" }))))
            .await;

    for reply in replies {
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
}

/// The limit follows the route a request reaches, not how its path is spelled, and its 429
/// carries the CORS headers a browser needs to read it.
#[tokio::test(flavor = "multi_thread")]
async fn every_spelling_of_a_limited_path_is_limited_and_its_429_has_cors_headers() {
    let unlimited = TestApp::spawn().await;
    unlimited
        .post(
            "/api/v1/auth/%6Cogin",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await
        .assert_problem(401, "invalid_credentials");

    let app = TestApp::spawn_with(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 1;
        c.cors_origins = vec!["https://app.example".to_owned()];
    })
    .await;
    let first = app
        .post("/api/v1/auth/introspect", json!({ "token": "x" }))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    for (path, body) in [
        (
            "/api/v1/user%73",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        ),
        (
            "/api/v1/auth/%6Cogin",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        ),
        ("/api/v1/auth/refres%68", json!({ "refresh_token": "x" })),
        (
            "/api/v1/auth/password/%66orgot",
            json!({ "email": "ada@example.com" }),
        ),
        (
            "/api/v1/auth/password/rese%74",
            json!({ "token": "x", "new_password": PASSWORD }),
        ),
        ("/api/v1/auth/%69ntrospect", json!({ "token": "x" })),
    ] {
        let reply = app
            .post_with_headers(path, &[("origin", "https://app.example")], body)
            .await;
        reply.assert_problem(429, "rate_limited");
        assert!(reply.header("retry-after").is_some(), "{path}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some("https://app.example"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn x_forwarded_for_counts_only_behind_a_trusted_proxy() {
    let direct = TestApp::spawn_with(limited_app).await;
    let proxied = TestApp::spawn_with(|c| {
        limited_app(c);
        c.trusted_proxies =
            vec![doorman::config::parse_ip_net("127.0.0.1").expect("a valid network")];
    })
    .await;
    let probe = json!({ "token": "x" });

    for i in 0..3 {
        let spoofed = format!("203.0.113.{i}");
        assert_eq!(
            post_from(
                &direct,
                "/api/v1/auth/introspect",
                Some(&spoofed),
                probe.clone()
            )
            .await
            .status,
            StatusCode::OK
        );
        assert_eq!(
            post_from(
                &proxied,
                "/api/v1/auth/introspect",
                Some("198.51.100.7"),
                probe.clone()
            )
            .await
            .status,
            StatusCode::OK
        );
    }

    post_from(
        &direct,
        "/api/v1/auth/introspect",
        Some("203.0.113.99"),
        probe.clone(),
    )
    .await
    .assert_problem(429, "rate_limited");
    post_from(
        &proxied,
        "/api/v1/auth/introspect",
        Some("198.51.100.7"),
        probe.clone(),
    )
    .await
    .assert_problem(429, "rate_limited");
    let other_client = post_from(
        &proxied,
        "/api/v1/auth/introspect",
        Some("198.51.100.8"),
        probe.clone(),
    )
    .await;
    assert_eq!(
        other_client.status,
        StatusCode::OK,
        "behind a trusted proxy each client has its own bucket"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn five_failed_logins_lock_the_account_with_a_doubling_delay_and_success_resets() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;

    for _ in 0..5 {
        app.login("ada@example.com", "not my password")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let hashed_before = metric(&app, "doorman_password_hash_jobs_total").await;
    let locked = app.login("ada@example.com", PASSWORD).await;
    locked.assert_problem(429, "rate_limited");
    assert_eq!(locked.header("retry-after"), Some("1"));
    assert_eq!(
        metric(&app, "doorman_password_hash_jobs_total").await,
        hashed_before,
        "a locked account is answered without a hash"
    );
    assert_eq!(
        metric(&app, r#"doorman_logins_total{outcome="locked"}"#).await,
        1.0
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.login("ada@example.com", "not my password")
        .await
        .assert_problem(401, "invalid_credentials");
    let doubled = app.login("ada@example.com", PASSWORD).await;
    doubled.assert_problem(429, "rate_limited");
    assert_eq!(doubled.header("retry-after"), Some("2"));

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK,
        "the lock has passed"
    );
    for _ in 0..4 {
        app.login("ada@example.com", "not my password")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK,
        "a success reset the count"
    );

    let locks = app
        .query_text("SELECT type AS value FROM audit_events WHERE type = 'login.locked'")
        .await;
    assert_eq!(locks.len(), 2);
}

/// Each attempt is counted before its password is checked, so guesses sent all at once
/// cannot outrun the lock: five are checked, the rest refused without a hash.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_guesses_cannot_outrun_the_lock() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;

    let replies = join_all((0..30).map(|_| app.login("ada@example.com", "not my password"))).await;

    let checked = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    // Five, unless the machine was so slow that the first lock (1 s, from the fifth
    // attempt's count) ran out while the others still waited for the database: then a sixth
    // locks it for 2 s.
    assert!((5..=6).contains(&checked), "{checked} guesses were checked");
    for reply in replies
        .iter()
        .filter(|r| r.status != StatusCode::UNAUTHORIZED)
    {
        reply.assert_problem(429, "rate_limited");
    }
    let counted = app
        .query_text("SELECT CAST(failed_logins AS TEXT) AS value FROM login_throttles")
        .await;
    assert_eq!(counted, vec![checked.to_string()]);
    let failed = app
        .query_text("SELECT type AS value FROM audit_events WHERE type = 'login.failed'")
        .await;
    assert_eq!(failed.len(), checked, "one login.failed per checked guess");
}

/// A name that matches no account is locked like one that does, so the lockout does not
/// tell which names have an account; its lock is audited without a subject.
#[tokio::test(flavor = "multi_thread")]
async fn names_without_an_account_lock_like_accounts() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;

    for name in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..5 {
            app.login(name, "not my password")
                .await
                .assert_problem(401, "invalid_credentials");
        }
        let locked = app.login(name, "not my password").await;
        locked.assert_problem(429, "rate_limited");
        assert_eq!(locked.header("retry-after"), Some("1"), "{name}");
    }
    let respelled = app.login("NOBODY@Example.com", PASSWORD).await;
    respelled.assert_problem(429, "rate_limited");
    let by_username = app
        .post(
            "/api/v1/auth/login",
            json!({ "username": "Nobody", "password": PASSWORD }),
        )
        .await;
    by_username.assert_problem(401, "invalid_credentials");

    let locks = app
        .query_text(
            "SELECT CASE WHEN subject_id IS NULL THEN 'none' ELSE 'account' END AS value \
             FROM audit_events WHERE type = 'login.locked' ORDER BY at",
        )
        .await;
    assert_eq!(locks, vec!["account", "none"]);
    let keys = app
        .query_text("SELECT key AS value FROM login_throttles ORDER BY key")
        .await;
    assert_eq!(
        keys.len(),
        3,
        "the account, the address and the username: {keys:?}"
    );
    let hashed = |k: &String| {
        k.strip_prefix("name:")
            .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    assert_eq!(
        keys.iter().filter(|k| hashed(k)).count(),
        2,
        "unknown names are kept hashed: {keys:?}"
    );
    assert_eq!(keys.iter().filter(|k| k.starts_with("user:")).count(), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let keys = app
        .query_text("SELECT key AS value FROM login_throttles")
        .await;
    assert_eq!(
        keys.len(),
        2,
        "a success clears the account's count: {keys:?}"
    );
    assert!(keys.iter().all(|k| k.starts_with("name:")), "{keys:?}");
}

/// The text of `GET /metrics`.
async fn metrics(app: &TestApp) -> String {
    let reply = app.request(Method::GET, "/metrics", None, None).await;
    reply.body.as_str().unwrap_or_default().to_owned()
}

/// The value of one series of `GET /metrics` (its name with its labels, as printed).
async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = metrics(app).await;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// An app with one hashing thread and a queue of one, with ada registered, and a replica
/// on its database (same pool sizes) whose hashes are slow enough to fill that pool.
async fn tiny_pool() -> (TestApp, TestApp) {
    let app = TestApp::spawn_with(|c| {
        c.hash_workers = 1;
        c.hash_queue = 1;
    })
    .await;
    app.register("ada@example.com").await;
    let heavy = app
        .replica(|c| {
            c.argon2_memory_kib = 32 * 1024;
            c.argon2_iterations = 4;
        })
        .await;
    (app, heavy)
}

/// Runs `then` while two slow logins hold both places of `heavy`'s pool (one thread and a
/// queue of one, once its start-up job is done); both end as `invalid_credentials`.
async fn while_the_pool_is_full<T>(heavy: &TestApp, then: impl Future<Output = T>) -> T {
    heavy
        .login("warm-up@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let busy = join_all((0..2).map(|_| heavy.login("nobody@example.com", PASSWORD)));
    let then = async {
        let full = async {
            while !metrics(heavy)
                .await
                .contains("doorman_password_hash_in_flight 2")
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), full)
            .await
            .expect("the queue never filled");
        then.await
    };
    let (busy, result) = tokio::join!(busy, then);
    for reply in &busy {
        reply.assert_problem(401, "invalid_credentials");
    }
    result
}

/// A login shed for want of a hashing thread was never checked, so it does not count
/// towards the lock.
#[tokio::test(flavor = "multi_thread")]
async fn shed_logins_do_not_count_towards_the_lock() {
    let (app, heavy) = tiny_pool().await;

    let guesses = while_the_pool_is_full(&heavy, async {
        let mut replies = Vec::new();
        for _ in 0..6 {
            replies.push(heavy.login("ada@example.com", "not my password").await);
        }
        replies
    })
    .await;

    for reply in &guesses {
        reply.assert_problem(503, "service_unavailable");
        assert_eq!(reply.header("retry-after"), Some("1"));
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status,
        StatusCode::OK,
        "six shed guesses locked nothing"
    );
    let text = metrics(&heavy).await;
    assert!(
        text.contains(r#"doorman_logins_total{outcome="shed"} 6"#),
        "{text}"
    );
}

/// A locked account is answered 429 whether or not a hashing thread is free.
#[tokio::test(flavor = "multi_thread")]
async fn a_locked_account_gets_429_while_the_pool_is_full() {
    let (app, heavy) = tiny_pool().await;
    let guess = || app.login("ada@example.com", "not my password");
    for _ in 0..5 {
        guess().await.assert_problem(401, "invalid_credentials");
    }
    // Locked for 1 s, then 2, 4 and 8 s: long enough to outlast filling the pool on a
    // busy machine.
    for wait in [1100, 2100, 4100] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        guess().await.assert_problem(401, "invalid_credentials");
    }

    let reply = while_the_pool_is_full(&heavy, heavy.login("ada@example.com", PASSWORD)).await;

    reply.assert_problem(429, "rate_limited");
    let retry_after = retry_after(&reply);
    assert!((1..=8).contains(&retry_after), "Retry-After {retry_after}");
    let text = metrics(&heavy).await;
    assert!(
        text.contains(r#"doorman_logins_total{outcome="locked"} 1"#),
        "{text}"
    );
    assert!(!text.contains(r#"outcome="shed""#), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lockout_is_shared_by_every_instance() {
    let first = TestApp::spawn().await;
    let second = first.replica(|_| {}).await;
    first.register("ada@example.com").await;

    for _ in 0..5 {
        first
            .login("ada@example.com", "not my password")
            .await
            .assert_problem(401, "invalid_credentials");
    }

    second
        .login("ada@example.com", PASSWORD)
        .await
        .assert_problem(429, "rate_limited");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_hashing_queue_sheds_logins_with_503_and_nothing_hangs() {
    let (_app, heavy) = tiny_pool().await;

    let replies = tokio::time::timeout(
        Duration::from_secs(60),
        join_all((0..12).map(|_| heavy.login("nobody@example.com", PASSWORD))),
    )
    .await
    .expect("logins hung");

    let shed: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        !shed.is_empty(),
        "a queue of one must overflow under 12 concurrent logins"
    );
    for reply in &shed {
        reply.assert_problem(503, "service_unavailable");
        assert!(reply.header("retry-after").is_some());
    }
    for reply in replies
        .iter()
        .filter(|r| r.status != StatusCode::SERVICE_UNAVAILABLE)
    {
        reply.assert_problem(401, "invalid_credentials");
    }
    let text = metrics(&heavy).await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("doorman_password_hash_shed_total") && !l.ends_with(" 0")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_by_route_pattern_and_show_the_pools() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    app.get(
        &format!("/api/v1/users/{}", uuid::Uuid::now_v7()),
        &tokens.access,
    )
    .await;
    app.login("ada@example.com", "wrong password!").await;

    let reply = app.request(Method::GET, "/metrics", None, None).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    let text = reply.body.as_str().unwrap_or_default().to_owned();
    for expected in [
        r#"http_requests_total{method="GET",route="/api/v1/users/{id}",status="403"} 1"#,
        r#"http_requests_total{method="POST",route="/api/v1/users",status="201"} 1"#,
        r#"http_request_duration_seconds_bucket{method="POST",route="/api/v1/auth/login""#,
        r#"doorman_logins_total{outcome="succeeded"} 1"#,
        r#"doorman_logins_total{outcome="failed"} 1"#,
        "doorman_password_hash_queue_depth 0",
        "doorman_password_hash_in_flight 0",
        "doorman_db_pool_connections",
        "doorman_db_pool_idle",
        "doorman_db_pool_waiting",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    // The unknown-user hash made at start, the sign-up, the login, the failed login.
    assert_eq!(metric(&app, "doorman_password_hash_jobs_total").await, 4.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn methods_outside_the_standard_ones_share_one_series() {
    let app = TestApp::spawn().await;
    for made_up in ["FOO1", "FOO2", "FOO3"] {
        let method = Method::from_bytes(made_up.as_bytes()).expect("a valid key");
        let reply = app.request(method, "/api/v1/users", None, None).await;
        assert!(
            reply.status.is_client_error(),
            "{made_up}: {}",
            reply.status
        );
    }

    let text = metrics(&app).await;

    assert!(!text.contains("FOO"), "{text}");
    let others: f64 = text
        .lines()
        .filter(|line| line.starts_with(r#"http_requests_total{method="other","#))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(others, 3.0, "{text}");
}
