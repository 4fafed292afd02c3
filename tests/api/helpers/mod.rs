//! What the tests share: `TestApp` (the real application on a free port with a throwaway
//! database) here, and beside it the browser (`browser`), the console visitor (`visitor`),
//! the SMTP sink (`mail`), JWT reading (`jwt`) and the doorman process (`process`).

pub mod api;
pub mod browser;
pub mod jwt;
pub mod mail;
pub mod passkey;
pub mod process;
pub mod receiver;
pub mod visitor;

use std::sync::atomic::{AtomicBool, Ordering};

use doorman::config::Config;
use doorman::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";

/// Which database a test runs on, from `TEST_DATABASE_URL`.
pub enum TestDb {
    Sqlite { path: std::path::PathBuf },
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn create() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {
                let name = format!("doorman_test_{}", Uuid::new_v4().simple());
                admin_execute(&url, &format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap_or_else(|e| panic!("TEST_DATABASE_URL={url}: {e}"));
                Self::Postgres {
                    admin_url: url,
                    name,
                }
            }
            _ => {
                let path = std::env::temp_dir()
                    .join(format!("doorman-test-{}.db", Uuid::new_v4().simple()));
                Self::Sqlite { path }
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("sqlite://{}", path.display()),
            Self::Postgres { admin_url, name } => {
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(base, _)| base);
                format!("{base}/{name}")
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Best effort: a database left behind must not fail the test that used it.
        let _ = self.remove();
    }
}

impl TestDb {
    /// Deletes the database (PostgreSQL: closing every connection to it).
    pub fn remove(&self) -> Result<(), String> {
        match self {
            Self::Sqlite { path } => {
                let removed = std::fs::remove_file(path)
                    .map_err(|e| format!("cannot delete {}: {e}", path.display()));
                for suffix in ["-wal", "-shm"] {
                    // Absent once SQLite has checkpointed and closed.
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                removed
            }
            Self::Postgres { admin_url, name } => {
                let url = admin_url.clone();
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                // Drop runs inside the test's runtime; do the async work on a thread of its own.
                std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?
                        .block_on(admin_execute(&url, &sql))
                })
                .join()
                .map_err(|_| "the clean-up thread panicked".to_owned())?
            }
        }
    }
}

/// Runs `sql` on the PostgreSQL server at `url` (the admin database).
async fn admin_execute(url: &str, sql: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("not reachable: {e}"))?;
    tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{sql}: {e}"))
}

/// Cheap hashing for tests; the production cost is measured by the benchmark.
pub fn test_config(database_url: String) -> Config {
    let mut config = Config::defaults();
    config.database_url = database_url;
    config.bind = "127.0.0.1:0".into();
    config.argon2_memory_kib = 1024;
    config.argon2_iterations = 1;
    config.hash_workers = 2;
    config.http_workers = 1;
    config.db_pool_size = Some(8);
    config.rate_limit_per_second = 0;
    config
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub config: Config,
    /// Owns the throwaway database (dropped with the app); `None` for a replica.
    db: Option<TestDb>,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("the HTTP client builds")
}

