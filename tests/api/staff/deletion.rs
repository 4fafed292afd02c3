//! Deleting users.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, staff_app};

fn count_sql(table: &str, user_id: &str) -> String {
    format!(
        "SELECT CAST(COUNT(*) AS TEXT) AS value FROM {table} WHERE CAST(user_id AS TEXT) = '{user_id}'"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_user_kills_its_tokens_and_removes_its_rows() {
    let s = staff_app().await;
    let id = s.user.user_id.clone();
    let task = s
        .app
        .request(
            Method::POST,
            "/api/v1/tasks",
            Some(&s.user.access),
            Some(json!({ "title": "write the report" })),
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.body);
    for table in ["sessions", "credentials", "tasks"] {
        assert_ne!(
            s.app.query_text(&count_sql(table, &id)).await,
            ["0"],
            "{table}"
        );
    }

    let reply = s.app.api().delete_user(&s.admin.access, &id).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    s.app
        .api()
        .get_me(&s.user.access)
        .await
        .assert_problem(401, "session_revoked");
    let refreshed = s.app.refresh(&s.user.refresh).await;
    assert_eq!(
        refreshed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refreshed.body
    );
    for table in ["sessions", "credentials", "tasks"] {
        assert_eq!(
            s.app.query_text(&count_sql(table, &id)).await,
            ["0"],
            "{table}"
        );
    }
    let users = s
        .app
        .query_text(&format!(
            "SELECT email AS value FROM users WHERE CAST(id AS TEXT) = '{id}'"
        ))
        .await;
    assert!(users.is_empty(), "{users:?}");
    s.app
        .api()
        .admin_get_user(&s.admin.access, &id)
        .await
        .assert_problem(404, "not_found");
    s.app
        .login("user@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(
        s.app.api().delete_user(&s.admin.access, &id).await.status,
        StatusCode::NOT_FOUND,
        "a second delete finds nothing"
    );
}
