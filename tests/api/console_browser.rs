//! The web console in headless Chromium, every flow of the contract, on the configured
//! database. Screenshots of each page at 1280 and 375 px go to `target/screenshots/` (or
//! `$SCREENSHOT_DIR`); at 375 px no page may scroll sideways.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::browser::{Browser, with_browser};
use crate::helpers::mail::{MAIL_WAIT, spawn_with_mail};
use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, id_of, staff_app};

/// Submits the sign-in form. It does not wait for the page that follows: callers wait for
/// it (a heading or a message) before they go anywhere, or the form's redirect can land
/// after their `goto` and overtake it.
async fn sign_in(b: &Browser, identifier: &str, password: &str) {
    b.goto("/login").await;
    b.fill("Email, username or phone number", identifier).await;
    b.fill("Password", password).await;
    b.press("Sign in").await;
}

async fn sign_out(b: &Browser) {
    b.press("Sign out").await;
    b.heading("Sign in").await;
    b.sees(Some("status"), "You are signed out.").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_registers_and_manages_tasks_in_chromium() {
    let app = TestApp::spawn().await;
    with_browser(&app.address, |b| async move {
        b.goto("/").await;
        b.heading("Sign in").await;
        b.click_link("Create an account").await;
        b.heading("Create your account").await;
        b.fill("Email", "ada@example.com").await;
        b.fill("Username", "ada_l").await;
        b.fill("First name", "Ada").await;
        b.fill("Last name", "Lovelace").await;
        b.fill("Phone number", "+4915112345678").await;
        b.fill("Password", "short").await;
        b.fill("Confirm password", "short").await;
        b.press("Create account").await;
        b.sees(Some("alert"), "Please correct the marked fields.")
            .await;
        let password = b.field("Password").await;
        assert_eq!(
            password
                .attr("aria-invalid")
                .await
                .ok()
                .flatten()
                .as_deref(),
            Some("true")
        );
        assert_eq!(
            b.field("First name")
                .await
                .prop("value")
                .await
                .ok()
                .flatten()
                .as_deref(),
            Some("Ada")
        );
        b.screenshots("register-error").await;
        b.fill("Password", PASSWORD).await;
        b.fill("Confirm password", PASSWORD).await;
        b.press("Create account").await;

        b.heading("Your tasks").await;
        assert_eq!(b.path().await, "/dashboard");
        b.fill("Title", "Buy milk").await;
        b.fill("Description", "Oat, two litres").await;
        b.press("Add task").await;
        b.sees(Some("status"), "Task added.").await;
        b.fill("Title", "Write letter").await;
        b.press("Add task").await;
        b.sees(Some("status"), "Task added.").await;
        b.press_in("//tr[contains(., 'Buy milk')]", "Mark done")
            .await;
        b.sees(Some("status"), "Task saved.").await;
        b.click_link("Done").await;
        b.sees(None, "Buy milk").await;
        assert!(!b.text().await.contains("Write letter"));
        b.click_link("Open").await;
        b.sees(None, "Write letter").await;
        assert!(!b.text().await.contains("Buy milk"));
        b.click_link("All").await;
        b.press_in("//tr[contains(., 'Buy milk')]", "Mark not done")
            .await;
        b.sees(Some("status"), "Task saved.").await;
        b.screenshots("dashboard").await;

        b.click_link("Edit: Write letter").await;
        b.fill("New title", "Write a long letter").await;
        b.press("Save").await;
        b.sees(Some("status"), "Task saved.").await;
        b.sees(None, "Write a long letter").await;
        b.click_link("Delete: Write a long letter").await;
        b.sees(
            None,
            "Delete the task Write a long letter? This cannot be undone.",
        )
        .await;
        assert!(
            b.text().await.contains("Write a long letter"),
            "asking deletes nothing"
        );
        b.screenshots("dashboard-confirm-delete").await;
        b.press_in("//tr[@id='confirm']", "Delete").await;
        b.sees(Some("status"), "Task deleted.").await;
        assert!(!b.text().await.contains("Write a long letter"));
    })
    .await;
    let api = app.logged_in("ada@example.com").await;
    let tasks = app.get("/api/v1/tasks", &api.access).await;
    assert_eq!(tasks.body["total"], json!(1), "{}", tasks.body);
    assert_eq!(tasks.body["items"][0]["title"], json!("Buy milk"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_signs_in_by_email_username_and_phone_number_in_chromium() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/api/v1/users",
            json!({ "email": "grace@example.com", "password": PASSWORD,
                    "username": "grace_h", "phone_number": "+15555550123" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    with_browser(&app.address, |b| async move {
        b.goto("/login").await;
        b.screenshots("login").await;
        sign_in(&b, "grace@example.com", "not the password").await;
        b.sees(Some("alert"), "The sign-in details are not correct.")
            .await;
        assert_eq!(
            b.field("Email, username or phone number")
                .await
                .prop("value")
                .await
                .ok()
                .flatten()
                .as_deref(),
            Some("grace@example.com")
        );
        assert_eq!(
            b.field("Password")
                .await
                .prop("value")
                .await
                .ok()
                .flatten()
                .as_deref(),
            Some("")
        );
        b.screenshots("login-error").await;

        for identifier in ["GRACE@example.com", "Grace_H", "+15555550123"] {
            sign_in(&b, identifier, PASSWORD).await;
            b.heading("Your tasks").await;
            sign_out(&b).await;
        }

        b.goto("/no-such-page").await;
        b.heading("Page not found").await;
        b.screenshots("not-found").await;

        b.goto("/profile").await;
        b.heading("Sign in").await;
        assert_eq!(b.path().await, "/login?next=%2Fprofile");
        b.fill("Email, username or phone number", "grace_h").await;
        b.fill("Password", PASSWORD).await;
        b.press("Sign in").await;
        b.heading("Your profile").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_password_and_sessions_work_in_chromium() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;
    let other = app.logged_in("ada@example.com").await;
    let address = app.address.clone();
    let app_ref = &app;
    with_browser(&address, |b| async move {
        sign_in(&b, "ada@example.com", PASSWORD).await;
        b.heading("Your tasks").await;
        b.click_link("Profile").await;
        b.heading("Your profile").await;
        b.sees(None, "This session").await;
        let rows = b
            .client
            .find_all(fantoccini::Locator::XPath("//table//tbody/tr"))
            .await
            .unwrap_or_default();
        assert_eq!(rows.len(), 2, "this session and the API's");

        b.fill("First name", "Ada").await;
        b.fill("Phone number", "12345").await;
        b.press("Save").await;
        b.sees(Some("alert"), "Please correct the marked fields.")
            .await;
        let phone = b.field("Phone number").await;
        assert_eq!(
            phone.attr("aria-invalid").await.ok().flatten().as_deref(),
            Some("true")
        );
        assert_eq!(
            phone
                .attr("aria-describedby")
                .await
                .ok()
                .flatten()
                .as_deref(),
            Some("f-phone_number-error")
        );
        b.fill("Phone number", "+4915112345678").await;
        b.press("Save").await;
        b.sees(Some("status"), "Profile saved.").await;
        assert_eq!(
            b.field("First name")
                .await
                .prop("value")
                .await
                .ok()
                .flatten()
                .as_deref(),
            Some("Ada")
        );
        b.screenshots("profile").await;

        let other_row = "//tbody/tr[not(.//span[contains(@class, 'badge')])]";
        let ask = b
            .client
            .wait()
            .at_most(std::time::Duration::from_secs(20))
            .for_element(fantoccini::Locator::XPath(&format!("{other_row}//summary")))
            .await
            .unwrap_or_else(|e| panic!("no Revoke… in the other session's row: {e}"));
        b.click(ask, "Revoke…").await;
        b.sees(None, "This session ends at once.").await;
        b.press_in(other_row, "Revoke").await;
        b.sees(Some("status"), "Session revoked.").await;
        app_ref.assert_session_revoked(&other).await;
        let again = app_ref.logged_in("ada@example.com").await;

        b.fill("Current password", "wrong password here").await;
        b.fill("New password", "a brand new passphrase").await;
        b.fill("Confirm new password", "a brand new passphrase")
            .await;
        b.press("Change password").await;
        b.sees(Some("alert"), "Please correct the marked fields.")
            .await;
        b.sees(None, "The current password is not correct.").await;
        b.fill("Current password", PASSWORD).await;
        b.fill("New password", "a brand new passphrase").await;
        b.fill("Confirm new password", "a brand new passphrase")
            .await;
        b.press("Change password").await;
        b.sees(Some("status"), "Password changed.").await;
        app_ref.assert_session_revoked(&again).await;

        let third = crate::helpers::Tokens::from(
            &app_ref
                .login("ada@example.com", "a brand new passphrase")
                .await
                .body,
        );
        b.open_details("Sign out everywhere else").await;
        b.sees(None, "Every session but this one ends at once.")
            .await;
        b.screenshots("profile-confirm-sign-out-elsewhere").await;
        b.press("Sign out everywhere else").await;
        b.sees(Some("status"), "All your other sessions were signed out.")
            .await;
        app_ref.assert_session_revoked(&third).await;

        b.open_details("Delete account").await;
        b.fill("Password", "a brand new passphrase").await;
        b.press_in("//form[@action='/profile/delete']", "Delete account")
            .await;
        b.heading("Sign in").await;
        b.sees(Some("status"), "Your account has been deleted.")
            .await;
    })
    .await;
    app.login("ada@example.com", "a brand new passphrase")
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_and_reset_password_through_the_mailed_link_in_chromium() {
    let (app, mail) =
        spawn_with_mail(|c| c.public_url = "https://accounts.example.test".into()).await;
    app.register("ada@example.com").await;
    let before = app.logged_in("ada@example.com").await;
    let app_ref = &app;
    let mail_ref = &mail;
    with_browser(&app.address, |b| async move {
        b.goto("/login").await;
        b.click_link("Forgot your password?").await;
        b.heading("Forgot your password?").await;
        b.screenshots("forgot-password").await;
        b.fill("Email", "ada@example.com").await;
        b.press("Send reset link").await;
        b.sees(Some("status"), "a reset link is on its way").await;
        let token = mail_ref
            .next_reset_mail(MAIL_WAIT)
            .await
            .reset_token("https://accounts.example.test");

        b.goto("/reset-password?token=not-a-token").await;
        b.sees(Some("alert"), "unknown, expired or already used")
            .await;
        b.screenshots("reset-password-invalid").await;

        b.goto(&format!("/reset-password?token={token}")).await;
        b.heading("Set a new password").await;
        b.screenshots("reset-password").await;
        b.fill("New password", "a brand new passphrase").await;
        b.fill("Confirm new password", "a brand new passphrase")
            .await;
        b.press("Set new password").await;
        b.heading("Sign in").await;
        b.sees(Some("status"), "Your password is set.").await;
        assert_eq!(b.path().await, "/login?notice=password_reset");
        app_ref.assert_session_revoked(&before).await;

        sign_in(&b, "ada@example.com", "a brand new passphrase").await;
        b.heading("Your tasks").await;

        b.goto(&format!("/reset-password?token={token}")).await;
        b.sees(Some("alert"), "unknown, expired or already used")
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_act_on_users_by_role_in_chromium() {
    let staff = staff_app().await;
    let app = &staff.app;
    let user_id = id_of(&app.api().get_me(&staff.user.access).await.body);
    let admin_id = id_of(&app.api().get_me(&staff.admin.access).await.body);
    let (user_page, admin_page) = (
        format!("/admin-dashboard/users/{user_id}"),
        format!("/admin-dashboard/users/{admin_id}"),
    );
    with_browser(&app.address, |b| async move {
        // A plain user: the admin page is refused.
        sign_in(&b, "user@example.com", PASSWORD).await;
        b.heading("Your tasks").await;
        assert!(!b.text().await.contains("Admin"));
        b.goto("/admin-dashboard").await;
        b.heading("Not allowed").await;
        b.screenshots("forbidden").await;
        b.goto("/dashboard").await;
        sign_out(&b).await;

        // A sub_admin: sees users, deactivates a user, may not create or touch staff.
        sign_in(&b, "sub@example.com", PASSWORD).await;
        b.click_link("Admin").await;
        b.heading("Admin dashboard").await;
        assert!(!b.text().await.contains("Create a user"));
        b.goto(&admin_page).await;
        b.sees(None, "Only an admin may see the sessions of staff.")
            .await;
        b.open_details("Revoke sessions").await;
        b.press("Revoke sessions").await;
        b.sees(Some("alert"), "Not allowed").await;
        b.goto(&user_page).await;
        b.open_details("Deactivate").await;
        b.press("Deactivate").await;
        b.sees(Some("status"), "deactivated").await;
        b.press("Activate").await;
        b.sees(Some("status"), "activated").await;
        sign_out(&b).await;

        // The admin: search, filter, create, role, last_admin, delete, audit.
        sign_in(&b, ADMIN_EMAIL, PASSWORD).await;
        b.heading("Your tasks").await;
        b.goto("/admin-dashboard").await;
        b.fill("Search", "sub@").await;
        b.press("Search").await;
        b.sees(None, "1 user").await;
        b.fill("Search", "").await;
        b.select("Role", "admin").await;
        b.press("Search").await;
        b.sees(None, ADMIN_EMAIL).await;
        assert!(!b.text().await.contains("user@example.com"));
        b.goto("/admin-dashboard").await;
        b.screenshots("admin-dashboard").await;
        b.fill("Email", "new@example.com").await;
        b.fill("Password", PASSWORD).await;
        b.fill("Confirm password", PASSWORD).await;
        b.select("Role (new user)", "sub_admin").await;
        b.press("Create user").await;
        b.sees(Some("status"), "User created.").await;
        b.heading("new@example.com").await;
        b.select("Role", "user").await;
        b.press("Change role").await;
        b.sees(
            Some("group"),
            "Change role of new@example.com from sub_admin to user?",
        )
        .await;
        b.screenshots("admin-user-confirm-role").await;
        b.press("Change role").await;
        b.sees(Some("status"), "the role was changed").await;
        b.open_details("Delete").await;
        b.press_in("//form[.//input[@value='delete']]", "Delete")
            .await;
        b.sees(Some("status"), "the user was deleted").await;

        b.goto(&admin_page).await;
        b.select("Role", "user").await;
        b.press("Change role").await;
        b.sees(Some("group"), "from admin to user?").await;
        b.press("Change role").await;
        b.sees(Some("alert"), "last_admin").await;
        b.screenshots("admin-user-last-admin").await;

        b.goto(&user_page).await;
        b.sees(None, "Live sessions").await;
        b.screenshots("admin-user").await;
        b.open_details("Revoke sessions").await;
        b.press("Revoke sessions").await;
        b.sees(Some("status"), "sessions were revoked").await;

        b.goto("/admin-dashboard").await;
        b.click_link("Audit events").await;
        b.heading("Audit events").await;
        b.select("Type", "user.deactivated").await;
        b.press("Filter").await;
        b.sees(None, "1 event").await;
        b.screenshots("audit-events").await;
    })
    .await;
    app.assert_session_revoked(&staff.user).await;
    let events = app
        .request(
            Method::GET,
            "/api/v1/admin/audit-events?type=user.role_changed",
            Some(&staff.admin.access),
            None,
        )
        .await;
    assert_eq!(events.body["total"], json!(1), "{}", events.body);
}

/// Swagger UI finds operations by operationId: with two operations under one id (as
/// `create_user` once was), Register's "Try it out" went to `/api/v1/admin/users`.
#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_registers_logs_in_authorizes_and_reads_the_user_in_chromium() {
    let app = TestApp::spawn().await;
    with_browser(&app.address, |b| async move {
        b.goto("/docs/").await;
        let op = |path: &str, method: &str| {
            format!("//div[contains(@class,'opblock-{method}')][.//*[@data-path='{path}']]")
        };
        try_it(&b, &op("/api/v1/users", "post"),
            r#"{"email": "swag@example.com", "password": "correct horse battery staple"}"#, "201").await;
        let login = op("/api/v1/auth/login", "post");
        try_it(&b, &login,
            r#"{"email": "swag@example.com", "password": "correct horse battery staple"}"#, "200").await;
        let body = b.client
            .find(fantoccini::Locator::XPath(&format!("{login}//table[contains(@class,'live-responses-table')]//pre[contains(., 'access_token')]")))
            .await
            .expect("the element is on the page")
            .text()
            .await
            .unwrap_or_default();
        let start = body.find("\"access_token\": \"").unwrap_or_else(|| panic!("{body}")) + 17;
        let token = &body[start..start + body[start..].find('"').unwrap_or(0)];

        b.press("Authorize").await;
        let input = b.client
            .wait()
            .for_element(fantoccini::Locator::XPath("//div[contains(@class,'modal-ux')]//input"))
            .await
            .expect("the element is on the page");
        input.send_keys(token).await.expect("the browser types");
        b.press_in("//div[contains(@class,'modal-ux')]", "Authorize").await;
        b.press_in("//div[contains(@class,'modal-ux')]", "Close").await;
        try_it(&b, &op("/api/v1/users/me", "get"), "", "200").await;
        let me = b.client
            .find(fantoccini::Locator::XPath(&format!("{}//table[contains(@class,'live-responses-table')]", op("/api/v1/users/me", "get"))))
            .await
            .expect("the element is on the page")
            .text()
            .await
            .unwrap_or_default();
        assert!(me.contains("swag@example.com"), "{me}");
    })
    .await;
}

/// Opens an operation, "Try it out", types `body` (if any), executes, and waits for `status`.
async fn try_it(b: &Browser, op: &str, body: &str, status: &str) {
    let summary = format!("{op}//button[contains(@class,'opblock-summary-control')]");
    b.client
        .wait()
        .for_element(fantoccini::Locator::XPath(&summary))
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
        .click()
        .await
        .expect("the browser clicks");
    b.press_in(op, "Try it out").await;
    if !body.is_empty() {
        let area = b
            .client
            .wait()
            .for_element(fantoccini::Locator::XPath(&format!(
                "{op}//textarea[contains(@class,'body-param__text')]"
            )))
            .await
            .expect("the element is on the page");
        area.clear().await.expect("the browser clears the field");
        area.send_keys(body).await.expect("the browser types");
    }
    b.press_in(op, "Execute").await;
    let answer = b
        .client
        .wait()
        .for_element(fantoccini::Locator::XPath(&format!(
            "{op}//table[contains(@class,'live-responses-table')]//tbody//td[contains(@class,'response-col_status')]"
        )))
        .await
        .unwrap_or_else(|e| panic!("{op} did not answer: {e}"));
    let got = answer.text().await.unwrap_or_default();
    let url = match b
        .client
        .find(fantoccini::Locator::XPath(&format!(
            "{op}//div[contains(@class,'request-url')]"
        )))
        .await
    {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    assert_eq!(got.trim(), status, "{op} was sent to {url}");
}
