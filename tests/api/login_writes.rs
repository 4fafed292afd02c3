//! Login's last four writes (session, last login, the attempt count cleared, the audit
//! event) run together: pipelined on PostgreSQL, one after another on SQLite. A failure in
//! any of them leaves none of them, and the connection goes back to the pool clean.
//! Driven through the repository, on the app's own database: over HTTP no login can be
//! made to fail between its password check and its commit.

use chrono::{Duration, Utc};
use doorman::db::{self, Db};
use doorman::domain::{Amr, AuditEvent, AuditKind, ClientInfo, Session, SessionId, UserId};

use crate::helpers::{TestApp, id_of};

fn session_for(user_id: UserId) -> Session {
    let now = Utc::now();
    Session {
        id: SessionId::new(),
        user_id,
        created_at: now,
        last_refreshed_at: None,
        expires_at: now + Duration::hours(1),
        revoked_at: None,
        user_agent: None,
        ip: None,
        refresh_jti: uuid::Uuid::now_v7(),
        refresh_iat: now,
        refresh_exp: now + Duration::hours(1),
        previous_jti: None,
        rotated_at: None,
        amr: Amr::password(),
    }
}

async fn open(
    db: &Db,
    session: &Session,
    key: &str,
    event: &AuditEvent,
) -> doorman::error::Result<()> {
    let (session, key, event) = (session.clone(), key.to_owned(), event.clone());
    db.transaction(move |tx| {
        Box::pin(async move { db::sessions::open_on_login(tx, &session, &key, &event).await })
    })
    .await
}

async fn count(app: &TestApp, sql: &str) -> String {
    app.query_text(&format!(
        "SELECT CAST(COUNT(*) AS TEXT) AS value FROM {sql}"
    ))
    .await
    .concat()
}

/// A database with one connection, so that each unit runs on the connection that the unit
/// before it ran on.
async fn one_connection(app: &TestApp) -> Db {
    Db::connect(&app.config.database_url, 1)
        .await
        .expect("the connection opens")
}

/// What the four writes touch, as the database has it now.
async fn state(app: &TestApp) -> [Vec<String>; 4] {
    [
        app.query_text("SELECT CAST(id AS TEXT) AS value FROM sessions")
            .await,
        app.query_text("SELECT COALESCE(CAST(last_login_at AS TEXT), 'never') AS value FROM users")
            .await,
        app.query_text("SELECT CAST(failed_logins AS TEXT) AS value FROM login_throttles")
            .await,
        app.query_text("SELECT CAST(id AS TEXT) AS value FROM audit_events")
            .await,
    ]
}

async fn assert_unique_violation_leaves_nothing(
    app: &TestApp,
    db: &Db,
    what: &str,
    session: &Session,
    key: &str,
    event: &AuditEvent,
) {
    let before = state(app).await;
    let failed = open(db, session, key, event).await;
    let err = failed
        .err()
        .unwrap_or_else(|| panic!("{what}: the unit did not fail"));
    assert!(
        format!("{err:?}").to_lowercase().contains("unique"),
        "{what}: failed for another reason: {err:?}"
    );
    assert_eq!(state(app).await, before, "{what}: something was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_logins_last_writes_leaves_none_of_them() {
    let app = TestApp::spawn().await;
    let user = app.register("ada@example.com").await;
    let user_id = UserId(id_of(&user).parse().expect("a user id is a UUID"));
    let key = format!("user:{}", user_id.0);
    let fail_once = || async {
        app.login("ada@example.com", "not my password")
            .await
            .assert_problem(401, "invalid_credentials");
    };
    fail_once().await;

    // The last of the four fails: its audit event's id is taken (written over another
    // connection, so that the first round's connection has prepared nothing). On a fresh
    // connection each statement is prepared before it is sent; then all four are prepared
    // and go out together.
    let taken = AuditEvent::new(
        AuditKind::LoginSucceeded,
        Utc::now(),
        &ClientInfo::default(),
    );
    let event = taken.clone();
    one_connection(&app)
        .await
        .run(move |c| Box::pin(async move { db::audit::insert(c, &event).await }))
        .await
        .expect("the audit insert runs");
    let db = one_connection(&app).await;
    for what in ["last fails, fresh", "last fails, prepared"] {
        assert_unique_violation_leaves_nothing(
            &app,
            &db,
            what,
            &session_for(user_id),
            &key,
            &taken,
        )
        .await;
    }

    let first = session_for(user_id);
    let fresh = || {
        AuditEvent::new(
            AuditKind::LoginSucceeded,
            Utc::now(),
            &ClientInfo::default(),
        )
    };
    open(&db, &first, &key, &fresh())
        .await
        .expect("the connection did not come back clean");
    assert_eq!(count(&app, "sessions").await, "1");
    assert_eq!(
        count(&app, "users WHERE last_login_at IS NOT NULL").await,
        "1"
    );
    assert_eq!(count(&app, "login_throttles").await, "0");
    assert_eq!(
        count(&app, "audit_events WHERE type = 'login.succeeded'").await,
        "2"
    );

    // The first of the four fails (its session id is taken) while the three after it are
    // in flight: none of them lands either.
    fail_once().await;
    let again = Session {
        created_at: Utc::now(),
        ..first
    };
    assert_unique_violation_leaves_nothing(
        &app,
        &db,
        "first fails, prepared",
        &again,
        &key,
        &fresh(),
    )
    .await;
    let other = one_connection(&app).await;
    assert_unique_violation_leaves_nothing(
        &app,
        &other,
        "first fails, fresh",
        &again,
        &key,
        &fresh(),
    )
    .await;
    open(&db, &session_for(user_id), &key, &fresh())
        .await
        .expect("the connection did not come back clean");
    assert_eq!(count(&app, "sessions").await, "2");
}
