//! Listing users: search, filters, sort and pages.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{USERS, emails, list};
use crate::helpers::{ADMIN_EMAIL, PASSWORD, Reply, StaffApp, staff_app, user_path};

/// Creates the listing fixtures in this order (so `created_at` order is known).
async fn listing_fixture() -> StaffApp {
    let s = staff_app().await;
    for body in [
        json!({ "email": "alice.smith@example.com", "password": PASSWORD, "username": "wonder", "first_name": "Alice", "last_name": "Smith" }),
        json!({ "email": "bob@example.org", "password": PASSWORD, "username": "Bobby_T", "first_name": "Robert", "last_name": "Jones", "role": "sub_admin" }),
        json!({ "email": "carol@example.net", "password": PASSWORD, "first_name": "Caroline", "last_name": "Whitesmith", "is_active": false }),
        json!({ "email": "dave@example.org", "password": PASSWORD, "role": "admin", "is_active": false }),
    ] {
        let reply = s.app.api().admin_create_user(&s.admin.access, &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    s
}

/// Every account of the listing fixture, oldest first.
const ALL_BY_CREATION: [&str; 7] = [
    ADMIN_EMAIL,
    "sub@example.com",
    "user@example.com",
    "alice.smith@example.com",
    "bob@example.org",
    "carol@example.net",
    "dave@example.org",
];

#[tokio::test(flavor = "multi_thread")]
async fn q_matches_email_username_first_or_last_name_case_insensitively() {
    let s = listing_fixture().await;
    let token = &s.sub_admin.access;

    let cases: [(&str, &[&str]); 7] = [
        ("SMITH", &["alice.smith@example.com", "carol@example.net"]),
        ("bobby", &["bob@example.org"]),
        ("rOBERT", &["bob@example.org"]),
        ("jones", &["bob@example.org"]),
        ("WONDER", &["alice.smith@example.com"]),
        ("EXAMPLE.ORG", &["bob@example.org", "dave@example.org"]),
        ("nobody-matches-this", &[]),
    ];
    for (q, expected) in cases {
        let page = list(&s.app, token, &format!("q={q}&sort=email")).await;
        assert_eq!(emails(&page), expected, "q={q}");
        assert_eq!(page["total"], expected.len(), "q={q}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn q_treats_like_wildcards_as_plain_characters() {
    let s = listing_fixture().await;

    let underscore = list(&s.app, &s.admin.access, "q=_").await;
    let percent = list(&s.app, &s.admin.access, "q=%25").await;

    assert_eq!(
        emails(&underscore),
        ["bob@example.org"],
        "only Bobby_T has a `_`"
    );
    assert_eq!(percent["total"], 0, "nobody has a `%`");
}

#[tokio::test(flavor = "multi_thread")]
async fn q_folds_the_case_of_non_ascii_names_too() {
    let s = staff_app().await;
    let body = json!({ "email": "emile@example.com", "password": PASSWORD, "first_name": "Émile", "last_name": "Ørsted" });
    let created = s.app.api().admin_create_user(&s.admin.access, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    let lower = list(&s.app, &s.admin.access, "q=émile").await;
    let upper = list(&s.app, &s.admin.access, "q=ØRSTED").await;

    assert_eq!(emails(&lower), ["emile@example.com"], "q=émile");
    assert_eq!(emails(&upper), ["emile@example.com"], "q=ØRSTED");
}

#[tokio::test(flavor = "multi_thread")]
async fn q_follows_renamed_and_deleted_users_and_takes_any_characters() {
    // On SQLite `q` of three characters or more reads a search table kept in step with
    // the users by triggers; shorter ones scan the users. Both must see every change.
    let s = listing_fixture().await;
    let token = &s.admin.access;
    let alice = list(&s.app, token, "q=wonder").await["items"][0]["id"]
        .as_str()
        .expect("alice's id")
        .to_owned();

    let renamed = s
        .app
        .api()
        .update_user(
            token,
            &alice,
            &json!({ "first_name": "Ada", "username": "lovelace" }),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(list(&s.app, token, "q=wonder").await["total"], 0);
    assert_eq!(
        list(&s.app, token, "q=alice").await["total"],
        1,
        "still in the email"
    );
    assert_eq!(
        emails(&list(&s.app, token, "q=LOVEL").await),
        ["alice.smith@example.com"]
    );
    assert_eq!(
        emails(&list(&s.app, token, "q=da&sort=email").await),
        ["alice.smith@example.com", "dave@example.org"],
        "two characters: Ada and dave"
    );

    let bob = list(&s.app, token, "q=bobby").await["items"][0]["id"]
        .as_str()
        .expect("bob's id")
        .to_owned();
    let deleted = s.app.api().delete_user(token, &bob).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(list(&s.app, token, "q=bobby").await["total"], 0);
    assert_eq!(list(&s.app, token, "q=example.org").await["total"], 1);

    for odd in [
        "%22quoted%22",
        "a%22b",
        "*",
        "NEAR(a b)",
        "x OR y",
        "%5C%5C%25",
    ] {
        assert_eq!(
            list(&s.app, token, &format!("q={odd}")).await["total"],
            0,
            "q={odd}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn role_and_is_active_filter_the_list_alone_and_together() {
    let s = listing_fixture().await;
    let token = &s.admin.access;

    let cases: [(&str, &[&str]); 6] = [
        ("role=admin", &["dave@example.org", ADMIN_EMAIL]),
        ("role=sub_admin", &["bob@example.org", "sub@example.com"]),
        (
            "role=user",
            &[
                "alice.smith@example.com",
                "carol@example.net",
                "user@example.com",
            ],
        ),
        (
            "is_active=false",
            &["carol@example.net", "dave@example.org"],
        ),
        ("role=admin&is_active=true", &[ADMIN_EMAIL]),
        ("role=user&is_active=false&q=CAROL", &["carol@example.net"]),
    ];
    for (query, expected) in cases {
        let page = list(&s.app, token, &format!("{query}&sort=email")).await;
        assert_eq!(emails(&page), expected, "{query}");
        assert_eq!(page["total"], expected.len(), "{query}");
        for user in page["items"].as_array().into_iter().flatten() {
            assert_eq!(user["is_admin"], user["role"] == "admin", "{user}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sort_orders_by_creation_newest_first_by_default_or_by_email() {
    let s = listing_fixture().await;
    let token = &s.sub_admin.access;
    let oldest_first: Vec<String> = ALL_BY_CREATION.iter().map(|e| (*e).to_owned()).collect();
    let newest_first: Vec<String> = oldest_first.iter().rev().cloned().collect();
    let mut by_email = oldest_first.clone();
    by_email.sort();
    let by_email_desc: Vec<String> = by_email.iter().rev().cloned().collect();

    let default = list(&s.app, token, "").await;
    let explicit_desc = list(&s.app, token, "sort=-created_at").await;
    let asc = list(&s.app, token, "sort=created_at").await;
    let email = list(&s.app, token, "sort=email").await;
    let email_desc = list(&s.app, token, "sort=-email").await;

    assert_eq!(emails(&default), newest_first, "the default is -created_at");
    assert_eq!(emails(&explicit_desc), newest_first);
    assert_eq!(emails(&asc), oldest_first);
    assert_eq!(emails(&email), by_email);
    assert_eq!(emails(&email_desc), by_email_desc);
    assert_eq!(default["limit"], 50);
    assert_eq!(default["offset"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn limit_and_offset_page_through_the_list_with_a_total_of_all_matches() {
    let s = listing_fixture().await;
    let token = &s.admin.access;

    let mut seen = Vec::new();
    for offset in (0..8).step_by(3) {
        let page = list(
            &s.app,
            token,
            &format!("sort=created_at&limit=3&offset={offset}"),
        )
        .await;
        assert_eq!(page["total"], ALL_BY_CREATION.len(), "offset {offset}");
        assert_eq!(page["limit"], 3);
        assert_eq!(page["offset"], offset);
        seen.extend(emails(&page));
    }
    let filtered = list(&s.app, token, "q=example.org&limit=1&offset=1&sort=email").await;
    let past_the_end = list(&s.app, token, "offset=100").await;

    assert_eq!(
        seen, ALL_BY_CREATION,
        "pages fit together without gaps or repeats"
    );
    assert_eq!(emails(&filtered), ["dave@example.org"]);
    assert_eq!(
        filtered["total"], 2,
        "total counts every match, not the page"
    );
    assert_eq!(emails(&past_the_end), Vec::<String>::new());
    assert_eq!(past_the_end["total"], ALL_BY_CREATION.len());
}

/// A page past the middle of the list is read from its end (`PageRequest::window`); every
/// page, from either end, must be the same slice of the whole list.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_is_its_slice_of_the_whole_list_whichever_end_it_is_read_from() {
    let s = listing_fixture().await;
    let token = &s.admin.access;

    for filter in ["", "&is_active=true", "&q=example"] {
        for sort in ["created_at", "-created_at", "email", "-email"] {
            let whole =
                emails(&list(&s.app, token, &format!("sort={sort}{filter}&limit=200")).await);
            assert!(whole.len() >= 4, "{sort}{filter}: {whole:?}");
            for limit in [1, 2, 3, 5] {
                for offset in 0..=whole.len() + 1 {
                    let query = format!("sort={sort}{filter}&limit={limit}&offset={offset}");
                    let page = list(&s.app, token, &query).await;
                    let slice = &whole[offset.min(whole.len())..(offset + limit).min(whole.len())];

                    assert_eq!(emails(&page), slice, "{query}");
                    assert_eq!(page["total"], whole.len(), "{query}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_role_sort_limit_or_offset_is_422_naming_the_parameter() {
    let s = staff_app().await;

    for (query, field) in [
        ("role=superuser", "role"),
        ("sort=name", "sort"),
        ("sort=-updated_at", "sort"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=-1", "limit"),
        ("offset=-1", "offset"),
    ] {
        let reply = s.app.api().list_users(&s.admin.access, query).await;
        reply.assert_problem(422, "validation_failed");
        assert!(
            reply.field_errors().iter().any(|(f, _)| f == field),
            "{query}: {}",
            reply.body
        );
    }
    assert_eq!(
        s.app
            .api()
            .list_users(&s.admin.access, "limit=200")
            .await
            .status,
        StatusCode::OK,
        "200 is the largest page"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unparsable_limit_offset_or_is_active_is_422_naming_the_parameter() {
    let s = staff_app().await;

    for (query, field) in [
        ("limit=ten", "limit"),
        ("offset=1.5", "offset"),
        ("is_active=maybe", "is_active"),
    ] {
        let reply = s.app.api().list_users(&s.admin.access, query).await;
        reply.assert_problem(422, "validation_failed");
        assert!(
            reply.field_errors().iter().any(|(f, _)| f == field),
            "{query}: {}",
            reply.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_input_from_signed_in_staff_is_always_a_422_never_a_dropped_connection() {
    let s = staff_app().await;
    let user = user_path(&s.user.user_id);
    let cases = [
        (Method::GET, format!("{USERS}?limit=ten"), None),
        (Method::GET, format!("{USERS}?is_active=maybe"), None),
        (
            Method::POST,
            USERS.to_owned(),
            Some(json!({ "email": "x@example.com", "password": PASSWORD, "bogus": 1 })),
        ),
        (
            Method::PATCH,
            user.clone(),
            Some(json!({ "is_active": "yes" })),
        ),
        (
            Method::PUT,
            format!("{user}/role"),
            Some(json!({ "role": "superuser" })),
        ),
        (
            Method::GET,
            "/api/v1/admin/audit-events?user_id=nope".to_owned(),
            None,
        ),
    ];

    // Each a few times: the failure this guards against depends on timing.
    for _ in 0..5 {
        for (method, path, body) in &cases {
            let sent = s
                .app
                .client
                .request(method.clone(), s.app.url(path))
                .bearer_auth(&s.admin.access);
            let sent = match body {
                Some(body) => sent.json(body),
                None => sent,
            };
            match sent.send().await {
                Ok(response) => {
                    Reply::from(response)
                        .await
                        .assert_problem(422, "validation_failed");
                }
                Err(e) => panic!("{method} {path}: no answer at all: {e}"),
            }
        }
    }
}
