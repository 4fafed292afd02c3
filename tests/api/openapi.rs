//! The served OpenAPI document, read as Swagger UI reads it: operations found by id,
//! examples shown and sent as they are, and Authorize's password flow.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, PASSWORD, Reply, TestApp, Tokens, with_bootstrap_admin};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

async fn document(app: &TestApp) -> Value {
    let reply = app
        .request(Method::GET, "/api-docs/openapi.json", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(&'static str, String, &Value)> {
    let paths = doc["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("no paths in {doc}"));
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter_map(move |method| Some((*method, path.clone(), item.get(*method)?)))
        })
        .collect()
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let found = &doc["paths"][path][method];
    assert!(found.is_object(), "{method} {path} is not documented");
    found
}

/// A schema, following a `$ref` into the components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The body Swagger UI fills in for "Try it out": the media type's example, else its schema's.
fn request_example(doc: &Value, method: &str, path: &str) -> (String, Value) {
    let content = operation(doc, method, path)["requestBody"]["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} has no request body"));
    let (content_type, media) = content
        .iter()
        .next()
        .unwrap_or_else(|| panic!("{method} {path} has no request body type"));
    let example = match &media["example"] {
        Value::Null => resolve(doc, &media["schema"])["example"].clone(),
        example => example.clone(),
    };
    assert!(example.is_object(), "{method} {path} has no example body");
    (content_type.clone(), example)
}

/// Sends the documented example body of `method path`, as "Try it out" would.
async fn try_it_out(
    app: &TestApp,
    doc: &Value,
    method: &str,
    path: &str,
    actual_path: &str,
    token: Option<&str>,
) -> Reply {
    let (content_type, example) = request_example(doc, method, path);
    let method = Method::from_bytes(method.to_uppercase().as_bytes())
        .unwrap_or_else(|e| panic!("{method}: {e}"));
    if content_type == "application/json" {
        return app.request(method, actual_path, token, Some(example)).await;
    }
    assert_eq!(content_type, "application/x-www-form-urlencoded");
    let form: Vec<(String, String)> = example
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let request = app.client.request(method, app.url(actual_path)).form(&form);
    Reply::from(
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{actual_path}: {e}")),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_id_is_unique_so_try_it_out_finds_the_right_path() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let mut seen: Vec<(String, String)> = Vec::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_owned();
        let place = format!("{method} {path}");
        if let Some((_, first)) = seen.iter().find(|(seen_id, _)| *seen_id == id) {
            panic!("operationId {id} names both {first} and {place}");
        }
        seen.push((id, place));
    }
    assert_ne!(
        operation(&doc, "post", "/api/v1/users")["operationId"],
        operation(&doc, "post", "/api/v1/admin/users")["operationId"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_lists_every_endpoint_outside_the_api_and_each_answers_as_documented() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    for path in [
        "/docs",
        "/docs/",
        "/docs/{file}",
        "/api-docs/openapi.json",
        "/metrics",
        "/health/live",
        "/health/ready",
        "/.well-known/jwks.json",
    ] {
        operation(&doc, "get", path);
    }
    operation(&doc, "post", "/api/v1/auth/token");
    for (method, path, op) in operations(&doc) {
        if method != "get" || op.get("security").is_some() {
            continue;
        }
        let concrete = path.replace("{file}", "swagger-ui.css");
        if concrete.contains('{') {
            continue;
        }
        let reply = app.request(Method::GET, &concrete, None, None).await;
        let status = reply.status.as_str().to_owned();
        assert!(
            op["responses"].get(&status).is_some(),
            "GET {concrete} answered {status}, which its responses do not list"
        );
        assert!(
            reply.status.is_success() || reply.status.is_redirection(),
            "GET {concrete}: {status}"
        );
    }
    let missing = app
        .request(Method::GET, "/docs/no-such-file.js", None, None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        operation(&doc, "get", "/docs/{file}")["responses"]
            .get("404")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_response_shows_examples_of_its_own_status_and_of_the_codes_it_names() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let mut shown = 0;
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().into_iter().flatten();
        for (status, response) in responses {
            let Some(media) = response["content"].get("application/problem+json") else {
                continue;
            };
            let examples = media["examples"]
                .as_object()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| panic!("{method} {path} {status} has no example"));
            let description = response["description"].as_str().unwrap_or_default();
            for (name, example) in examples {
                let value = &example["value"];
                assert_eq!(
                    value["status"].to_string(),
                    *status,
                    "{method} {path} {name}"
                );
                assert_eq!(value["code"], name.as_str(), "{method} {path} {status}");
                assert_eq!(
                    value["type"],
                    format!("https://doorman.dev/problems/{name}"),
                    "{method} {path}"
                );
                let named = description.contains(&format!("`{name}`"));
                let token_problem = status == "401" && description.contains("token problem");
                assert!(
                    named || token_problem,
                    "{method} {path} {status}: {name} in {description:?}"
                );
                shown += 1;
            }
        }
    }
    let login_401 = &operation(&doc, "post", "/api/v1/auth/login")["responses"]["401"];
    let register_409 = &operation(&doc, "post", "/api/v1/users")["responses"]["409"];
    assert_eq!(
        login_401["content"]["application/problem+json"]["examples"]
            .as_object()
            .map(|e| e.keys().cloned().collect::<Vec<_>>()),
        Some(vec![
            "invalid_credentials".to_owned(),
            "mfa_required".to_owned()
        ])
    );
    let mfa_required =
        &login_401["content"]["application/problem+json"]["examples"]["mfa_required"]["value"];
    assert!(mfa_required["mfa_token"].is_string() && mfa_required["methods"].is_array());
    assert_eq!(
        register_409["content"]["application/problem+json"]["examples"]
            .as_object()
            .map(|e| e.len()),
        Some(3),
        "email_taken, username_taken and phone_taken"
    );
    assert!(shown > 50, "only {shown} examples");
}

/// The example of `code` in the `status` response of `method path`.
fn error_example<'a>(
    doc: &'a Value,
    method: &str,
    path: &str,
    status: &str,
    code: &str,
) -> &'a Value {
    let example = &operation(doc, method, path)["responses"][status]["content"]["application/problem+json"]
        ["examples"][code]["value"];
    assert!(
        example.is_object(),
        "{method} {path} {status} shows no {code}"
    );
    example
}

