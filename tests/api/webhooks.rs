//! Webhooks per Standard Webhooks, delivered to a receiver on loopback: signatures, retries
//! with one `webhook-id`, the outbox's transactions, restarts, two instances, and the
//! refusal of private addresses.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::browser::with_browser;
use crate::helpers::process::{Running, doorman, serve};
use crate::helpers::receiver::{Receiver, signature_verifies};
use crate::helpers::visitor::Visitor;
use crate::helpers::{
    ADMIN_EMAIL, PASSWORD, StaffApp, TestApp, TestDb, staff_app_with, test_config,
    with_bootstrap_admin,
};

const WEBHOOKS: &str = "/api/v1/admin/webhooks";

/// Loopback receivers allowed, and retries 50 ms apart (then 100, 200, …) instead of 5 s.
fn on_loopback(config: &mut doorman::config::Config) {
    config.webhook_allow_private = true;
    config.webhook_retry_base = Duration::from_millis(50);
}

/// Registers `url` for `events`; returns the created endpoint (with its `secret`).
async fn create_webhook(app: &TestApp, token: &str, url: &str, events: Value) -> Value {
    let reply = app
        .request(
            Method::POST,
            WEBHOOKS,
            Some(token),
            Some(json!({ "url": url, "events": events })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn deliveries(app: &TestApp, token: &str, webhook: &Value) -> Value {
    let path = format!(
        "{WEBHOOKS}/{}/deliveries",
        webhook["id"].as_str().unwrap_or("")
    );
    let reply = app.get(&path, token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// Waits until every delivery of `webhook` satisfies `done` (failing the test if never).
async fn deliveries_until(
    app: &TestApp,
    token: &str,
    webhook: &Value,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..1500 {
        let page = deliveries(app, token, webhook).await;
        if page["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty() && items.iter().all(&done))
        {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "deliveries never settled: {}",
        deliveries(app, token, webhook).await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_is_delivered_signed_per_standard_webhooks() {
    let StaffApp { app, admin, .. } = staff_app_with(on_loopback).await;
    let receiver = Receiver::start().await;
    let webhook = create_webhook(
        &app,
        &admin.access,
        &receiver.url,
        json!(["user.registered"]),
    )
    .await;
    let secret = webhook["secret"].as_str().unwrap_or_default().to_owned();

    let user = app.register("ada@example.com").await;

    let hooks = receiver.wait_for(1).await;
    let hook = &hooks[0];
    assert!(signature_verifies(&secret, hook), "{hook:?}");
    assert!(!signature_verifies(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        hook
    ));
    assert_eq!(hook.content_type, "application/json");
    let body = hook.json();
    assert_eq!(body["type"], "user.registered");
    assert!(body["timestamp"].is_string());
    assert_eq!(body["data"]["type"], "user.registered");
    assert_eq!(body["data"]["subject_id"], user["id"]);
    assert_eq!(body["data"]["user"]["email"], "ada@example.com");
    assert!(body["data"]["user"].get("password_hash").is_none());
    let page = deliveries_until(&app, &admin.access, &webhook, |d| {
        d["status"] == "delivered"
    })
    .await;
    let delivery = &page["items"][0];
    assert_eq!(page["total"], 1);
    assert_eq!(delivery["id"].as_str(), Some(hook.id.as_str()));
    assert_eq!(delivery["type"], "user.registered");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status_code"], 204);
    assert!(delivery["delivered_at"].is_string());
    assert!(delivery["next_attempt_at"].is_null());
    assert!(delivery["event_id"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_fails_twice_gets_the_same_webhook_id_three_times() {
    let StaffApp { app, admin, .. } = staff_app_with(on_loopback).await;
    let receiver = Receiver::failing(2).await;
    let webhook = create_webhook(&app, &admin.access, &receiver.url, json!(["*"])).await;
    let secret = webhook["secret"].as_str().unwrap_or_default().to_owned();

    app.register("ada@example.com").await;

    let hooks = receiver.wait_for(3).await;
    let statuses: Vec<u16> = hooks.iter().map(|h| h.status).collect();
    assert_eq!(statuses, [500, 500, 204]);
    assert!(hooks.iter().all(|h| h.id == hooks[0].id), "{hooks:?}");
    assert!(hooks.iter().all(|h| h.body == hooks[0].body));
    assert!(hooks.iter().all(|h| signature_verifies(&secret, h)));
    let page = deliveries_until(&app, &admin.access, &webhook, |d| {
        d["status"] == "delivered"
    })
    .await;
    assert_eq!(page["items"][0]["attempts"], 3);
    assert_eq!(page["total"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolled_back_change_sends_nothing() {
    let StaffApp { app, admin, .. } = staff_app_with(on_loopback).await;
    let receiver = Receiver::start().await;
    let webhook = create_webhook(
        &app,
        &admin.access,
        &receiver.url,
        json!(["user.registered"]),
    )
    .await;
    app.register("ada@example.com").await;

    let duplicate = app
        .post(
            "/api/v1/users",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    duplicate.assert_problem(409, "email_taken");
    app.register("grace@example.com").await;

    let page = deliveries_until(&app, &admin.access, &webhook, |d| {
        d["status"] == "delivered"
    })
    .await;
    assert_eq!(page["total"], 2, "{page}");
    let mut emails: Vec<String> = receiver
        .wait_for(2)
        .await
        .iter()
        .map(|h| {
            h.json()["data"]["user"]["email"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    // Deliveries claimed together go out at once, in no promised order.
    emails.sort();
    assert_eq!(emails, ["ada@example.com", "grace@example.com"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsubscribed_type_and_a_paused_endpoint_send_nothing() {
    let StaffApp { app, admin, .. } = staff_app_with(on_loopback).await;
    let receiver = Receiver::start().await;
    let deleted = create_webhook(&app, &admin.access, &receiver.url, json!(["user.deleted"])).await;
    let paused = create_webhook(&app, &admin.access, &receiver.url, json!(["*"])).await;
    let path = format!("{WEBHOOKS}/{}", paused["id"].as_str().unwrap_or(""));
    let reply = app
        .request(
            Method::PATCH,
            &path,
            Some(&admin.access),
            Some(json!({ "is_active": false })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["is_active"], false);

    app.register("ada@example.com").await;

    assert_eq!(deliveries(&app, &admin.access, &deleted).await["total"], 0);
    assert_eq!(deliveries(&app, &admin.access, &paused).await["total"], 0);
    assert!(receiver.hooks().is_empty());
}

/// `doorman serve` as a process on `db`, with the bootstrap admin, loopback receivers and
/// retries a second apart; and a client of it configured for `db` (for the next instance).
fn served(db: &TestDb) -> (Running, TestApp) {
    let (process, log) = serve(
        doorman(&db.url())
            .env("DOORMAN_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("DOORMAN_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
            .env("DOORMAN_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("DOORMAN_WEBHOOK_RETRY_BASE", "1s"),
    );
    let base = log
        .iter()
        .find_map(|line| line.split("health:").nth(1))
        .map(|rest| rest.trim().trim_end_matches("/health/ready").to_owned())
        .unwrap_or_else(|| panic!("no address in {log:?}"));
    let mut config = test_config(db.url());
    on_loopback(&mut config);
    (process, TestApp::at(base, config))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_in_the_middle_loses_nothing() {
    let db = TestDb::create().await;
    let receiver = Receiver::failing(usize::MAX).await;
    let (first, before) = served(&db);
    let mut config = before.config.clone();
    let admin = before.logged_in(ADMIN_EMAIL).await;
    let webhook = create_webhook(
        &before,
        &admin.access,
        &receiver.url,
        json!(["user.registered"]),
    )
    .await;
    let secret = webhook["secret"].as_str().unwrap_or_default().to_owned();
    before.register("ada@example.com").await;
    let failed = receiver.wait_for(1).await;

    drop(first);
    receiver.recover();
    with_bootstrap_admin(&mut config);
    let after = TestApp::on_database(config).await;

    let delivered = loop {
        let hooks = receiver.wait_for(1).await;
        if let Some(hook) = hooks.iter().find(|h| h.status == 204) {
            break hook.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        delivered.id, failed[0].id,
        "the same message, not a new one"
    );
    assert!(signature_verifies(&secret, &delivered));
    assert_eq!(delivered.json()["data"]["user"]["email"], "ada@example.com");
    let admin = after.logged_in(ADMIN_EMAIL).await;
    let page = deliveries_until(&after, &admin.access, &webhook, |d| {
        d["status"] == "delivered"
    })
    .await;
    assert_eq!(page["total"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_database_deliver_each_event_once() {
    let StaffApp { app, admin, .. } = staff_app_with(on_loopback).await;
    let other = app.replica(|_| {}).await;
    let receiver = Receiver::start().await;
    let webhook = create_webhook(
        &app,
        &admin.access,
        &receiver.url,
        json!(["user.registered"]),
    )
    .await;
    // The other instance learns of the new endpoint at its next poll (about a second).
    for probe in 0.. {
        other.register(&format!("probe{probe}@example.com")).await;
        if deliveries(&app, &admin.access, &webhook).await["total"] != 0 {
            break;
        }
        assert!(probe < 300, "the other instance never saw the endpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let count = 30;
    for n in 0..count {
        let instance = if n % 2 == 0 { &app } else { &other };
        instance.register(&format!("user{n}@example.com")).await;
    }

    let page = deliveries_until(&app, &admin.access, &webhook, |d| {
        d["status"] == "delivered"
    })
    .await;
    let expected = count + 1;
    assert_eq!(page["total"], expected);
    let hooks = receiver.wait_for(expected as usize).await;
    let mut ids: Vec<&str> = hooks.iter().map(|h| h.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(hooks.len(), expected as usize, "one request per event");
    assert_eq!(ids.len(), expected as usize);
    assert!(
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|d| d["attempts"] == 1)
    );
}

/// What `receiver` got about the user with `email`.
fn hooks_about(receiver: &Receiver, email: &str) -> usize {
    receiver
        .hooks()
        .iter()
        .filter(|hook| hook.json()["data"]["user"]["email"] == email)
        .count()
}

/// How an instance stops in [`stopped_with_a_delivery_unattempted`].
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    /// SIGTERM: the worker ends its turn and frees what it was handed and did not attempt.
    Gracefully,
    /// SIGKILL: what it leased stays leased until the lease (30 s) ends.
    Crashing,
}

/// An instance is stopped while a delivery it queued waits for its worker (busy with a
/// receiver that has not answered yet); the next instance on the database sends it, once.
/// Returns the hooks the receiver got.
async fn stopped_with_a_delivery_unattempted(stop: Stop) -> Vec<crate::helpers::receiver::Hook> {
    let db = TestDb::create().await;
    let receiver = Receiver::holding().await;
    let (first, before) = served(&db);
    let mut config = before.config.clone();
    let admin = before.logged_in(ADMIN_EMAIL).await;
    create_webhook(
        &before,
        &admin.access,
        &receiver.url,
        json!(["user.registered"]),
    )
    .await;
    before.register("held@example.com").await;
    receiver.wait_for(1).await;
    // Queued (leased to the first instance's worker, which waits for the receiver).
    before.register("ada@example.com").await;
    match stop {
        Stop::Gracefully => {
            first.terminate();
            receiver.recover();
            let status = tokio::task::spawn_blocking(move || first.exit_status())
                .await
                .expect("the process was waited for");
            assert!(status.success(), "{status}");
        }
        Stop::Crashing => {
            drop(first);
            receiver.recover();
        }
    }
    assert_eq!(hooks_about(&receiver, "ada@example.com"), 0);

    with_bootstrap_admin(&mut config);
    let after = TestApp::on_database(config).await;
    // A freed delivery goes out at the next instance's first poll; a leased one when its
    // lease ends (`wait_for` gives up after a minute).
    let tries = if stop == Stop::Gracefully { 500 } else { 3000 };
    for _ in 0..tries {
        if hooks_about(&receiver, "ada@example.com") != 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        hooks_about(&receiver, "ada@example.com"),
        1,
        "sent once, within {} s: {:?}",
        tries / 50,
        receiver.hooks()
    );
    let admin = after.logged_in(ADMIN_EMAIL).await;
    let webhooks = after.get(WEBHOOKS, &admin.access).await;
    let page = deliveries_until(&after, &admin.access, &webhooks.body["items"][0], |d| {
        d["status"] == "delivered"
    })
    .await;
    assert_eq!(page["total"], 2);
    receiver.hooks()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_stopping_frees_the_deliveries_it_did_not_attempt() {
    let hooks = stopped_with_a_delivery_unattempted(Stop::Gracefully).await;
    // The held request was answered before the first instance exited: sent once.
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert!(hooks.iter().all(|hook| hook.status == 204), "{hooks:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_instance_s_leased_deliveries_are_sent_once_their_lease_ends() {
    let hooks = stopped_with_a_delivery_unattempted(Stop::Crashing).await;
    // The held request died with its sender, so it was sent again, as the same message.
    let held: Vec<_> = hooks
        .iter()
        .filter(|hook| hook.json()["data"]["user"]["email"] == "held@example.com")
        .collect();
    assert_eq!(held.len(), 2, "{hooks:?}");
    assert_eq!(held[0].id, held[1].id);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_changed_on_another_instance_a_moment_ago_gets_what_it_now_receives() {
    let StaffApp { app, admin, .. } = staff_app_with(on_loopback).await;
    let other = app.replica(|_| {}).await;
    let (kept, narrowed, deleted, paused) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let all = json!(["user.registered"]);
    create_webhook(&app, &admin.access, &kept.url, all.clone()).await;
    let narrowed_hook = create_webhook(&app, &admin.access, &narrowed.url, json!(["*"])).await;
    let deleted_hook = create_webhook(&app, &admin.access, &deleted.url, all.clone()).await;
    let paused_hook = create_webhook(&app, &admin.access, &paused.url, all).await;
    // The other instance reads the endpoints at its next poll (about a second).
    for probe in 0.. {
        let email = format!("probe{probe}@example.com");
        other.register(&email).await;
        if deliveries(&app, &admin.access, &paused_hook).await["total"] != 0 {
            break;
        }
        assert!(probe < 300, "the other instance never saw the endpoints");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Changed here; the other instance still holds what it read, for up to a poll.
    let path = |hook: &Value| format!("{WEBHOOKS}/{}", hook["id"].as_str().unwrap_or(""));
    for (hook, change) in [
        (&narrowed_hook, json!({ "events": ["user.deleted"] })),
        (&paused_hook, json!({ "is_active": false })),
    ] {
        let reply = app
            .request(
                Method::PATCH,
                &path(hook),
                Some(&admin.access),
                Some(change),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let reply = app
        .request(
            Method::DELETE,
            &path(&deleted_hook),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let paused_before = deliveries(&app, &admin.access, &paused_hook).await["total"].clone();

    let user = other.register("late@example.com").await;
    assert_eq!(user["email"], "late@example.com");

    for _ in 0..1500 {
        if hooks_about(&kept, "late@example.com") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        hooks_about(&kept, "late@example.com"),
        1,
        "the unchanged endpoint"
    );
    assert_eq!(hooks_about(&narrowed, "late@example.com"), 0);
    assert_eq!(hooks_about(&deleted, "late@example.com"), 0);
    assert_eq!(hooks_about(&paused, "late@example.com"), 0);
    assert_eq!(
        deliveries(&app, &admin.access, &paused_hook).await["total"],
        paused_before,
        "nothing queued for a paused endpoint"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_batch_records_a_delivered_and_a_refused_attempt_each_as_it_ended() {
    let StaffApp { app, admin, .. } = staff_app_with(on_loopback).await;
    let (good, bad) = (Receiver::start().await, Receiver::failing(usize::MAX).await);
    let events = json!(["user.registered"]);
    let delivered = create_webhook(&app, &admin.access, &good.url, events.clone()).await;
    let refused = create_webhook(&app, &admin.access, &bad.url, events).await;

    app.register("ada@example.com").await;

    good.wait_for(1).await;
    bad.wait_for(2).await;
    let page = deliveries_until(&app, &admin.access, &delivered, |d| {
        d["status"] == "delivered"
    })
    .await;
    let sent = &page["items"][0];
    assert_eq!(page["total"], 1);
    assert_eq!(sent["attempts"], 1);
    assert_eq!(sent["last_status_code"], 204);
    assert!(sent["last_error"].is_null());
    assert!(sent["next_attempt_at"].is_null());
    assert!(sent["delivered_at"].is_string());
    let page = deliveries_until(&app, &admin.access, &refused, |d| {
        d["attempts"].as_i64().is_some_and(|n| n >= 2)
    })
    .await;
    let retried = &page["items"][0];
    assert_eq!(page["total"], 1);
    assert_eq!(retried["status"], "pending");
    assert_eq!(retried["last_status_code"], 500);
    assert_eq!(retried["last_error"], "answered 500");
    assert!(retried["next_attempt_at"].is_string());
    assert!(retried["delivered_at"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn private_addresses_are_refused_without_the_flag() {
    let StaffApp { app, admin, .. } = staff_app_with(|_| {}).await;
    for url in [
        "http://127.0.0.1:9/hooks",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://169.254.169.254/latest",
    ] {
        let reply = app
            .request(
                Method::POST,
                WEBHOOKS,
                Some(&admin.access),
                Some(json!({ "url": url, "events": ["*"] })),
            )
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(
            reply.field_errors(),
            [("url".to_owned(), "private_address".to_owned())],
            "{url}"
        );
    }
    let receiver = Receiver::start().await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let webhook = create_webhook(&app, &admin.access, &by_name, json!(["user.registered"])).await;

    app.register("ada@example.com").await;

    let page = deliveries_until(&app, &admin.access, &webhook, |d| d["attempts"] != 0).await;
    let delivery = &page["items"][0];
    assert_eq!(delivery["status"], "pending");
    assert!(
        delivery["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{delivery}"
    );
    assert!(
        receiver.hooks().is_empty(),
        "nothing reached the private address"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_endpoints_are_managed_by_admins_only() {
    let StaffApp {
        app,
        admin,
        sub_admin,
        ..
    } = staff_app_with(on_loopback).await;
    let body = json!({ "url": "https://hooks.example.com/x", "events": ["user.registered"] });
    app.request(
        Method::POST,
        WEBHOOKS,
        Some(&sub_admin.access),
        Some(body.clone()),
    )
    .await
    .assert_problem(403, "forbidden");
    app.request(Method::GET, WEBHOOKS, Some(&sub_admin.access), None)
        .await
        .assert_problem(403, "forbidden");

    for (bad, field, code) in [
        (
            json!({ "url": "ftp://hooks.example.com/", "events": ["*"] }),
            "url",
            "invalid_url",
        ),
        (
            json!({ "url": "not a url", "events": ["*"] }),
            "url",
            "invalid_url",
        ),
        (
            json!({ "url": "https://hooks.example.com/", "events": [] }),
            "events",
            "required",
        ),
        (
            json!({ "url": "https://hooks.example.com/", "events": ["user.nope"] }),
            "events",
            "invalid_event",
        ),
    ] {
        let reply = app
            .request(Method::POST, WEBHOOKS, Some(&admin.access), Some(bad))
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.field_errors(), [(field.to_owned(), code.to_owned())]);
    }

    let created = app
        .request(Method::POST, WEBHOOKS, Some(&admin.access), Some(body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(
        created.body["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    let path = format!("{WEBHOOKS}/{}", created.body["id"].as_str().unwrap_or(""));
    assert_eq!(created.header("location"), Some(path.as_str()));
    let shown = app.get(&path, &admin.access).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown.body.get("secret").is_none(),
        "the secret is shown once"
    );
    assert_eq!(shown.body["events"], json!(["user.registered"]));
    let listed = app.get(WEBHOOKS, &admin.access).await;
    assert_eq!(listed.body["total"], 1);
    assert!(listed.body["items"][0].get("secret").is_none());

    let patched = app
        .request(
            Method::PATCH,
            &path,
            Some(&admin.access),
            Some(json!({ "events": ["*"], "description": "CRM", "is_active": false })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["events"], json!(["*"]));
    assert_eq!(patched.body["description"], "CRM");
    assert_eq!(patched.body["is_active"], false);
    let audit = app
        .get(
            "/api/v1/admin/audit-events?type=webhook.updated",
            &admin.access,
        )
        .await;
    assert_eq!(audit.body["total"], 1, "{}", audit.body);

    let deleted = app
        .request(Method::DELETE, &path, Some(&admin.access), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&path, &admin.access)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("{path}/deliveries"), &admin.access)
        .await
        .assert_problem(404, "not_found");
}

/// The text of `<code id="webhook-secret">` on a page.
fn shown_secret(body: &str) -> String {
    let marker = "id=\"webhook-secret\">";
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no secret shown in:\n{body}"))
        + marker.len();
    let end = body[start..].find('<').unwrap_or(0) + start;
    body[start..end].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn on_the_console_an_admin_creates_pauses_and_deletes_a_webhook_and_sees_its_deliveries() {
    let StaffApp { app, .. } = staff_app_with(on_loopback).await;
    let admin = Visitor::new(&app);
    admin.sign_in(ADMIN_EMAIL, PASSWORD).await;
    let sub = Visitor::new(&app);
    sub.sign_in("sub@example.com", PASSWORD).await;
    let receiver = Receiver::start().await;
    assert!(
        admin
            .get("/admin-dashboard")
            .await
            .body
            .contains("href=\"/admin-dashboard/webhooks\"")
    );
    assert_eq!(
        sub.get("/admin-dashboard/webhooks").await.status,
        StatusCode::FORBIDDEN
    );
    let csrf = admin.csrf("/admin-dashboard/webhooks").await;

    let refused = admin
        .post(
            "/admin-dashboard/webhooks",
            &[
                ("csrf", csrf.as_str()),
                ("url", "ftp://x.example/"),
                ("events", "user.nope"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("Must be an http or https URL."),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("is not an audit event type"),
        "{}",
        refused.body
    );

    let created = admin
        .post(
            "/admin-dashboard/webhooks",
            &[
                ("csrf", csrf.as_str()),
                ("url", receiver.url.as_str()),
                ("events", "user.registered, user.deleted"),
                ("description", "CRM sync"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let secret = shown_secret(&created.body);
    assert!(secret.starts_with("whsec_"));
    let path = created
        .body
        .split("action=\"")
        .find(|rest| rest.starts_with("/admin-dashboard/webhooks/"))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    assert!(path.starts_with("/admin-dashboard/webhooks/"), "{path}");

    app.register("ada@example.com").await;
    let hooks = receiver.wait_for(1).await;
    assert!(signature_verifies(&secret, &hooks[0]));
    let mut shown = admin.get(&path).await;
    for _ in 0..500 {
        if shown
            .body
            .contains("<td data-label=\"Status\">delivered</td>")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        shown = admin.get(&path).await;
    }
    assert!(
        shown
            .body
            .contains("<td data-label=\"Status\">delivered</td>"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains(&hooks[0].id));
    assert!(!shown.body.contains(&secret), "the secret is shown once");

    let paused = admin
        .post(&path, &[("csrf", csrf.as_str()), ("action", "pause")])
        .await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER);
    assert!(admin.get(paused.location()).await.body.contains("Paused"));
    let deleted = admin
        .post(&path, &[("csrf", csrf.as_str()), ("action", "delete")])
        .await;
    assert_eq!(
        deleted.location(),
        "/admin-dashboard/webhooks?notice=webhook_deleted"
    );
    let list = admin.get(deleted.location()).await;
    assert!(list.body.contains("Done: the webhook was deleted."));
    assert!(list.body.contains("No webhooks yet."));
}

#[tokio::test(flavor = "multi_thread")]
async fn in_chromium_an_admin_creates_a_webhook_sees_its_secret_once_and_its_deliveries() {
    let StaffApp { app, .. } = staff_app_with(on_loopback).await;
    let receiver = Receiver::start().await;
    let base = app.address.clone();
    let app_ref = &app;
    let url = receiver.url.clone();
    with_browser(&base, |b| async move {
        b.goto("/login").await;
        b.fill("Email, username or phone number", ADMIN_EMAIL).await;
        b.fill("Password", PASSWORD).await;
        b.press("Sign in").await;
        b.heading("Your tasks").await;
        b.goto("/admin-dashboard").await;
        b.click_link("Webhooks").await;
        b.heading("Webhooks").await;
        b.sees(None, "No webhooks yet.").await;
        b.fill("URL", "ftp://x.example/").await;
        b.fill(
            "Events (audit types separated by commas, or *)",
            "user.nope",
        )
        .await;
        b.press("Create webhook").await;
        b.sees(None, "Must be an http or https URL.").await;
        b.screenshots("webhooks-error").await;

        b.fill("URL", &url).await;
        b.fill(
            "Events (audit types separated by commas, or *)",
            "user.registered, user.deleted",
        )
        .await;
        b.fill("Description (optional)", "CRM sync").await;
        b.press("Create webhook").await;
        b.sees(None, "whsec_").await;
        b.screenshots("webhook-created").await;

        app_ref.register("ada@example.com").await;
        receiver.wait_for(1).await;
        b.goto("/admin-dashboard/webhooks").await;
        b.sees(None, "CRM sync").await;
        b.screenshots("webhooks").await;
        b.click_link(&url).await;
        b.heading(&url).await;
        for _ in 0..100 {
            if b.text().await.contains("delivered") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            b.goto(&b.path().await).await;
        }
        b.sees(None, "delivered").await;
        assert!(
            !b.text().await.contains("whsec_"),
            "the secret is shown once"
        );
        b.screenshots("webhook").await;
        b.press("Pause").await;
        b.sees(None, "Paused").await;
        b.open_details("Delete…").await;
        b.press("Delete").await;
        b.sees(Some("status"), "the webhook was deleted").await;
        b.sees(None, "No webhooks yet.").await;
    })
    .await;
}
