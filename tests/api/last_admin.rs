//! The last active admin can be neither demoted, deactivated nor deleted, even by two
//! admins acting at the same moment.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, PASSWORD, Reply, TestApp, Tokens, set_role, staff_app, user_path,
};

async fn set_active(app: &TestApp, token: &str, id: &str, active: bool) -> Reply {
    app.request(
        Method::PATCH,
        &user_path(id),
        Some(token),
        Some(json!({ "is_active": active })),
    )
    .await
}

async fn delete_user(app: &TestApp, token: &str, id: &str) -> Reply {
    app.request(Method::DELETE, &user_path(id), Some(token), None)
        .await
}

/// The active admins' emails, read through the API by `token`.
async fn active_admins(app: &TestApp, token: &str) -> Value {
    let reply = app
        .get(
            "/api/v1/admin/users?role=admin&is_active=true&sort=email",
            token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// The active admins' emails, read straight from the database.
async fn stored_active_admins(app: &TestApp) -> Vec<String> {
    // `is_active` is a boolean on PostgreSQL and an integer on SQLite; NOT NOT works on both.
    app.query_text(
        "SELECT email AS value FROM users WHERE role = 'admin' AND NOT NOT is_active ORDER BY email",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_active_admin_cannot_be_demoted_deactivated_or_deleted() {
    let s = staff_app().await;
    let (app, admin) = (&s.app, &s.admin);

    let demote_to_sub_admin = set_role(app, &admin.access, &admin.user_id, "sub_admin").await;
    let demote_to_user = set_role(app, &admin.access, &admin.user_id, "user").await;
    let deactivate = set_active(app, &admin.access, &admin.user_id, false).await;
    let delete = delete_user(app, &admin.access, &admin.user_id).await;
    let keep_role = set_role(app, &admin.access, &admin.user_id, "admin").await;

    for reply in [&demote_to_sub_admin, &demote_to_user, &deactivate, &delete] {
        reply.assert_problem(409, "last_admin");
    }
    assert_eq!(
        keep_role.status,
        StatusCode::OK,
        "re-stating the role is no demotion"
    );
    let me = app.api().get_me(&admin.access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["role"], "admin");
    assert_eq!(me.body["is_active"], true);
    assert_eq!(stored_active_admins(app).await, [ADMIN_EMAIL]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_admin_cannot_delete_itself_through_users_me() {
    let s = staff_app().await;

    let reply = s
        .app
        .request(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&s.admin.access),
            Some(json!({ "password": PASSWORD })),
        )
        .await;

    reply.assert_problem(409, "last_admin");
    assert_eq!(
        s.app.api().get_me(&s.admin.access).await.status,
        StatusCode::OK
    );
    assert_eq!(stored_active_admins(&s.app).await, [ADMIN_EMAIL]);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_second_admin_one_can_go_but_then_the_other_is_the_last() {
    let s = staff_app().await;
    let app = &s.app;
    let second = app
        .signed_in_as(&s.admin.access, "second@example.com", "admin")
        .await;

    let demoted = set_role(app, &second.access, &s.admin.user_id, "sub_admin").await;
    let self_demotion = set_role(app, &second.access, &second.user_id, "user").await;
    let self_deactivation = set_active(app, &second.access, &second.user_id, false).await;

    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    assert_eq!(demoted.body["role"], "sub_admin");
    self_demotion.assert_problem(409, "last_admin");
    self_deactivation.assert_problem(409, "last_admin");
    let admins = active_admins(app, &second.access).await;
    assert_eq!(admins["total"], 1);
    assert_eq!(admins["items"][0]["email"], "second@example.com");

    // Promoted back, the first admin may now delete itself, leaving the second.
    let promoted = set_role(app, &second.access, &s.admin.user_id, "admin").await;
    let deleted = app
        .request(
            Method::DELETE,
            "/api/v1/users/me",
            Some(&s.admin.access),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(stored_active_admins(app).await, ["second@example.com"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inactive_admin_does_not_count_as_another_admin() {
    let s = staff_app().await;
    let app = &s.app;
    let created = app
        .request(
            Method::POST,
            "/api/v1/admin/users",
            Some(&s.admin.access),
            Some(json!({ "email": "dormant@example.com", "password": PASSWORD, "role": "admin", "is_active": false })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    set_role(app, &s.admin.access, &s.admin.user_id, "user")
        .await
        .assert_problem(409, "last_admin");
    set_active(app, &s.admin.access, &s.admin.user_id, false)
        .await
        .assert_problem(409, "last_admin");
    delete_user(app, &s.admin.access, &s.admin.user_id)
        .await
        .assert_problem(409, "last_admin");

    let dormant = created.body["id"].as_str().unwrap_or_default();
    assert_eq!(
        set_active(app, &s.admin.access, dormant, true).await.status,
        StatusCode::OK
    );
    assert_eq!(
        set_role(app, &s.admin.access, &s.admin.user_id, "user")
            .await
            .status,
        StatusCode::OK,
        "once the other admin is active, the first may step down"
    );
}

/// Two admins, each signed in: the bootstrap admin and `email`.
async fn two_admins(app: &TestApp, first: &Tokens, email: &str) -> Tokens {
    app.signed_in_as(&first.access, email, "admin").await
}

/// The loser of a race is refused: `last_admin`, or `forbidden` / `session_revoked` when
/// the winner's change had already reached it before its own check ran.
#[track_caller]
fn assert_refused(reply: &Reply, round: usize) {
    let code = reply.body["code"].as_str().unwrap_or_default();
    match (reply.status.as_u16(), code) {
        (409, "last_admin") | (403, "forbidden") | (401, "session_revoked") => {}
        other => panic!("round {round}: the loser got {other:?}: {}", reply.body),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_admins_demoting_each_other_at_once_leave_exactly_one_admin() {
    let s = staff_app().await;
    let app = &s.app;
    let (a, b) = (
        s.admin.clone(),
        two_admins(app, &s.admin, "b@example.com").await,
    );
    // B calls a second instance, so only the database can keep the two apart.
    let replica = app.replica(|_| {}).await;

    for round in 0..6 {
        let (a_demotes_b, b_demotes_a) = tokio::join!(
            set_role(app, &a.access, &b.user_id, "user"),
            set_role(&replica, &b.access, &a.user_id, "user"),
        );

        let won = [&a_demotes_b, &b_demotes_a]
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        assert_eq!(
            won, 1,
            "round {round}: {} / {}",
            a_demotes_b.body, b_demotes_a.body
        );
        let (winner, loser, refused) = if a_demotes_b.status == StatusCode::OK {
            (&a, &b, &b_demotes_a)
        } else {
            (&b, &a, &a_demotes_b)
        };
        assert_refused(refused, round);
        let admins = active_admins(app, &winner.access).await;
        assert_eq!(admins["total"], 1, "round {round}: {admins}");
        assert_eq!(admins["items"][0]["id"], winner.user_id.as_str());
        assert_eq!(stored_active_admins(app).await.len(), 1, "round {round}");

        let restored = set_role(app, &winner.access, &loser.user_id, "admin").await;
        assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_admins_deactivating_each_other_at_once_leave_exactly_one_active_admin() {
    let s = staff_app().await;
    let app = &s.app;
    let mut a = s.admin.clone();
    let mut b = two_admins(app, &s.admin, "b@example.com").await;

    for round in 0..4 {
        let (a_on_b, b_on_a) = tokio::join!(
            set_active(app, &a.access, &b.user_id, false),
            set_active(app, &b.access, &a.user_id, false),
        );

        let won = [&a_on_b, &b_on_a]
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        assert_eq!(won, 1, "round {round}: {} / {}", a_on_b.body, b_on_a.body);
        let (winner, loser, refused) = if a_on_b.status == StatusCode::OK {
            (a.clone(), b.clone(), &b_on_a)
        } else {
            (b.clone(), a.clone(), &a_on_b)
        };
        assert_refused(refused, round);
        let admins = active_admins(app, &winner.access).await;
        assert_eq!(admins["total"], 1, "round {round}: {admins}");
        assert_eq!(stored_active_admins(app).await.len(), 1, "round {round}");

        let restored = set_active(app, &winner.access, &loser.user_id, true).await;
        assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
        let email = restored.body["email"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let signed_in = app.logged_in(&email).await;
        (a, b) = (winner, signed_in);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_admins_deleting_each_other_at_once_leave_exactly_one_admin() {
    let s = staff_app().await;
    let app = &s.app;
    let mut a = s.admin.clone();

    for round in 0..4 {
        let b = two_admins(app, &a, &format!("b{round}@example.com")).await;

        let (a_on_b, b_on_a) = tokio::join!(
            delete_user(app, &a.access, &b.user_id),
            delete_user(app, &b.access, &a.user_id),
        );

        let won = [&a_on_b, &b_on_a]
            .iter()
            .filter(|r| r.status == StatusCode::NO_CONTENT)
            .count();
        assert_eq!(won, 1, "round {round}: {} / {}", a_on_b.body, b_on_a.body);
        let (winner, refused) = if a_on_b.status == StatusCode::NO_CONTENT {
            (a.clone(), &b_on_a)
        } else {
            (b.clone(), &a_on_b)
        };
        assert_refused(refused, round);
        let admins = active_admins(app, &winner.access).await;
        assert_eq!(admins["total"], 1, "round {round}: {admins}");
        assert_eq!(stored_active_admins(app).await.len(), 1, "round {round}");
        a = winner;
    }
}