#[tokio::test(flavor = "multi_thread")]
async fn the_error_examples_are_what_the_service_answers() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    app.register("ada@example.com").await;

    let wrong_password = app.login("ada@example.com", "not my password").await;
    let no_token = app
        .request(Method::GET, "/api/v1/users/me", None, None)
        .await;
    let wrong_grant = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", "not my password"),
        ])
        .send()
        .await
        .expect("the request reaches the server");
    let wrong_grant = Reply::from(wrong_grant).await;
    let taken = app
        .post(
            "/api/v1/users",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;

    assert_eq!(
        wrong_password.body,
        *error_example(
            &doc,
            "post",
            "/api/v1/auth/login",
            "401",
            "invalid_credentials"
        )
    );
    assert_eq!(
        no_token.body,
        *error_example(&doc, "get", "/api/v1/users/me", "401", "unauthenticated")
    );
    assert_eq!(
        wrong_grant.body,
        *error_example(&doc, "post", "/api/v1/auth/token", "400", "invalid_grant")
    );
    assert_eq!(
        taken.body,
        *error_example(&doc, "post", "/api/v1/users", "409", "email_taken")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_user_example_is_a_plain_user_who_is_not_an_admin() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let created = &operation(&doc, "post", "/api/v1/users")["responses"]["201"]["content"]["application/json"]
        ["schema"];
    let example = &resolve(&doc, created)["example"];

    assert_eq!(example["role"], "user");
    assert_eq!(example["is_admin"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_summary_holds_markdown_or_a_line_break() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    for (method, path, op) in operations(&doc) {
        let summary = op["summary"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no summary"));
        assert!(
            !summary.contains(['`', '*', '\n', '[', '#']),
            "{method} {path}: {summary:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_examples_succeed_when_sent_as_they_are() {
    let app = TestApp::spawn_with(with_bootstrap_admin).await;
    let doc = document(&app).await;

    let registered = try_it_out(&app, &doc, "post", "/api/v1/users", "/api/v1/users", None).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    let logged_in = try_it_out(
        &app,
        &doc,
        "post",
        "/api/v1/auth/login",
        "/api/v1/auth/login",
        None,
    )
    .await;
    assert_eq!(logged_in.status, StatusCode::OK, "{}", logged_in.body);
    let granted = try_it_out(
        &app,
        &doc,
        "post",
        "/api/v1/auth/token",
        "/api/v1/auth/token",
        None,
    )
    .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    let token = Tokens::from(&granted.body).access;
    let token = Some(token.as_str());

    let updated = try_it_out(
        &app,
        &doc,
        "patch",
        "/api/v1/users/me",
        "/api/v1/users/me",
        token,
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let task = try_it_out(&app, &doc, "post", "/api/v1/tasks", "/api/v1/tasks", token).await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.body);
    let task_path = format!(
        "/api/v1/tasks/{}",
        task.body["id"].as_str().unwrap_or_default()
    );
    let done = try_it_out(&app, &doc, "patch", "/api/v1/tasks/{id}", &task_path, token).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let forgot = try_it_out(
        &app,
        &doc,
        "post",
        "/api/v1/auth/password/forgot",
        "/api/v1/auth/password/forgot",
        None,
    )
    .await;
    assert_eq!(forgot.status, StatusCode::ACCEPTED, "{}", forgot.body);
    let changed = try_it_out(
        &app,
        &doc,
        "put",
        "/api/v1/users/me/password",
        "/api/v1/users/me/password",
        token,
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);

    let admin = app.logged_in(ADMIN_EMAIL).await;
    let admin = Some(admin.access.as_str());
    let created = try_it_out(
        &app,
        &doc,
        "post",
        "/api/v1/admin/users",
        "/api/v1/admin/users",
        admin,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let staff_path = format!(
        "/api/v1/admin/users/{}",
        created.body["id"].as_str().unwrap_or_default()
    );
    let patched = try_it_out(
        &app,
        &doc,
        "patch",
        "/api/v1/admin/users/{id}",
        &staff_path,
        admin,
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let role = try_it_out(
        &app,
        &doc,
        "put",
        "/api/v1/admin/users/{id}/role",
        &format!("{staff_path}/role"),
        admin,
    )
    .await;
    assert_eq!(role.status, StatusCode::OK, "{}", role.body);

    let other = app.signed_in("bob@example.com").await;
    let deleted = try_it_out(
        &app,
        &doc,
        "delete",
        "/api/v1/users/me",
        "/api/v1/users/me",
        Some(&other.access),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_offers_a_password_flow_whose_token_works_on_every_bearer_operation() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    app.register("ada@example.com").await;

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["oauth2"]["type"], "oauth2");
    let token_url = schemes["oauth2"]["flows"]["password"]["tokenUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("no password flow in {schemes}"));
    for (method, path, op) in operations(&doc) {
        let Some(security) = op.get("security") else {
            continue;
        };
        assert_eq!(
            *security,
            json!([{ "bearer": [] }, { "oauth2": [] }]),
            "{method} {path}"
        );
    }

    // What Swagger UI's Authorize sends by default, then how it uses the answer.
    let reply = app
        .client
        .post(app.url(token_url))
        .header("authorization", "Basic Og==")
        .header("x-requested-with", "XMLHttpRequest")
        .header("accept", "application/json, text/plain, */*")
        .form(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{token_url}: {e}"));
    let reply = Reply::from(reply).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.get("error").is_none());
    let authorization = format!(
        "{} {}",
        reply.body["token_type"].as_str().unwrap_or_default(),
        reply.body["access_token"].as_str().unwrap_or_default()
    );
    let me = app
        .client
        .get(app.url("/api/v1/users/me"))
        .header("authorization", authorization)
        .send()
        .await
        .expect("the request reaches the server");
    let me = Reply::from(me).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["email"], "ada@example.com");
}

/// CI validates what `doorman openapi` prints; Swagger UI reads what is served.
#[tokio::test(flavor = "multi_thread")]
async fn the_served_document_is_the_one_doorman_openapi_prints() {
    let app = TestApp::spawn().await;

    let served = document(&app).await;
    let printed = serde_json::to_value(doorman::openapi::document())
        .expect("the document does not serialise");

    assert_eq!(served, printed);
}
