//! `POST /api/v1/auth/introspect` as RFC 7662 clients send it: a form, and the standard
//! fields in the answer.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::jwt::claims;
use crate::helpers::{Reply, TestApp};

const FORM: &str = "application/x-www-form-urlencoded";

async fn introspect_form(app: &TestApp, content_type: &str, body: String) -> Reply {
    let response = app
        .client
        .post(app.url("/api/v1/auth/introspect"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("an answer");
    Reply::from(response).await
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_encoded_introspection_of_a_live_access_token_answers_rfc_7662_fields() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let minted = claims(&tokens.access);

    let reply = introspect_form(&app, FORM, form(&[("token", &tokens.access)])).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    for field in ["iss", "aud", "sub", "exp", "iat", "jti", "sid"] {
        assert_eq!(body[field], minted[field], "{field}");
    }
    assert_eq!(body["typ"], "access");
    assert_eq!(body["role"], "user");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hint_and_client_credentials_in_the_form_do_not_stop_the_lookup() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = introspect_form(
        &app,
        "application/x-www-form-urlencoded; charset=utf-8",
        form(&[
            ("token", &tokens.access),
            ("token_type_hint", "refresh_token"),
            ("client_id", "billing"),
            ("client_secret", "whatever"),
        ]),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["active"], true);
    assert_eq!(reply.body["sub"], tokens.user_id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_active_refresh_token_has_no_bearer_token_type() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = app
        .post(
            "/api/v1/auth/introspect",
            json!({ "token": tokens.refresh, "token_type_hint": "refresh_token" }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["active"], true);
    assert_eq!(reply.body["typ"], "refresh");
    assert_eq!(reply.body.get("token_type"), None);
    assert_eq!(reply.body["iss"], claims(&tokens.refresh)["iss"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inactive_token_sent_as_a_form_is_exactly_active_false() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let logout = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&tokens.access),
            None,
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);

    for token in [tokens.access.as_str(), "not-a-token"] {
        let reply = introspect_form(&app, FORM, form(&[("token", token)])).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, json!({ "active": false }));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_a_token_or_with_two_is_422_naming_token() {
    let app = TestApp::spawn().await;

    for body in [
        form(&[("token_type_hint", "access_token")]),
        form(&[("token", "")]),
        form(&[("token", "a"), ("token", "b")]),
    ] {
        let reply = introspect_form(&app, FORM, body.clone()).await;
        reply.assert_problem(422, "validation_failed");
        let fields: Vec<String> = reply.field_errors().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["token"], "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_in_neither_json_nor_a_form_is_415() {
    let app = TestApp::spawn().await;

    let reply = introspect_form(&app, "text/plain", "token=x".into()).await;

    reply.assert_problem(415, "unsupported_media_type");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_introspection_still_refuses_unknown_fields() {
    let app = TestApp::spawn().await;

    let reply = app
        .post(
            "/api/v1/auth/introspect",
            json!({ "token": "x", "scope": "all" }),
        )
        .await;

    reply.assert_problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        [("scope".to_owned(), "unknown_field".to_owned())]
    );
}
