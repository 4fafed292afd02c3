//! Issue 19, point 8: token verification to the letter (RFC 7515 `crit`, RFC 9068 `typ`,
//! `iat` not in the future), on forged tokens signed with the app's own HS256 secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::jwt::{claims, header};
use crate::helpers::{TestApp, Tokens};

const SECRET: &str = "a test secret that is long enough for HS256 signing!!";

async fn hs256_app() -> (TestApp, Tokens) {
    let app = TestApp::spawn_with(|c| {
        c.jwt_alg = doorman::config::JwtAlg::Hs256;
        c.jwt_secret = Some(SECRET.to_owned().into());
    })
    .await;
    let tokens = app.signed_in("ada@example.com").await;
    (app, tokens)
}

/// Signs any header and claims, exactly as given, with the app's secret.
fn forge(header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("the token signs");
    format!("{message}.{signature}")
}

async fn status_of(app: &TestApp, token: &str) -> StatusCode {
    app.api().get_me(token).await.status
}

#[tokio::test(flavor = "multi_thread")]
async fn an_access_token_with_a_crit_header_parameter_is_401() {
    let (app, tokens) = hs256_app().await;
    let (head, body) = (header(&tokens.access), claims(&tokens.access));
    assert_eq!(
        status_of(&app, &forge(&head, &body)).await,
        StatusCode::OK,
        "the forge is faithful"
    );

    for crit in [json!(["exp"]), json!(["urn:example:unknown"]), json!([])] {
        let mut with_crit = head.clone();
        with_crit["crit"] = crit.clone();
        with_crit["urn:example:unknown"] = json!(true);
        app.api()
            .get_me(&forge(&with_crit, &body))
            .await
            .assert_problem(401, "unauthenticated");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_access_token_whose_header_typ_is_not_at_jwt_is_401() {
    let (app, tokens) = hs256_app().await;
    let (head, body) = (header(&tokens.access), claims(&tokens.access));

    for typ in [json!("JWT"), json!("rt+jwt"), json!("jwt"), Value::Null] {
        let mut other = head.clone();
        match typ {
            Value::Null => {
                other.as_object_mut().map(|h| h.remove("typ"));
            }
            typ => other["typ"] = typ,
        }
        app.api()
            .get_me(&forge(&other, &body))
            .await
            .assert_problem(401, "unauthenticated");
    }
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        let mut same = head.clone();
        same["typ"] = json!(typ);
        assert_eq!(
            status_of(&app, &forge(&same, &body)).await,
            StatusCode::OK,
            "{typ} names the same media type"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_issued_in_the_future_beyond_the_leeway_is_401() {
    let (app, tokens) = hs256_app().await;
    let (head, body) = (header(&tokens.access), claims(&tokens.access));
    let now = chrono::Utc::now().timestamp();
    let issued_at = |iat: i64| {
        let mut c = body.clone();
        c["iat"] = json!(iat);
        forge(&head, &c)
    };

    app.api()
        .get_me(&issued_at(now + 600))
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(
        status_of(&app, &issued_at(now + 2)).await,
        StatusCode::OK,
        "a clock a little ahead is within the leeway"
    );

    let (refresh_head, refresh) = (header(&tokens.refresh), claims(&tokens.refresh));
    assert_eq!(refresh_head["typ"], "rt+jwt");
    let mut future = refresh.clone();
    future["iat"] = json!(now + 600);
    app.refresh(&forge(&refresh_head, &future))
        .await
        .assert_problem(401, "invalid_refresh_token");
}
