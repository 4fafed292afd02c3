//! `GET /api/v1/auth/revocations`: the feed that lets offline verifiers refuse a revoked
//! session's tokens before they expire.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, Tokens};

async fn feed(app: &TestApp, after: Option<&str>) -> Reply {
    let path = match after {
        Some(cursor) => format!("/api/v1/auth/revocations?after={cursor}"),
        None => "/api/v1/auth/revocations".to_owned(),
    };
    let reply = app.request(Method::GET, &path, None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
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
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
}

fn sids(reply: &Reply) -> Vec<String> {
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["sid"].as_str().expect("a sid").to_owned())
        .collect()
}

fn next(reply: &Reply) -> String {
    reply.body["next"]
        .as_str()
        .expect("next is a string")
        .to_owned()
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a timestamp: {value}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_appears_in_the_public_feed_with_its_session_and_user() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let untouched = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(untouched.status, StatusCode::OK);

    logout(&app, &tokens).await;
    let reply = feed(&app, None).await;

    let items = reply.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", reply.body);
    let item = &items[0];
    assert_eq!(item["sid"], tokens.session_id.as_str());
    assert_eq!(item["sub"], tokens.user_id.as_str());
    // The last access token was minted before the revocation and lives 15 minutes; a
    // verifier may allow 30 s of leeway on top.
    assert_eq!(
        time(&item["expires_at"]) - time(&item["revoked_at"]),
        chrono::Duration::seconds(15 * 60 + 30)
    );
    assert!(!next(&reply).is_empty());
}

/// The sessions of `later` that `earlier` did not list: what a poller that keeps a set of
/// `sid`s learns from `later` (the feed repeats revocations that are still settling).
fn new_sids(later: &Reply, earlier: &Reply) -> Vec<String> {
    let seen = sids(earlier);
    sids(later)
        .into_iter()
        .filter(|sid| !seen.contains(sid))
        .collect()
}

/// A short database deadline, so revocations settle (the cursor may pass them) within
/// a few seconds.
fn settling_quickly(config: &mut doorman::config::Config) {
    config.db_timeout = Duration::from_secs(2);
}

