//! The signed-in user's own account (`/api/v1/users/me`, `/users/{id}`): profile, password,
//! sessions and deletion, one file each.

mod deletion;
mod password;
mod profile;
mod sessions;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, Tokens};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn patch_me(app: &TestApp, token: &str, body: Value) -> Reply {
    app.api().update_me(token, &body).await
}

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> Reply {
    app.api()
        .change_password(
            token,
            &json!({ "current_password": current, "new_password": new }),
        )
        .await
}

async fn delete_me(app: &TestApp, token: &str, password: &str) -> Reply {
    app.api()
        .delete_me(token, &json!({ "password": password }))
        .await
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let reply = app.api().list_my_sessions(token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
        .body
        .as_array()
        .unwrap_or_else(|| panic!("a list of sessions: {}", reply.body))
        .clone()
}

/// Signs in with this `User-Agent`, as a device would.
async fn login_from(app: &TestApp, email: &str, user_agent: &str) -> Tokens {
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header(reqwest::header::USER_AGENT, user_agent)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("the request reaches the server");
    let reply = Reply::from(response).await;
    assert_eq!(reply.status, StatusCode::OK, "login: {}", reply.body);
    Tokens::from(&reply.body)
}

fn field_names(reply: &Reply) -> Vec<String> {
    let mut names: Vec<String> = reply.field_errors().into_iter().map(|(f, _)| f).collect();
    names.sort();
    names
}

async fn rows(app: &TestApp, table: &str, user_id: &str) -> Vec<String> {
    app.query_text(&format!(
        "SELECT CAST(id AS TEXT) AS value FROM {table} WHERE CAST(user_id AS TEXT) = '{user_id}'"
    ))
    .await
}
