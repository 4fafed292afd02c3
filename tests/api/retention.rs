//! The retention job: ended sessions, spent reset tokens, old audit events and settled
//! webhook deliveries go, in batches, run by one instance per interval.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::receiver::Receiver;
use crate::helpers::{PASSWORD, StaffApp, TestApp, id_of, staff_app_with};

/// Waits until `check` holds; the deadline only tells a hang from slowness.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count(app: &TestApp, sql_from_where: &str) -> usize {
    let rows = app
        .query_text(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) AS value FROM {sql_from_where}"
        ))
        .await;
    rows.first()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count from {sql_from_where}: {rows:?}"))
}

/// `doorman_retention_runs_total{outcome}` as this instance reports it.
async fn turns(app: &TestApp, outcome: &str) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    let series = format!("doorman_retention_runs_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

fn every_second(config: &mut doorman::config::Config) {
    config.retention_interval = Duration::from_secs(1);
    config.session_retention = Duration::from_secs(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn ended_sessions_are_removed_after_the_retention_and_live_ones_stay() {
    // A revoked session stays while the revocation feed lists it: one access lifetime
    // plus 30 s, so the shortest lifetime here.
    let app = TestApp::spawn_with(|config| {
        every_second(config);
        config.access_ttl = Duration::from_secs(1);
    })
    .await;
    let ended = app.signed_in("ended@example.com").await;
    let live = app.login("ended@example.com", PASSWORD).await;
    assert_eq!(live.status, 200);
    let live_refresh = live.body["refresh_token"]
        .as_str()
        .expect("a token")
        .to_owned();

    let logout = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&ended.access),
            None,
        )
        .await;
    assert_eq!(logout.status, 204);

    eventually("the ended session is removed", || async {
        count(&app, "sessions").await == 1
    })
    .await;
    let renewed = app.refresh(&live_refresh).await;
    assert_eq!(renewed.status, 200, "the live session still works");
}

#[tokio::test(flavor = "multi_thread")]
async fn voided_and_used_reset_tokens_are_removed() {
    let app =
        TestApp::spawn_with(|config| config.retention_interval = Duration::from_secs(1)).await;
    app.register("reset@example.com").await;
    for _ in 0..2 {
        let forgot = app
            .post(
                "/api/v1/auth/password/forgot",
                json!({ "email": "reset@example.com" }),
            )
            .await;
        assert_eq!(forgot.status, 202);
    }
    // Forgot-password does its work after answering: wait until both requests have.
    eventually("both requests are done", || async {
        count(&app, "audit_events WHERE type = 'password.reset_requested'").await == 2
    })
    .await;
    // Unused and unexpired: the token of the latest request stays.
    eventually(
        "the token of the latest request is all that is left",
        || async { count(&app, "password_reset_tokens").await == 1 },
    )
    .await;
    app.query_text("UPDATE password_reset_tokens SET used_at = expires_at RETURNING 'x' AS value")
        .await;

    eventually("the used token is removed", || async {
        count(&app, "password_reset_tokens").await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_events_older_than_the_retention_are_removed() {
    let app = TestApp::spawn_with(|config| {
        every_second(config);
        config.audit_retention = Duration::from_secs(1);
    })
    .await;
    app.register("audited@example.com").await;
    assert!(count(&app, "audit_events").await >= 1);

    eventually("the registration's audit event is removed", || async {
        count(&app, "audit_events").await == 0
    })
    .await;
    assert_eq!(
        counted(&app).await,
        0,
        "the removed events are off the counts"
    );
}

/// The audit trail's counts summed over every type and shard.
async fn counted(app: &TestApp) -> i64 {
    let rows = app
        .query_text(
            "SELECT CAST(COALESCE(SUM(events), 0) AS TEXT) AS value FROM audit_event_counts",
        )
        .await;
    rows.first()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no sum of the counts: {rows:?}"))
}

/// The `total` of the audit list at `query`, as the admin sees it.
async fn audit_total(app: &TestApp, admin: &str, query: &str) -> usize {
    let reply = app
        .get(&format!("/api/v1/admin/audit-events?limit=1{query}"), admin)
        .await;
    assert_eq!(reply.status, reqwest::StatusCode::OK, "{}", reply.body);
    let total = reply.body["total"].as_u64().expect("a total");
    usize::try_from(total).expect("a total that fits")
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_totals_are_exact_and_a_daily_recount_adds_what_an_older_instance_wrote() {
    let StaffApp { app, admin, .. } = staff_app_with(|config| {
        every_second(config);
        config.audit_retention = Duration::ZERO;
    })
    .await;
    // At once: their events' counts are written by concurrent transactions.
    let emails: Vec<String> = ["ada", "grace", "alan", "edsger", "barbara", "donald"]
        .iter()
        .map(|name| format!("{name}@example.com"))
        .collect();
    futures_util::future::join_all(emails.iter().map(|email| app.signed_in(email))).await;
    let registered = "&type=user.registered";
    assert_eq!(
        audit_total(&app, &admin.access, "").await,
        count(&app, "audit_events").await
    );
    assert_eq!(
        audit_total(&app, &admin.access, registered).await,
        count(&app, "audit_events WHERE type = 'user.registered'").await
    );
    let before = audit_total(&app, &admin.access, registered).await;

    // An instance of a version before the counts writes an event (as during an upgrade):
    // it is in the trail, not yet in the total.
    app.execute_sql(
        "INSERT INTO audit_events (id, at, type, detail) VALUES \
         ('0190a000-0000-7000-8000-000000000001', '2026-01-01T00:00:00.000000Z', \
          'user.registered', '{}')",
    )
    .await;
    assert_eq!(audit_total(&app, &admin.access, registered).await, before);

    // The next recount (made due, as a day would) adds it.
    app.execute_sql(
        "UPDATE job_runs SET ran_at = '1970-01-01T00:00:00.000000Z' WHERE name = 'audit_recount'",
    )
    .await;
    eventually("the recount adds the uncounted event", || async {
        audit_total(&app, &admin.access, registered).await == before + 1
    })
    .await;
    assert_eq!(
        audit_total(&app, &admin.access, "").await,
        count(&app, "audit_events").await
    );
}

/// The `total` of the user list at `query`, as the admin sees it.
async fn user_total(app: &TestApp, admin: &str, query: &str) -> usize {
    let reply = app
        .get(&format!("/api/v1/admin/users?limit=1{query}"), admin)
        .await;
    assert_eq!(reply.status, reqwest::StatusCode::OK, "{}", reply.body);
    let total = reply.body["total"].as_u64().expect("a total");
    usize::try_from(total).expect("a total that fits")
}

/// Every filter of the user list without a search, with the `WHERE` that counts it.
const USER_FILTERS: [(&str, &str); 7] = [
    ("", "users"),
    ("&role=user", "users WHERE role = 'user'"),
    ("&role=sub_admin", "users WHERE role = 'sub_admin'"),
    (
        "&role=admin&is_active=true",
        "users WHERE role = 'admin' AND is_active = TRUE",
    ),
    ("&is_active=false", "users WHERE is_active = FALSE"),
    ("&is_active=true", "users WHERE is_active = TRUE"),
    (
        "&role=user&is_active=false",
        "users WHERE role = 'user' AND is_active = FALSE",
    ),
];

async fn assert_user_totals_exact(app: &TestApp, admin: &str) {
    for (query, rows) in USER_FILTERS {
        assert_eq!(
            user_total(app, admin, query).await,
            count(app, rows).await,
            "the total of {query:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn user_totals_are_exact_and_an_hourly_recount_adds_what_an_older_instance_wrote() {
    let StaffApp { app, admin, .. } = staff_app_with(every_second).await;
    let admin = admin.access;
    // At once: their counts are written by concurrent transactions.
    let emails: Vec<String> = [
        "ada", "grace", "alan", "edsger", "barbara", "donald", "frances",
    ]
    .iter()
    .map(|name| format!("{name}@example.com"))
    .collect();
    let users: Vec<String> =
        futures_util::future::join_all(emails.iter().map(|email| app.register(email)))
            .await
            .iter()
            .map(id_of)
            .collect();
    assert_user_totals_exact(&app, &admin).await;

    // Every change of role or activity moves a user between the counts; a change of
    // neither, a refused change and the deletion of a missing user move none.
    let path = |i: usize| format!("/api/v1/admin/users/{}", users[i]);
    for (method, at, body) in [
        (Method::PATCH, path(0), Some(json!({ "is_active": false }))),
        (
            Method::PATCH,
            path(1),
            Some(json!({ "is_active": false, "first_name": "Grace" })),
        ),
        (Method::PATCH, path(1), Some(json!({ "is_active": false }))),
        (
            Method::PATCH,
            path(2),
            Some(json!({ "first_name": "Alan" })),
        ),
        (
            Method::PUT,
            format!("{}/role", path(3)),
            Some(json!({ "role": "sub_admin" })),
        ),
        (
            Method::PUT,
            format!("{}/role", path(4)),
            Some(json!({ "role": "admin" })),
        ),
        (Method::PATCH, path(4), Some(json!({ "is_active": false }))),
        (Method::PATCH, path(0), Some(json!({ "is_active": true }))),
        (Method::PATCH, path(5), Some(json!({ "is_active": "no" }))),
        (Method::DELETE, path(6), None),
        (Method::DELETE, path(6), None),
        (Method::DELETE, path(2), None),
    ] {
        let reply = app
            .request(method.clone(), &at, Some(&admin), body.clone())
            .await;
        assert!(
            reply.status.as_u16() < 500,
            "{method} {at} {body:?}: {}",
            reply.body
        );
        assert_user_totals_exact(&app, &admin).await;
    }
    let me = app.signed_in("leaving@example.com").await;
    let gone = app
        .api()
        .delete_me(&me.access, &json!({ "password": PASSWORD }))
        .await;
    assert!(gone.status.is_success(), "{}", gone.body);
    assert_user_totals_exact(&app, &admin).await;

    // An instance of a version before the counts registers a user (as during an upgrade):
    // the user is in the table, not yet in the totals.
    let before = user_total(&app, &admin, "&role=user").await;
    app.execute_sql(
        "INSERT INTO users (id, email, role, is_active, created_at, updated_at) VALUES \
         ('0190a000-0000-7000-8000-000000000002', 'older@example.com', 'user', TRUE, \
          '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
    )
    .await;
    assert_eq!(user_total(&app, &admin, "&role=user").await, before);

    // The next recount (made due, as an hour would) adds it.
    app.execute_sql(
        "UPDATE job_runs SET ran_at = '1970-01-01T00:00:00.000000Z' WHERE name = 'user_recount'",
    )
    .await;
    eventually("the recount adds the uncounted user", || async {
        user_total(&app, &admin, "&role=user").await == before + 1
    })
    .await;
    assert_user_totals_exact(&app, &admin).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audit_retention_of_zero_keeps_audit_events_forever() {
    let app = TestApp::spawn_with(|config| {
        every_second(config);
        config.audit_retention = Duration::ZERO;
    })
    .await;
    let tokens = app.signed_in("kept@example.com").await;
    app.request(
        Method::POST,
        "/api/v1/auth/logout",
        Some(&tokens.access),
        None,
    )
    .await;
    let events = count(&app, "audit_events").await;
    // Two turns: at least one began after the logout and has finished.
    let turns_before = turns(&app, "ran").await;

    eventually("the job has run since the logout", || async {
        turns(&app, "ran").await >= turns_before + 2
    })
    .await;

    assert_eq!(count(&app, "audit_events").await, events);
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_on_one_database_run_each_turn_once_between_them() {
    let hourly = |config: &mut doorman::config::Config| {
        config.retention_interval = Duration::from_secs(3600);
    };
    let first = TestApp::spawn_with(hourly).await;
    let (second, third) = tokio::join!(first.replica(hourly), first.replica(hourly));
    let instances = [&first, &second, &third];

    eventually("every instance has taken its first turn", || async {
        let mut all = true;
        for app in instances {
            all &= turns(app, "ran").await + turns(app, "skipped").await == 1;
        }
        all
    })
    .await;

    let mut ran = 0;
    for app in instances {
        ran += turns(app, "ran").await;
    }
    assert_eq!(ran, 1, "one instance ran the turn, the others skipped it");
}

#[tokio::test(flavor = "multi_thread")]
async fn devices_not_seen_for_a_year_are_forgotten_and_recent_ones_stay() {
    let app = TestApp::spawn_with(every_second).await;
    app.register("ada@example.com").await;
    app.register("bob@example.com").await;
    for email in ["ada@example.com", "bob@example.com"] {
        let reply = app.login(email, PASSWORD).await;
        assert_eq!(reply.status, reqwest::StatusCode::OK, "{}", reply.body);
    }
    assert_eq!(count(&app, "known_devices").await, 2);
    app.query_text(
        "UPDATE known_devices SET last_seen_at = '2000-01-01T00:00:00.000000Z' \
         WHERE user_id = (SELECT id FROM users WHERE email = 'ada@example.com') \
         RETURNING 'x' AS value",
    )
    .await;

    eventually("ada's device is forgotten", || async {
        count(&app, "known_devices").await == 1
    })
    .await;
    assert_eq!(
        count(
            &app,
            "known_devices WHERE user_id = (SELECT id FROM users WHERE email = 'bob@example.com')"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn settled_webhook_deliveries_go_and_recent_ones_stay() {
    let StaffApp { app, admin, .. } = staff_app_with(|config| {
        every_second(config);
        config.webhook_allow_private = true;
    })
    .await;
    let receiver = Receiver::start().await;
    let reply = app
        .request(
            Method::POST,
            "/api/v1/admin/webhooks",
            Some(&admin.access),
            Some(json!({ "url": receiver.url, "events": ["user.registered"] })),
        )
        .await;
    assert_eq!(reply.status, reqwest::StatusCode::CREATED, "{}", reply.body);
    let people = ["old-failure", "orphan", "delivered", "new-failure"];
    for name in people {
        app.register(&format!("{name}@example.com")).await;
    }
    receiver.wait_for(people.len()).await;
    eventually("every delivery is recorded as delivered", || async {
        count(&app, "webhook_deliveries WHERE status = 'delivered'").await == people.len()
    })
    .await;
    let change = |name: &str, set: &str| {
        format!(
            "UPDATE webhook_deliveries SET {set} WHERE payload LIKE '%\"{name}@example.com\"%' \
             RETURNING 'x' AS value"
        )
    };
    let changes = [
        // Given up on for an event eight days old.
        change(
            "old-failure",
            "status = 'failed', delivered_at = NULL, \
             created_at = '2000-01-01T00:00:00.000000Z'",
        ),
        // Queued for an endpoint deleted meanwhile (the event's id names no endpoint).
        change(
            "orphan",
            "status = 'pending', delivered_at = NULL, endpoint_id = event_id",
        ),
        change("new-failure", "status = 'failed', delivered_at = NULL"),
    ];
    for sql in changes {
        assert_eq!(app.query_text(&sql).await.len(), 1, "{sql}");
    }

    eventually("the old failure and the orphan are removed", || async {
        count(&app, "webhook_deliveries").await == 2
    })
    .await;
    for (name, status) in [("delivered", "delivered"), ("new-failure", "failed")] {
        let left = format!(
            "webhook_deliveries WHERE status = '{status}' AND payload LIKE '%\"{name}@example.com\"%'"
        );
        assert_eq!(count(&app, &left).await, 1, "{name} stays");
    }
}