/// The first page, once its cursor has passed every revocation made so far (they are
/// older than the database deadline plus the clock allowance), and the empty page after it.
async fn settled_feed(app: &TestApp) -> (Reply, Reply) {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let page = feed(app, None).await;
        let rest = feed(app, Some(&next(&page))).await;
        if sids(&rest).is_empty() {
            return (page, rest);
        }
        assert!(
            Instant::now() < until,
            "the feed's cursor never passed {:?}",
            sids(&rest)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_cursor_returns_only_later_revocations_once_settled() {
    let app = TestApp::spawn_with(settling_quickly).await;
    let first = app.signed_in("ada@example.com").await;
    let second = app.signed_in("grace@example.com").await;
    logout(&app, &first).await;
    let (page, nothing_new) = settled_feed(&app).await;
    assert_eq!(sids(&page), [first.session_id.as_str()]);
    assert_eq!(
        next(&nothing_new),
        next(&page),
        "an empty page keeps the cursor"
    );

    logout(&app, &second).await;
    let later = feed(&app, Some(&next(&page))).await;
    assert_eq!(sids(&later), [second.session_id.as_str()]);

    let everything = feed(&app, None).await;
    assert_eq!(sids(&everything), [first.session_id, second.session_id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_still_settling_is_sent_again_after_the_cursor() {
    // Settling takes the database deadline (30 s here) plus a second: far longer than
    // this test needs to make its two polls.
    let app = TestApp::spawn_with(|config| config.db_timeout = Duration::from_secs(30)).await;
    let first = app.signed_in("ada@example.com").await;
    let second = app.signed_in("grace@example.com").await;
    logout(&app, &first).await;
    let page = feed(&app, None).await;
    assert_eq!(sids(&page), [first.session_id.as_str()]);

    logout(&app, &second).await;
    let later = feed(&app, Some(&next(&page))).await;
    assert_eq!(sids(&later), [first.session_id, second.session_id]);
}

/// The commit-order race: a revocation stamped first but committed after a later one
/// must still reach a poller that already read the later one. PostgreSQL lets the test
/// hold the first logout inside its transaction (a row lock); SQLite serialises writers
/// within the process, so the interleaving cannot be forced there.
#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_committed_after_a_later_one_is_not_skipped_by_a_poller() {
    let app = TestApp::spawn().await;
    let url = app.config.database_url.clone();
    if !url.starts_with("postgres") {
        eprintln!("runs on PostgreSQL only (TEST_DATABASE_URL): SQLite cannot interleave writers");
        return;
    }
    let slow = app.signed_in("ada@example.com").await;
    let fast = app.signed_in("grace@example.com").await;
    let (holder, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("the test database");
    tokio::spawn(connection);
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM sessions WHERE id = '{}' FOR UPDATE",
            slow.session_id
        ))
        .await
        .expect("the session row locked");

    let slow_logout = {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/api/v1/auth/logout"),
            slow.access.clone(),
        );
        tokio::spawn(async move { client.post(url).bearer_auth(token).send().await })
    };
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting = holder
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get::<_, i64>(0);
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "the first logout never reached its lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    logout(&app, &fast).await;
    let page = feed(&app, None).await;
    assert_eq!(
        sids(&page),
        [fast.session_id.as_str()],
        "the first is not committed yet"
    );

    holder
        .batch_execute("COMMIT")
        .await
        .expect("the lock released");
    let answered = slow_logout
        .await
        .expect("the logout task")
        .expect("an answer");
    assert_eq!(answered.status(), StatusCode::NO_CONTENT);
    let later = feed(&app, Some(&next(&page))).await;
    assert!(
        sids(&later).contains(&slow.session_id),
        "the poller following `next` missed a revocation: {:?}",
        sids(&later)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_ended_by_a_password_change_and_by_staff_are_in_the_feed() {
    let app = TestApp::spawn_with(|config| {
        config.bootstrap_admin_email = Some("root@example.com".into());
        config.bootstrap_admin_password = Some(PASSWORD.to_owned().into());
    })
    .await;
    let kept = app.signed_in("ada@example.com").await;
    let other = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);
    let changed = app
        .request(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&kept.access),
            Some(json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" })),
        )
        .await;
    assert!(changed.status.is_success(), "{}", changed.body);
    let page = feed(&app, None).await;
    assert_eq!(sids(&page), [other.session_id.as_str()]);

    let admin = Tokens::from(&app.login("root@example.com", PASSWORD).await.body);
    let revoked = app
        .request(
            Method::DELETE,
            &format!("/api/v1/admin/users/{}/sessions", kept.user_id),
            Some(&admin.access),
            None,
        )
        .await;
    assert!(revoked.status.is_success(), "{}", revoked.body);
    let later = feed(&app, Some(&next(&page))).await;
    assert_eq!(new_sids(&later, &page), [kept.session_id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_feed_answers_304_to_its_etag() {
    let app = TestApp::spawn().await;
    let first = app.signed_in("ada@example.com").await;
    let second = app.signed_in("grace@example.com").await;
    let empty = feed(&app, None).await;
    let empty_etag = empty.header("etag").expect("an ETag").to_owned();
    logout(&app, &first).await;

    let page = feed(&app, None).await;
    let etag = page.header("etag").expect("an ETag").to_owned();
    assert_ne!(etag, empty_etag);
    let again = app
        .request_with_headers(
            Method::GET,
            "/api/v1/auth/revocations",
            None,
            &[("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    logout(&app, &second).await;
    let changed = app
        .request_with_headers(
            Method::GET,
            "/api/v1/auth/revocations",
            None,
            &[("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    assert_eq!(sids(&changed).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_asks_to_be_polled_every_revocation_poll_interval() {
    let default = TestApp::spawn().await;
    let reply = feed(&default, None).await;
    assert_eq!(reply.header("cache-control"), Some("public, max-age=5"));

    let configured = TestApp::spawn_with(|config| {
        config.revocation_poll = std::time::Duration::from_secs(17);
    })
    .await;
    let reply = feed(&configured, None).await;
    assert_eq!(reply.header("cache-control"), Some("public, max-age=17"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cursor_the_feed_did_not_give_is_422_on_after() {
    let app = TestApp::spawn().await;

    for cursor in ["nonsense", "MTIzLm5vdC1hLXV1aWQ", "%FF"] {
        let reply = app
            .request(
                Method::GET,
                &format!("/api/v1/auth/revocations?after={cursor}"),
                None,
                None,
            )
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.field_errors()[0].0, "after", "{cursor}");
    }
}

/// The retention job's runs on this instance (`doorman_retention_runs_total{outcome="ran"}`).
async fn retention_runs(app: &TestApp) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix("doorman_retention_runs_total{outcome=\"ran\"} "))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_keeps_a_revoked_session_while_the_feed_lists_it() {
    let app = TestApp::spawn_with(|config| {
        config.retention_interval = std::time::Duration::from_secs(1);
        config.session_retention = std::time::Duration::from_secs(1);
    })
    .await;
    let tokens = app.signed_in("ada@example.com").await;
    logout(&app, &tokens).await;

    let after_logout = retention_runs(&app).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while retention_runs(&app).await < after_logout + 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    assert_eq!(sids(&feed(&app, None).await), [tokens.session_id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_accounts_sessions_stay_in_the_feed() {
    let app = TestApp::spawn().await;
    let ended = app.signed_in("ada@example.com").await;
    let live = Tokens::from(&app.login("ada@example.com", PASSWORD).await.body);
    logout(&app, &ended).await;
    let before = feed(&app, None).await;
    assert_eq!(sids(&before), [ended.session_id.as_str()]);

    let deleted = app
        .request(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&live.access),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.body);

    let after = feed(&app, None).await;
    assert_eq!(
        sids(&after),
        [ended.session_id.as_str(), live.session_id.as_str()]
    );
    assert_eq!(after.body["items"][0], before.body["items"][0]);
    assert_eq!(after.body["items"][1]["sub"], live.user_id.as_str());
    let later = feed(&app, Some(&next(&before))).await;
    assert_eq!(new_sids(&later, &before), [live.session_id.as_str()]);
}
