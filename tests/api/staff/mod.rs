//! Staff user management (`/api/v1/admin`): who may call what, on whom, and what each call does;
//! one file per part of it.

mod activation;
mod creation;
mod deletion;
mod editing;
mod listing;
mod permissions;
mod roles;
mod sessions;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Reply, TestApp, Tokens};

const USERS: &str = "/api/v1/admin/users";

async fn patch_user(app: &TestApp, token: &str, id: &str, body: Value) -> Reply {
    app.api().update_user(token, id, &body).await
}

/// GET a page of users; asserts 200 and returns the body.
async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let reply = app.api().list_users(token, query).await;
    assert_eq!(reply.status, StatusCode::OK, "?{query}: {}", reply.body);
    reply.body
}

fn emails(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|u| u["email"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts a success status, or the `forbidden` problem when 403 is expected.
#[track_caller]
fn assert_outcome(reply: &Reply, expected: u16, what: &str) {
    if expected == 403 {
        reply.assert_problem(403, "forbidden");
    } else {
        assert_eq!(reply.status.as_u16(), expected, "{what}: {}", reply.body);
    }
}

/// Refreshes and returns the new token pair.
async fn refreshed(app: &TestApp, tokens: &Tokens) -> Tokens {
    let reply = app.refresh(&tokens.refresh).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Tokens::from(&reply.body)
}
