//! A typed client: one method per endpoint of the contract, named like its handler in
//! `src/http` (so a test leads straight to the code it drives), each returning the plain
//! [`Reply`]. Bodies are JSON values, so a test can still send what the contract refuses.
//! `query` arguments are a query string without its `?` (empty for none).

#![allow(
    dead_code,
    reason = "one method per endpoint, whether or not a test calls it yet"
)]

use reqwest::Method;
use serde_json::Value;

use super::{Reply, TestApp};

/// [`TestApp::api`].
#[derive(Clone, Copy)]
pub struct Api<'a> {
    app: &'a TestApp,
}

impl TestApp {
    /// The typed client of this app's API.
    pub fn api(&self) -> Api<'_> {
        Api { app: self }
    }
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

impl Api<'_> {
    async fn call(
        self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        self.app.request(method, path, token, body.cloned()).await
    }

    // Public.

    /// `POST /api/v1/users`: registration.
    pub async fn create_user(self, body: &Value) -> Reply {
        self.call(Method::POST, "/api/v1/users", None, Some(body))
            .await
    }

    /// `POST /api/v1/auth/login`.
    pub async fn login(self, body: &Value) -> Reply {
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// `POST /api/v1/auth/refresh`.
    pub async fn refresh(self, body: &Value) -> Reply {
        self.call(Method::POST, "/api/v1/auth/refresh", None, Some(body))
            .await
    }

    /// `POST /api/v1/auth/introspect` (JSON).
    pub async fn introspect(self, body: &Value) -> Reply {
        self.call(Method::POST, "/api/v1/auth/introspect", None, Some(body))
            .await
    }

    /// `POST /api/v1/auth/password/forgot`.
    pub async fn forgot_password(self, body: &Value) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/auth/password/forgot",
            None,
            Some(body),
        )
        .await
    }

    /// `POST /api/v1/auth/password/reset`.
    pub async fn reset_password(self, body: &Value) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/auth/password/reset",
            None,
            Some(body),
        )
        .await
    }

    /// `GET /.well-known/jwks.json`.
    pub async fn jwks(self) -> Reply {
        self.call(Method::GET, "/.well-known/jwks.json", None, None)
            .await
    }

    /// `GET /.well-known/openid-configuration`.
    pub async fn openid_configuration(self) -> Reply {
        self.call(Method::GET, "/.well-known/openid-configuration", None, None)
            .await
    }

    /// `GET /health/ready`.
    pub async fn ready(self) -> Reply {
        self.call(Method::GET, "/health/ready", None, None).await
    }

    // The signed-in user.

    /// `POST /api/v1/auth/logout`.
    pub async fn logout(self, token: &str) -> Reply {
        self.call(Method::POST, "/api/v1/auth/logout", Some(token), None)
            .await
    }

    /// `GET /api/v1/users/me`.
    pub async fn get_me(self, token: &str) -> Reply {
        self.call(Method::GET, "/api/v1/users/me", Some(token), None)
            .await
    }

    /// `PATCH /api/v1/users/me`.
    pub async fn update_me(self, token: &str, body: &Value) -> Reply {
        self.call(Method::PATCH, "/api/v1/users/me", Some(token), Some(body))
            .await
    }

    /// `PUT /api/v1/users/me/password`.
    pub async fn change_password(self, token: &str, body: &Value) -> Reply {
        self.call(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(token),
            Some(body),
        )
        .await
    }

    /// `DELETE /api/v1/users/me`.
    pub async fn delete_me(self, token: &str, body: &Value) -> Reply {
        self.call(Method::DELETE, "/api/v1/users/me", Some(token), Some(body))
            .await
    }

    /// `GET /api/v1/users/me/sessions`.
    pub async fn list_my_sessions(self, token: &str) -> Reply {
        self.call(Method::GET, "/api/v1/users/me/sessions", Some(token), None)
            .await
    }

    /// `DELETE /api/v1/users/me/sessions/{id}`.
    pub async fn revoke_my_session(self, token: &str, id: &str) -> Reply {
        let path = format!("/api/v1/users/me/sessions/{id}");
        self.call(Method::DELETE, &path, Some(token), None).await
    }

    /// `DELETE /api/v1/users/me/sessions`: all of them, the current one too.
    pub async fn revoke_my_sessions(self, token: &str) -> Reply {
        self.call(
            Method::DELETE,
            "/api/v1/users/me/sessions",
            Some(token),
            None,
        )
        .await
    }

    /// `GET /api/v1/users/{id}`.
    pub async fn get_user(self, token: &str, id: &str) -> Reply {
        let path = format!("/api/v1/users/{id}");
        self.call(Method::GET, &path, Some(token), None).await
    }

    /// `GET /api/v1/auth/revocations`.
    pub async fn list_revocations(self, token: &str, query: &str) -> Reply {
        let path = with_query("/api/v1/auth/revocations", query);
        self.call(Method::GET, &path, Some(token), None).await
    }

    // Tasks.

    /// `POST /api/v1/tasks`.
    pub async fn create_task(self, token: &str, body: &Value) -> Reply {
        self.call(Method::POST, "/api/v1/tasks", Some(token), Some(body))
            .await
    }

    /// `GET /api/v1/tasks`.
    pub async fn list_tasks(self, token: &str, query: &str) -> Reply {
        let path = with_query("/api/v1/tasks", query);
        self.call(Method::GET, &path, Some(token), None).await
    }

    /// `GET /api/v1/tasks/{id}`.
    pub async fn get_task(self, token: &str, id: &str) -> Reply {
        let path = format!("/api/v1/tasks/{id}");
        self.call(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /api/v1/tasks/{id}`.
    pub async fn update_task(self, token: &str, id: &str, body: &Value) -> Reply {
        let path = format!("/api/v1/tasks/{id}");
        self.call(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `DELETE /api/v1/tasks/{id}`.
    pub async fn delete_task(self, token: &str, id: &str) -> Reply {
        let path = format!("/api/v1/tasks/{id}");
        self.call(Method::DELETE, &path, Some(token), None).await
    }

    // Staff.

    /// `GET /api/v1/admin/users`.
    pub async fn list_users(self, token: &str, query: &str) -> Reply {
        let path = with_query("/api/v1/admin/users", query);
        self.call(Method::GET, &path, Some(token), None).await
    }

    /// `POST /api/v1/admin/users`.
    pub async fn admin_create_user(self, token: &str, body: &Value) -> Reply {
        self.call(Method::POST, "/api/v1/admin/users", Some(token), Some(body))
            .await
    }

    /// `GET /api/v1/admin/users/{id}`.
    pub async fn admin_get_user(self, token: &str, id: &str) -> Reply {
        let path = format!("/api/v1/admin/users/{id}");
        self.call(Method::GET, &path, Some(token), None).await
    }

    /// `PATCH /api/v1/admin/users/{id}`.
    pub async fn update_user(self, token: &str, id: &str, body: &Value) -> Reply {
        let path = format!("/api/v1/admin/users/{id}");
        self.call(Method::PATCH, &path, Some(token), Some(body))
            .await
    }

    /// `PUT /api/v1/admin/users/{id}/role`.
    pub async fn set_role(self, token: &str, id: &str, body: &Value) -> Reply {
        let path = format!("/api/v1/admin/users/{id}/role");
        self.call(Method::PUT, &path, Some(token), Some(body)).await
    }

    /// `DELETE /api/v1/admin/users/{id}`.
    pub async fn delete_user(self, token: &str, id: &str) -> Reply {
        let path = format!("/api/v1/admin/users/{id}");
        self.call(Method::DELETE, &path, Some(token), None).await
    }

    /// `GET /api/v1/admin/users/{id}/sessions`.
    pub async fn list_user_sessions(self, token: &str, id: &str) -> Reply {
        let path = format!("/api/v1/admin/users/{id}/sessions");
        self.call(Method::GET, &path, Some(token), None).await
    }

    /// `DELETE /api/v1/admin/users/{id}/sessions`.
    pub async fn revoke_user_sessions(self, token: &str, id: &str) -> Reply {
        let path = format!("/api/v1/admin/users/{id}/sessions");
        self.call(Method::DELETE, &path, Some(token), None).await
    }

    /// `GET /api/v1/admin/audit-events`.
    pub async fn list_audit_events(self, token: &str, query: &str) -> Reply {
        let path = with_query("/api/v1/admin/audit-events", query);
        self.call(Method::GET, &path, Some(token), None).await
    }
}