static TRACING: AtomicBool = AtomicBool::new(false);

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(customise: impl FnOnce(&mut Config)) -> Self {
        if std::env::var("TEST_LOG").is_ok() && !TRACING.swap(true, Ordering::SeqCst) {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_test_writer()
                .try_init();
        }
        let db = TestDb::create().await;
        let mut config = test_config(db.url());
        customise(&mut config);
        Self::start(config, Some(db)).await
    }

    /// Another instance on the same database, as a second replica would be.
    pub async fn replica(&self, customise: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.config.clone();
        customise(&mut config);
        Self::start(config, None).await
    }

    /// An instance running elsewhere (another process, or a proxy in front of several) at
    /// `address`, configured as `config` says; the test owns its database.
    pub fn at(address: String, config: Config) -> Self {
        Self {
            address,
            client: client(),
            config,
            db: None,
        }
    }

    async fn start(config: Config, db: Option<TestDb>) -> Self {
        let app = Application::build(config.clone())
            .await
            .expect("the app did not start");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Self {
            address,
            client: client(),
            config,
            db,
        }
    }

    /// Takes the database away from under the running app.
    pub fn remove_database(&self) {
        match &self.db {
            Some(db) => db.remove().expect("cannot remove the test database"),
            None => panic!("a replica does not own its database"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.request_with_headers(method, path, token, &[], body)
            .await
    }

    /// [`Self::request`] with extra headers, each sent as its own line (`X-Forwarded-For`,
    /// `Origin`, `User-Agent`).
    pub async fn request_with_headers(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::from(
            request
                .send()
                .await
                .unwrap_or_else(|e| panic!("request to {path} failed: {e}")),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, None, Some(body)).await
    }

    /// A POST with extra headers (see [`Self::request_with_headers`]).
    pub async fn post_with_headers(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Reply {
        self.request_with_headers(Method::POST, path, None, headers, Some(body))
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    /// Registers `email` with the standard password; asserts it worked.
    pub async fn register(&self, email: &str) -> Value {
        let reply = self
            .post(
                "/api/v1/users",
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "registering {email}: {}",
            reply.body
        );
        reply.body
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/auth/login",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers and signs in; returns the token pair.
    pub async fn signed_in(&self, email: &str) -> Tokens {
        self.register(email).await;
        let reply = self.login(email, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "login: {}", reply.body);
        Tokens::from(&reply.body)
    }

    /// Neither the access nor the refresh token of `tokens` works any more: both answer
    /// `401 session_revoked`.
    pub async fn assert_session_revoked(&self, tokens: &Tokens) {
        self.get("/api/v1/users/me", &tokens.access)
            .await
            .assert_problem(401, "session_revoked");
        self.refresh(&tokens.refresh)
            .await
            .assert_problem(401, "session_revoked");
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }
}

/// A token pair from a login or refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub session_id: String,
    pub user_id: String,
}

impl From<&Value> for Tokens {
    fn from(body: &Value) -> Self {
        let text = |v: &Value| {
            v.as_str()
                .unwrap_or_else(|| panic!("not a string in {body}"))
                .to_owned()
        };
        Self {
            access: text(&body["access_token"]),
            refresh: text(&body["refresh_token"]),
            session_id: text(&body["session_id"]),
            user_id: text(&body["user"]["id"]),
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json error with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status} {code}, got {}",
            self.body
        );
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        if status == 401 {
            assert!(
                self.header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Bearer")),
                "401 without WWW-Authenticate"
            );
        }
    }

    /// The field errors' (field, code) pairs.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or("").to_owned(),
                            e["code"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    /// Reads one text column named `value` straight from the database, for assertions
    /// about what is stored (hashes, leftovers) that the API rightly never shows.
    pub async fn query_text(&self, sql: &str) -> Vec<String> {
        let url = self.config.database_url.clone();
        let sql = sql.to_owned();
        if url.starts_with("postgres") {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("the connection opens");
            tokio::spawn(connection);
            let rows = client
                .query(sql.as_str(), &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            return rows
                .iter()
                .map(|row| row.get::<_, String>("value"))
                .collect();
        }
        tokio::task::spawn_blocking(move || {
            use diesel::{Connection, RunQueryDsl};
            #[derive(diesel::QueryableByName)]
            struct Row {
                #[diesel(sql_type = diesel::sql_types::Text)]
                value: String,
            }
            let path = url.trim_start_matches("sqlite://");
            let mut conn =
                diesel::SqliteConnection::establish(path).expect("the database connection opens");
            let rows: Vec<Row> = diesel::sql_query(&sql)
                .load(&mut conn)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.into_iter().map(|r| r.value).collect()
        })
        .await
        .expect("the blocking task finishes")
    }
}

impl TestApp {
    /// Runs one statement straight on the database, to arrange what the API cannot (a
    /// challenge that has expired).
    pub async fn execute_sql(&self, sql: &str) {
        let url = self.config.database_url.clone();
        let sql = sql.to_owned();
        if url.starts_with("postgres") {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connecting to the test database");
            tokio::spawn(connection);
            client
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            return;
        }
        tokio::task::spawn_blocking(move || {
            use diesel::{Connection, RunQueryDsl};
            let path = url.trim_start_matches("sqlite://");
            let mut conn =
                diesel::SqliteConnection::establish(path).expect("opening the test database");
            diesel::sql_query(&sql)
                .execute(&mut conn)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        })
        .await
        .expect("the SQL thread panicked");
    }
}

/// The bootstrap admin of the staff tests.
pub const ADMIN_EMAIL: &str = "root@example.com";

/// Configures `ADMIN_EMAIL` (with `PASSWORD`) as the bootstrap admin.
pub fn with_bootstrap_admin(config: &mut Config) {
    config.bootstrap_admin_email = Some(ADMIN_EMAIL.into());
    config.bootstrap_admin_password = Some(PASSWORD.to_owned().into());
}

/// An app with one signed-in account of each role.
pub struct StaffApp {
    pub app: TestApp,
    pub admin: Tokens,
    pub sub_admin: Tokens,
    pub user: Tokens,
}

/// The bootstrap admin, `sub@example.com` (sub_admin) and `user@example.com` (user), signed in.
pub async fn staff_app() -> StaffApp {
    staff_app_with(|_| {}).await
}

pub async fn staff_app_with(customise: impl FnOnce(&mut Config)) -> StaffApp {
    let app = TestApp::spawn_with(|c| {
        with_bootstrap_admin(c);
        // Staff scenarios sign in many times from one address; the per-IP limit has its own tests.
        c.rate_limit_per_second = 0;
        c.rate_limit_burst = 0;
        customise(c);
    })
    .await;
    let admin = app.logged_in(ADMIN_EMAIL).await;
    let sub_admin = app
        .signed_in_as(&admin.access, "sub@example.com", "sub_admin")
        .await;
    let user = app
        .signed_in_as(&admin.access, "user@example.com", "user")
        .await;
    StaffApp {
        app,
        admin,
        sub_admin,
        user,
    }
}

impl TestApp {
    /// Logs `email` in with the standard password; asserts it worked.
    pub async fn logged_in(&self, email: &str) -> Tokens {
        let reply = self.login(email, PASSWORD).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login {email}: {}",
            reply.body
        );
        Tokens::from(&reply.body)
    }

    /// An admin creates `email` with `role` and the standard password; returns the User.
    pub async fn create_user(&self, admin_token: &str, email: &str, role: &str) -> Value {
        let reply = self
            .request(
                Method::POST,
                "/api/v1/admin/users",
                Some(admin_token),
                Some(json!({ "email": email, "password": PASSWORD, "role": role })),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "creating {email}: {}",
            reply.body
        );
        reply.body
    }

    /// An admin creates `email` with `role`; the new account signs in.
    pub async fn signed_in_as(&self, admin_token: &str, email: &str, role: &str) -> Tokens {
        self.create_user(admin_token, email, role).await;
        self.logged_in(email).await
    }
}

/// The `id` of a User body.
pub fn id_of(user: &Value) -> String {
    user["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {user}"))
        .to_owned()
}

/// A staff user resource path.
pub fn user_path(id: &str) -> String {
    format!("/api/v1/admin/users/{id}")
}

/// `PUT /api/v1/admin/users/{id}/role`.
pub async fn set_role(app: &TestApp, token: &str, id: &str, role: &str) -> Reply {
    app.api()
        .set_role(token, id, &json!({ "role": role }))
        .await
}

/// An RFC 3339 timestamp field of a response.
pub fn timestamp(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
        .with_timezone(&chrono::Utc)
}

impl TestApp {
    /// An instance on a database that the test owns (the database outlives the app).
    pub async fn on_database(config: Config) -> Self {
        Self::start(config, None).await
    }
}
