//! Races and disconnects must leave the database consistent and unlocked.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::helpers::{PASSWORD, TestApp, Tokens};

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_refreshes_of_one_token_converge_without_errors() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let replies = join_all((0..20).map(|_| app.refresh(&tokens.refresh))).await;

    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let current = Tokens::from(&replies[0].body);
    assert_eq!(
        app.api().get_me(&current.access).await.status,
        StatusCode::OK
    );
    let refreshed = replies
        .iter()
        .map(|r| Tokens::from(&r.body))
        .next_back()
        .unwrap_or(current);
    assert_eq!(
        app.refresh(&refreshed.refresh).await.status,
        StatusCode::OK,
        "the session is still usable"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_concurrent_registrations_of_one_email_create_exactly_one_user() {
    let app = TestApp::spawn().await;

    let replies = join_all((0..30).map(|_| {
        app.post(
            "/api/v1/users",
            json!({ "email": "race@example.com", "password": PASSWORD }),
        )
    }))
    .await;

    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    for reply in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        reply.assert_problem(409, "email_taken");
    }
    let users = app.query_text("SELECT email AS value FROM users").await;
    let credentials = app
        .query_text("SELECT CAST(user_id AS TEXT) AS value FROM credentials")
        .await;
    assert_eq!(
        (users.len(), credentials.len()),
        (1, 1),
        "nothing half-written is left"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_that_disconnect_mid_request_do_not_leave_the_database_locked() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let address = app.address.trim_start_matches("http://").to_owned();

    for i in 0..16 {
        let body =
            json!({ "email": format!("gone{i}@example.com"), "password": PASSWORD }).to_string();
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("the connection opens");
        let request = format!(
            "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("the write succeeds");
        tokio::time::sleep(Duration::from_millis(i % 4)).await;
        drop(stream);
    }

    let app = &app;
    let follow_ups = join_all((0..8).map(|i| async move {
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            app.post(
                "/api/v1/users",
                json!({ "email": format!("after{i}@example.com"), "password": PASSWORD }),
            ),
        )
        .await;
        reply.map(|r| r.status)
    }))
    .await;
    for status in follow_ups {
        assert_eq!(status.ok(), Some(StatusCode::CREATED));
    }
    assert_eq!(app.refresh(&tokens.refresh).await.status, StatusCode::OK);
}

/// Session lookups that reach a worker together share one trip to the database; each
/// request must still get its own session's answer, and a revoked one no answer at all.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_authenticated_reads_each_get_their_own_session() {
    let app = TestApp::spawn().await;
    let mut people = Vec::new();
    for n in 0..4 {
        let email = format!("person{n}@example.com");
        let tokens = app.signed_in(&email).await;
        people.push((email, tokens));
    }
    let (_, gone) = &people[3];
    let logout = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&gone.access),
            None,
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);

    let people = &people;
    let reads = join_all((0..64).map(|n| {
        let (email, tokens) = &people[n % people.len()];
        let app = &app;
        async move {
            let me = app.api().get_me(&tokens.access).await;
            let introspected = app
                .post("/api/v1/auth/introspect", json!({ "token": tokens.access }))
                .await;
            (n % people.len(), email, me, introspected)
        }
    }))
    .await;

    for (person, email, me, introspected) in reads {
        if person == 3 {
            me.assert_problem(401, "session_revoked");
            assert_eq!(introspected.body, json!({ "active": false }));
        } else {
            assert_eq!(me.status, StatusCode::OK, "{}", me.body);
            assert_eq!(me.body["email"], email.as_str());
            assert_eq!(introspected.body["active"], true);
            assert_eq!(introspected.body["sub"], people[person].1.user_id.as_str());
        }
    }
}
