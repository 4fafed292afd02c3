use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, timestamp};

async fn create(app: &TestApp, token: &str, body: Value) -> Reply {
    app.request(Method::POST, "/api/v1/tasks", Some(token), Some(body))
        .await
}

/// Creates a task; asserts it worked and returns it.
async fn task(app: &TestApp, token: &str, body: Value) -> Value {
    let reply = create(app, token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> Reply {
    app.request(
        Method::PATCH,
        &format!("/api/v1/tasks/{id}"),
        Some(token),
        Some(body),
    )
    .await
}

async fn delete(app: &TestApp, token: &str, id: &str) -> Reply {
    app.request(
        Method::DELETE,
        &format!("/api/v1/tasks/{id}"),
        Some(token),
        None,
    )
    .await
}

fn id(task: &Value) -> String {
    task["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {task}"))
        .to_owned()
}

fn titles(page: &Reply) -> Vec<String> {
    page.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", page.body))
        .iter()
        .map(|t| t["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_task_returns_201_the_task_and_its_location() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let reply = create(&app, &tokens.access, json!({ "title": "Write the tests" })).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let created = &reply.body;
    let mut keys: Vec<&str> = created
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "created_at",
            "description",
            "done",
            "id",
            "title",
            "updated_at"
        ]
    );
    assert_eq!(created["title"], "Write the tests");
    assert!(created["description"].is_null());
    assert_eq!(created["done"], false);
    timestamp(&created["created_at"]);
    timestamp(&created["updated_at"]);
    uuid::Uuid::parse_str(&id(created)).expect("a UUID");
    let location = format!("/api/v1/tasks/{}", id(created));
    assert_eq!(reply.header("location"), Some(location.as_str()));
    let fetched = app.get(&location, &tokens.access).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(&fetched.body, created);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_may_be_created_done_and_with_a_description() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let created = task(
        &app,
        &tokens.access,
        json!({ "title": "Ship", "description": "Tag and release", "done": true }),
    )
    .await;

    assert_eq!(created["description"], "Tag and release");
    assert_eq!(created["done"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn titles_of_1_and_200_characters_and_a_10000_character_description_are_accepted() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    for body in [
        json!({ "title": "x" }),
        json!({ "title": "x".repeat(200) }),
        json!({ "title": "long", "description": "d".repeat(10_000) }),
    ] {
        let reply = create(&app, &tokens.access, body).await;

        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_task_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    for (body, field) in [
        (json!({ "title": "" }), "title"),
        (json!({ "title": "x".repeat(201) }), "title"),
        (json!({ "title": "nul\u{0}" }), "title"),
        (
            json!({ "title": "ok", "description": "d".repeat(10_001) }),
            "description",
        ),
        (json!({ "title": "ok", "done": "yes" }), "done"),
        (json!({}), "title"),
    ] {
        let reply = create(&app, &tokens.access, body.clone()).await;

        reply.assert_problem(422, "validation_failed");
        let fields: Vec<String> = reply.field_errors().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec![field.to_owned()], "{}", reply.body);
    }
    let page = app.get("/api/v1/tasks", &tokens.access).await;
    assert_eq!(page.body["total"], 0, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_task_field_is_422_naming_it() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let existing = task(&app, &tokens.access, json!({ "title": "mine" })).await;

    let on_create = create(
        &app,
        &tokens.access,
        json!({ "title": "x", "user_id": existing["id"] }),
    )
    .await;
    let on_patch = patch(
        &app,
        &tokens.access,
        &id(&existing),
        json!({ "priority": 1 }),
    )
    .await;

    for (reply, field) in [(on_create, "user_id"), (on_patch, "priority")] {
        reply.assert_problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            vec![(field.to_owned(), "unknown_field".to_owned())]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_is_newest_first_with_total_and_the_default_limit() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    for title in ["first", "second", "third"] {
        task(&app, &tokens.access, json!({ "title": title })).await;
    }

    let page = app.get("/api/v1/tasks", &tokens.access).await;

    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(titles(&page), vec!["third", "second", "first"]);
    assert_eq!(page.body["total"], 3);
    assert_eq!(page.body["limit"], 50);
    assert_eq!(page.body["offset"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_pages_with_limit_and_offset_and_keeps_the_total() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    for n in 1..=5 {
        task(
            &app,
            &tokens.access,
            json!({ "title": format!("task {n}") }),
        )
        .await;
    }

    let first = app.get("/api/v1/tasks?limit=2", &tokens.access).await;
    let second = app
        .get("/api/v1/tasks?limit=2&offset=2", &tokens.access)
        .await;
    let last = app
        .get("/api/v1/tasks?limit=2&offset=4", &tokens.access)
        .await;
    let beyond = app.get("/api/v1/tasks?offset=10", &tokens.access).await;

    assert_eq!(titles(&first), vec!["task 5", "task 4"]);
    assert_eq!(titles(&second), vec!["task 3", "task 2"]);
    assert_eq!(titles(&last), vec!["task 1"]);
    assert_eq!(titles(&beyond), Vec::<String>::new());
    for page in [&first, &second, &last, &beyond] {
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.body["total"], 5);
    }
    assert_eq!(second.body["limit"], 2);
    assert_eq!(second.body["offset"], 2);
    assert_eq!(beyond.body["offset"], 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn limit_and_offset_out_of_range_are_422_validation_failed() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    for (query, field) in [
        ("limit=201", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("offset=-1", "offset"),
    ] {
        let reply = app
            .get(&format!("/api/v1/tasks?{query}"), &tokens.access)
            .await;

        reply.assert_problem(422, "validation_failed");
        assert!(
            reply.field_errors().iter().any(|(f, _)| f == field),
            "{query}: {}",
            reply.body
        );
    }
    app.get("/api/v1/tasks?limit=many", &tokens.access)
        .await
        .assert_problem(422, "validation_failed");
    let max = app.get("/api/v1/tasks?limit=200", &tokens.access).await;
    assert_eq!(max.status, StatusCode::OK);
    assert_eq!(max.body["limit"], 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_done_filter_lists_done_or_open_tasks_with_their_own_total() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    task(&app, &tokens.access, json!({ "title": "open 1" })).await;
    task(
        &app,
        &tokens.access,
        json!({ "title": "done", "done": true }),
    )
    .await;
    task(&app, &tokens.access, json!({ "title": "open 2" })).await;

    let done = app.get("/api/v1/tasks?done=true", &tokens.access).await;
    let open = app.get("/api/v1/tasks?done=false", &tokens.access).await;

    assert_eq!(titles(&done), vec!["done"]);
    assert_eq!(done.body["total"], 1);
    assert_eq!(titles(&open), vec!["open 2", "open 1"]);
    assert_eq!(open.body["total"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn patching_a_task_changes_the_given_fields_and_updated_at() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let created = task(
        &app,
        &tokens.access,
        json!({ "title": "draft", "description": "keep me" }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    let reply = patch(
        &app,
        &tokens.access,
        &id(&created),
        json!({ "title": "final", "done": true }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["id"], created["id"]);
    assert_eq!(reply.body["title"], "final");
    assert_eq!(reply.body["done"], true);
    assert_eq!(
        reply.body["description"], "keep me",
        "absent fields are kept"
    );
    assert_eq!(reply.body["created_at"], created["created_at"]);
    assert!(timestamp(&reply.body["updated_at"]) > timestamp(&created["updated_at"]));
    let fetched = app
        .get(&format!("/api/v1/tasks/{}", id(&created)), &tokens.access)
        .await;
    assert_eq!(fetched.body, reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn patching_the_description_to_null_clears_it() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let created = task(
        &app,
        &tokens.access,
        json!({ "title": "t", "description": "d" }),
    )
    .await;

    let reply = patch(
        &app,
        &tokens.access,
        &id(&created),
        json!({ "description": null }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["description"].is_null());
    assert_eq!(reply.body["title"], "t");
}

#[tokio::test(flavor = "multi_thread")]
async fn patching_a_task_with_a_bad_title_is_422_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let created = task(&app, &tokens.access, json!({ "title": "keep" })).await;

    for title in [String::new(), "x".repeat(201)] {
        let reply = patch(
            &app,
            &tokens.access,
            &id(&created),
            json!({ "title": title }),
        )
        .await;

        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.field_errors()[0].0, "title");
    }
    let fetched = app
        .get(&format!("/api/v1/tasks/{}", id(&created)), &tokens.access)
        .await;
    assert_eq!(fetched.body["title"], "keep");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_task_is_204_and_then_it_is_gone() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;
    let created = task(&app, &tokens.access, json!({ "title": "t" })).await;
    let path = format!("/api/v1/tasks/{}", id(&created));

    let reply = delete(&app, &tokens.access, &id(&created)).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    app.get(&path, &tokens.access)
        .await
        .assert_problem(404, "not_found");
    delete(&app, &tokens.access, &id(&created))
        .await
        .assert_problem(404, "not_found");
    patch(&app, &tokens.access, &id(&created), json!({ "done": true }))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get("/api/v1/tasks", &tokens.access).await.body["total"],
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_task_is_404_for_get_patch_and_delete_and_stays_intact() {
    let app = TestApp::spawn().await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let adas = task(&app, &ada.access, json!({ "title": "ada's" })).await;
    let path = format!("/api/v1/tasks/{}", id(&adas));

    let read = app.get(&path, &bob.access).await;
    let changed = patch(
        &app,
        &bob.access,
        &id(&adas),
        json!({ "title": "bob's now" }),
    )
    .await;
    let deleted = delete(&app, &bob.access, &id(&adas)).await;

    read.assert_problem(404, "not_found");
    changed.assert_problem(404, "not_found");
    deleted.assert_problem(404, "not_found");
    let still = app.get(&path, &ada.access).await;
    assert_eq!(still.status, StatusCode::OK);
    assert_eq!(still.body, adas, "untouched");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_list_never_shows_another_users_tasks() {
    let app = TestApp::spawn().await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    task(&app, &ada.access, json!({ "title": "ada 1" })).await;
    task(&app, &bob.access, json!({ "title": "bob 1", "done": true })).await;
    task(&app, &ada.access, json!({ "title": "ada 2", "done": true })).await;

    let adas = app.get("/api/v1/tasks", &ada.access).await;
    let bobs = app.get("/api/v1/tasks", &bob.access).await;
    let bobs_done = app.get("/api/v1/tasks?done=true", &bob.access).await;

    assert_eq!(titles(&adas), vec!["ada 2", "ada 1"]);
    assert_eq!(adas.body["total"], 2);
    assert_eq!(titles(&bobs), vec!["bob 1"]);
    assert_eq!(bobs.body["total"], 1);
    assert_eq!(titles(&bobs_done), vec!["bob 1"]);
    assert_eq!(bobs_done.body["total"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_task_id_is_404() {
    let app = TestApp::spawn().await;
    let tokens = app.signed_in("ada@example.com").await;

    let read = app.get("/api/v1/tasks/not-a-uuid", &tokens.access).await;
    let changed = patch(&app, &tokens.access, "not-a-uuid", json!({ "done": true })).await;
    let deleted = delete(&app, &tokens.access, "not-a-uuid").await;

    read.assert_problem(404, "not_found");
    changed.assert_problem(404, "not_found");
    deleted.assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_need_a_bearer_token() {
    let app = TestApp::spawn().await;

    let list = app.request(Method::GET, "/api/v1/tasks", None, None).await;
    let created = app
        .request(
            Method::POST,
            "/api/v1/tasks",
            None,
            Some(json!({ "title": "x" })),
        )
        .await;

    list.assert_problem(401, "unauthenticated");
    created.assert_problem(401, "unauthenticated");
}
