//! Login's last four writes (session, last login, the attempt count cleared, the audit
//! event) run together: pipelined on PostgreSQL, one after another on SQLite. A failure in
//! any of them leaves none of them, and the connection goes back to the pool clean.
//! Driven through the repository, on the app's own database: over HTTP no login can be
//! made to fail between its password check and its commit.

use chrono::{Duration, Utc};
use doorman::db::{self, Db};
use doorman::domain::{AuditEvent, AuditKind, ClientInfo, Session, SessionId, UserId};

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

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_logins_last_writes_leaves_none_of_them() {
    let app = TestApp::spawn().await;
    let user = app.register("ada@example.com").await;
    let user_id = UserId(id_of(&user).parse().unwrap_or_else(|e| panic!("{e}")));
    app.login("ada@example.com", "not my password")
        .await
        .assert_problem(401, "invalid_credentials");
    let key = format!("user:{}", user_id.0);
    // One connection, so the unit after the failure runs on the connection that failed.
    let db = Db::connect(&app.config.database_url, 1)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));

    // The last of the four statements fails: its audit event's id is taken. Twice: on a
    // fresh connection, which prepares each statement before sending it, then with all
    // four prepared, sent together.
    let taken = AuditEvent::new(
        AuditKind::LoginSucceeded,
        Utc::now(),
        &ClientInfo::default(),
    );
    let event = taken.clone();
    db.run(move |c| Box::pin(async move { db::audit::insert(c, &event).await }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for round in ["fresh", "prepared"] {
        let failed = open(&db, &session_for(user_id), &key, &taken).await;

        assert!(failed.is_err(), "{round}: a taken audit id fails the unit");
        assert_eq!(count(&app, "sessions").await, "0", "{round}: no session");
        assert_eq!(
            count(&app, "users WHERE last_login_at IS NOT NULL").await,
            "0",
            "{round}: no last login"
        );
        assert_eq!(
            app.query_text("SELECT CAST(failed_logins AS TEXT) AS value FROM login_throttles")
                .await,
            vec!["1"],
            "{round}: the failed attempt still counts"
        );
        assert_eq!(
            count(&app, "audit_events WHERE type = 'login.succeeded'").await,
            "1",
            "{round}: no second event"
        );
    }

    let fresh = AuditEvent::new(
        AuditKind::LoginSucceeded,
        Utc::now(),
        &ClientInfo::default(),
    );
    open(&db, &session_for(user_id), &key, &fresh)
        .await
        .unwrap_or_else(|e| panic!("the connection did not come back clean: {e}"));
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
}
