use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carries_a_request_id_and_echoes_the_callers() {
    let app = TestApp::spawn().await;

    let generated = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("the request reaches the server");
    let echoed = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("the request reaches the server");

    assert!(generated.headers().get("x-request-id").is_some());
    assert_eq!(
        echoed
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-me-42")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_are_404_and_wrong_methods_405_as_problem_json() {
    let app = TestApp::spawn().await;

    let missing = app
        .request(Method::GET, "/api/v1/nothing-here", None, None)
        .await;
    let wrong_method = app
        .request(Method::DELETE, "/api/v1/auth/login", None, None)
        .await;

    missing.assert_problem(404, "not_found");
    wrong_method.assert_problem(405, "method_not_allowed");
    assert_eq!(wrong_method.header("allow"), Some("POST"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_that_are_not_json_objects_are_400_malformed_request() {
    let app = TestApp::spawn().await;
    for raw in ["{not json", "[1, 2]", "\"a string\"", "", "null"] {
        let reply = crate::helpers::Reply::from(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .expect("the request reaches the server"),
        )
        .await;
        reply.assert_problem(400, "malformed_request");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_content_type_is_415_and_a_huge_body_413() {
    let app = TestApp::spawn().await;

    let form = app
        .client
        .post(app.url("/api/v1/users"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a@example.com")
        .send()
        .await
        .expect("the request reaches the server");
    let huge = app
        .post(
            "/api/v1/users",
            json!({ "email": "a@example.com", "password": "x".repeat(70 * 1024) }),
        )
        .await;

    crate::helpers::Reply::from(form)
        .await
        .assert_problem(415, "unsupported_media_type");
    huge.assert_problem(413, "payload_too_large");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_endpoints_answer_and_readiness_checks_the_database() {
    let app = TestApp::spawn().await;

    let live = app.request(Method::GET, "/health/live", None, None).await;
    let ready = app.request(Method::GET, "/health/ready", None, None).await;

    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(ready.status, StatusCode::OK);

    app.remove_database();
    let live = app.request(Method::GET, "/health/live", None, None).await;
    let ready = app.request(Method::GET, "/health/ready", None, None).await;

    assert_eq!(live.status, StatusCode::OK);
    ready.assert_problem(503, "service_unavailable");
    assert_eq!(ready.header("retry-after"), Some("5"));

    // A new file in a SQLite database's place (as a new connection would create) is not it.
    if let Some(path) = app.config.database_url.strip_prefix("sqlite://") {
        std::fs::write(path, b"").expect("the write succeeds");
        let ready = app.request(Method::GET, "/health/ready", None, None).await;
        ready.assert_problem(503, "service_unavailable");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_and_the_openapi_document_describe_every_endpoint() {
    let app = TestApp::spawn().await;

    let redirect = app
        .client
        .get(app.url("/docs"))
        .send()
        .await
        .expect("the request reaches the server");
    let ui = app
        .client
        .get(app.url("/docs/"))
        .send()
        .await
        .expect("the request reaches the server");
    let doc = app
        .request(Method::GET, "/api-docs/openapi.json", None, None)
        .await;

    assert!(redirect.status().is_redirection());
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(
        doc.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    let paths = doc.body["paths"]
        .as_object()
        .map(|p| p.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    for path in [
        "/api/v1/users",
        "/api/v1/users/me",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/introspect",
        "/.well-known/jwks.json",
        "/health/live",
        "/health/ready",
    ] {
        assert!(paths.iter().any(|p| p == path), "{path} is not documented");
    }
    assert_eq!(
        doc.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc.body["paths"]["/api/v1/users/me"]["get"]["security"].is_array());
    assert!(doc.body["paths"]["/api/v1/users"]["post"]["responses"]["409"].is_object());
    for (path, item) in doc.body["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                assert!(
                    response["description"].is_string(),
                    "{method} {path} {status} has no description (OpenAPI 3.1 requires one)"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_query_parameter_is_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let not_a_number = app.get("/api/v1/tasks?limit=many", &tokens.access).await;
    let not_a_bool = app.get("/api/v1/tasks?done=maybe", &tokens.access).await;
    let out_of_range = app
        .get("/api/v1/tasks?limit=201&offset=-1", &tokens.access)
        .await;

    not_a_number.assert_problem(422, "validation_failed");
    assert_eq!(
        not_a_number.field_errors(),
        vec![("limit".to_owned(), "invalid_query".to_owned())]
    );
    assert_eq!(
        not_a_bool.field_errors(),
        vec![("done".to_owned(), "invalid_query".to_owned())]
    );
    let fields: Vec<String> = out_of_range
        .field_errors()
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(fields, ["limit", "offset"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_cors_origins_are_allowed_and_others_are_not() {
    let app =
        TestApp::spawn_with(|c| c.cors_origins = vec!["https://app.example.com".into()]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };

    let allowed = preflight("https://app.example.com")
        .await
        .expect("the preflight reaches the server");
    let refused = preflight("https://evil.example.com")
        .await
        .expect("the preflight reaches the server");

    assert!(allowed.status().is_success());
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
