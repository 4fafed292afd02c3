use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn registering_returns_201_the_user_and_its_location() {
    let app = TestApp::spawn().await;

    let reply = app
        .post(
            "/api/v1/users",
            json!({
                "email": "  Ada@Example.COM ", "password": PASSWORD, "confirm_password": PASSWORD,
                "username": "ada.l", "first_name": " Ada ", "last_name": "Lovelace",
                "phone_number": "+4915112345678", "date_of_birth": "1815-12-10"
            }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let user = &reply.body;
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/users/{}", user["id"].as_str().unwrap_or("")).as_str())
    );
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["username"], "ada.l");
    assert_eq!(user["first_name"], "Ada");
    assert_eq!(user["phone_number"], "+4915112345678");
    assert_eq!(user["date_of_birth"], "1815-12-10");
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_admin"], false);
    assert_eq!(user["is_active"], true);
    assert!(user["last_login_at"].is_null());
    assert!(user.get("password").is_none() && !user.to_string().contains("argon2"));
    let id = uuid::Uuid::parse_str(user["id"].as_str().unwrap_or("")).expect("a UUID");
    assert_eq!(id.get_version_num(), 7, "ids are time-ordered v7 UUIDs");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_in_the_registration_body_is_refused_as_an_unknown_field() {
    let app = TestApp::spawn().await;

    let reply = app
        .post(
            "/api/v1/users",
            json!({ "email": "eve@example.com", "password": PASSWORD, "role": "admin" }),
        )
        .await;

    reply.assert_problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        vec![("role".to_owned(), "unknown_field".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn emails_usernames_and_phones_are_unique_with_their_own_409_codes() {
    let app = TestApp::spawn().await;
    let first = json!({ "email": "ada@example.com", "password": PASSWORD, "username": "Ada", "phone_number": "+15550001111" });
    assert_eq!(
        app.post("/api/v1/users", first).await.status,
        StatusCode::CREATED
    );

    let same_email = app
        .post(
            "/api/v1/users",
            json!({ "email": "ADA@example.com", "password": PASSWORD }),
        )
        .await;
    let same_username = app
        .post(
            "/api/v1/users",
            json!({ "email": "b@example.com", "password": PASSWORD, "username": "aDa" }),
        )
        .await;
    let same_phone =
        app.post("/api/v1/users", json!({ "email": "c@example.com", "password": PASSWORD, "phone_number": "+15550001111" })).await;

    same_email.assert_problem(409, "email_taken");
    same_username.assert_problem(409, "username_taken");
    same_phone.assert_problem(409, "phone_taken");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_password_rule_is_a_422_weak_password_naming_the_rule() {
    let app = TestApp::spawn().await;
    let cases = [
        ("short1!", "too_short"),
        (&"x".repeat(129) as &str, "too_long"),
        ("            ", "only_whitespace"),
        ("ann@example.com", "same_as_email"),
        ("annabelle", "same_as_username"),
        ("password123", "too_common"),
    ];
    for (password, rule) in cases {
        let reply = app
            .post("/api/v1/users", json!({ "email": "ann@example.com", "username": "annabelle", "password": password }))
            .await;
        reply.assert_problem(422, "weak_password");
        assert_eq!(
            reply.field_errors(),
            vec![("password".to_owned(), rule.to_owned())],
            "{password}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn field_rules_are_422_validation_failed_naming_every_bad_field() {
    let app = TestApp::spawn().await;

    let reply = app
        .post(
            "/api/v1/users",
            json!({
                "email": "not-an-email", "password": PASSWORD, "confirm_password": "something else",
                "username": "a!", "first_name": "   ", "last_name": "x".repeat(101),
                "phone_number": "0151 1234", "date_of_birth": "2999-01-01"
            }),
        )
        .await;

    reply.assert_problem(422, "validation_failed");
    let mut fields: Vec<String> = reply
        .field_errors()
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "confirm_password",
            "date_of_birth",
            "email",
            "first_name",
            "last_name",
            "phone_number",
            "username"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn impossible_dates_and_control_characters_are_422_not_500() {
    let app = TestApp::spawn().await;
    for body in [
        json!({ "email": "a@example.com", "password": PASSWORD, "date_of_birth": "2001-02-30" }),
        json!({ "email": "a@example.com", "password": PASSWORD, "first_name": "Ann\u{0}" }),
        json!({ "email": "a@exam\u{7}ple.com", "password": PASSWORD }),
        json!({ "email": "a@example.com", "password": "correct horse\u{0}battery" }),
        json!({ "email": 42, "password": PASSWORD }),
        json!({ "password": PASSWORD }),
    ] {
        let reply = app.post("/api/v1/users", body.clone()).await;
        reply.assert_problem(422, "validation_failed");
        assert!(!reply.field_errors().is_empty(), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_can_be_closed_by_configuration() {
    let app = TestApp::spawn_with(|c| c.registration = doorman::config::Registration::Closed).await;

    let reply = app
        .post(
            "/api/v1/users",
            json!({ "email": "a@example.com", "password": PASSWORD }),
        )
        .await;

    reply.assert_problem(403, "forbidden");
}
