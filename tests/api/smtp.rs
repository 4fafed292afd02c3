//! Mail over real SMTP: the test server itself (`helpers::mail`) decodes what lettre
//! sends, and a reset link delivered by doorman works.

use lettre::message::header::ContentTransferEncoding;
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::PASSWORD;
use crate::helpers::mail::{MAIL_WAIT, MailServer, spawn_with_mail};

#[tokio::test(flavor = "multi_thread")]
async fn the_test_server_decodes_quoted_printable_and_base64_bodies_from_lettre() {
    let server = MailServer::start().await;
    let token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE";
    let text = format!(
        "Hello,\n\n.a line that starts with a dot\n\
         https://accounts.example.test/some/long/path/reset-password?token={token}\n\
         Bye, Zoë\n"
    );
    let encodings = [
        ContentTransferEncoding::QuotedPrintable,
        ContentTransferEncoding::Base64,
    ];

    for encoding in encodings {
        let body = Body::new_with_encoding(text.clone(), encoding)
            .unwrap_or_else(|_| panic!("{encoding:?} must be able to carry any text"));
        send_with_lettre(&server, body).await;
    }

    for encoding in encodings {
        let mail = server.next_mail(MAIL_WAIT).await;
        assert_eq!(mail.recipients, vec!["rcpt@example.com".to_owned()]);
        assert_eq!(
            mail.header("Content-Transfer-Encoding")
                .map(|v| v.to_ascii_lowercase()),
            Some(encoding.to_string())
        );
        assert_eq!(
            mail.text().replace("\r\n", "\n").trim_end(),
            text.trim_end(),
            "{encoding:?}"
        );
        assert_eq!(
            mail.reset_token("https://accounts.example.test/some/long/path"),
            token
        );
    }
    assert_eq!(server.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgot_password_request_delivers_a_reset_link_over_smtp_that_works() {
    let (app, mail) = spawn_with_mail(|config| {
        config.public_url = "https://accounts.example.test".into();
    })
    .await;
    app.register("ada@example.com").await;

    let reply = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({ "email": "ada@example.com" }),
        )
        .await;
    let message = mail.next_mail(MAIL_WAIT).await;

    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(message.recipients, vec!["ada@example.com".to_owned()]);
    assert!(
        message
            .header("To")
            .is_some_and(|to| to.contains("ada@example.com")),
        "{}",
        message.raw
    );
    let token = message.reset_token("https://accounts.example.test");
    let reset = app
        .post(
            "/api/v1/auth/password/reset",
            json!({ "token": token, "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    assert_eq!(
        app.login("ada@example.com", "a brand new passphrase")
            .await
            .status,
        StatusCode::OK
    );
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
}

async fn send_with_lettre(server: &MailServer, body: Body) {
    let from: Mailbox = "sender <sender@example.com>"
        .parse()
        .expect("a valid mailbox");
    let to: Mailbox = "rcpt@example.com".parse().expect("a valid mailbox");
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject("encoded")
        .body(body)
        .expect("the body is readable");
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .build();
    transport
        .send(message)
        .await
        .expect("lettre could not deliver to the test server");
}
