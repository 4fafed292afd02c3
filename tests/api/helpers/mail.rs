//! A loopback SMTP server that keeps what it receives, for tests of mail.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine;
use doorman::config::Config;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::helpers::TestApp;

/// How long a test waits for a mail the app sends in the background.
pub const MAIL_WAIT: Duration = Duration::from_secs(10);

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The `RCPT TO` addresses, without angle brackets.
    pub recipients: Vec<String>,
    /// Headers and body as sent after `DATA`, dot-stuffing undone, lines joined by CRLF.
    pub raw: String,
}

impl Mail {
    /// A header's unfolded value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut unfolded: Vec<String> = Vec::new();
        for line in self.raw.split("\r\n").take_while(|line| !line.is_empty()) {
            match unfolded.last_mut() {
                Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
                _ => unfolded.push(line.to_owned()),
            }
        }
        unfolded.into_iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    /// The body, decoded from its `Content-Transfer-Encoding` (7bit, 8bit, quoted-printable
    /// or base64).
    pub fn text(&self) -> String {
        let body = self.raw.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let encoding = self
            .header("content-transfer-encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match encoding.as_str() {
            "quoted-printable" => decode_quoted_printable(body),
            "base64" => {
                let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("the base64 body does not decode");
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => body.to_owned(),
        }
    }

    /// The first link in the body that starts with `prefix`, up to the end of its token.
    pub fn link(&self, prefix: &str) -> String {
        let text = self.text();
        let start = text
            .find(prefix)
            .unwrap_or_else(|| panic!("no link starting with {prefix} in:\n{text}"));
        let rest = &text[start + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        format!("{prefix}{}", &rest[..end])
    }

    /// The reset token from the link `{public_url}/reset-password?token=...`; asserts it is
    /// 43 characters of base64url (32 random bytes).
    pub fn reset_token(&self, public_url: &str) -> String {
        let prefix = format!("{public_url}/reset-password?token=");
        let link = self.link(&prefix);
        let token = link[prefix.len()..].to_owned();
        assert_eq!(token.len(), 43, "a 32-byte base64url token, got {token:?}");
        token
    }
}

/// Quoted-printable (RFC 2045): `=\r\n` is a soft line break, `=XX` an escaped byte.
fn decode_quoted_printable(body: &str) -> String {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let after = bytes.get(i + 1..).unwrap_or_default();
        if byte != b'=' {
            out.push(byte);
            i += 1;
        } else if after.starts_with(b"\r\n") {
            i += 3;
        } else if after.starts_with(b"\n") {
            i += 2;
        } else if let Some(escaped) = after
            .get(..2)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(escaped);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Default)]
struct Inbox {
    /// Every message received, in order.
    all: Mutex<Vec<Mail>>,
    /// Messages `next_mail` has not handed out yet.
    unread: Mutex<VecDeque<Mail>>,
    arrived: Notify,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inbox {
    fn deliver(&self, mail: Mail) {
        locked(&self.all).push(mail.clone());
        locked(&self.unread).push_back(mail);
        self.arrived.notify_waiters();
    }
}

/// A plain SMTP server on a free port of 127.0.0.1: no TLS, no AUTH, accepts everything.
pub struct MailServer {
    port: u16,
    inbox: Arc<Inbox>,
}

impl MailServer {
    pub async fn start() -> Self {
        Self::start_slow(Duration::ZERO).await
    }

    /// A server that waits `greeting` before it greets each connection: a slow mail relay.
    pub async fn start_slow(greeting: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the test SMTP server");
        let port = listener
            .local_addr()
            .expect("the listener has an address")
            .port();
        let inbox = Arc::new(Inbox::default());
        let shared = Arc::clone(&inbox);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inbox = Arc::clone(&shared);
                tokio::spawn(async move {
                    tokio::time::sleep(greeting).await;
                    let _ = converse(stream, &inbox).await;
                });
            }
        });
        Self { port, inbox }
    }

    /// What the app's `smtp_url` should be.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next message not yet handed out; panics when none arrives within `timeout`.
    pub async fn next_mail(&self, timeout: Duration) -> Mail {
        let wait = async {
            loop {
                let arrived = self.inbox.arrived.notified();
                if let Some(mail) = locked(&self.inbox.unread).pop_front() {
                    return mail;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or_else(|_| panic!("no mail arrived within {timeout:?}"))
    }

    /// The next message with this subject, passing over the others (security notices
    /// arrive beside the mail a test waits for); panics when none arrives within `timeout`.
    pub async fn next_mail_about(&self, subject: &str, timeout: Duration) -> Mail {
        let wait = async {
            loop {
                let mail = self.next_mail(timeout).await;
                if mail.header("Subject").as_deref() == Some(subject) {
                    return mail;
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or_else(|_| panic!("no mail about {subject:?} arrived within {timeout:?}"))
    }

    /// The next password reset mail (see [`Self::next_mail_about`]).
    pub async fn next_reset_mail(&self, timeout: Duration) -> Mail {
        self.next_mail_about("Reset your password", timeout).await
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Mail> {
        locked(&self.inbox.all).clone()
    }
}

/// One SMTP session, from the greeting to `QUIT` or the peer closing the connection.
async fn converse(stream: TcpStream, inbox: &Inbox) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(b"220 localhost ESMTP test server\r\n")
        .await?;
    let mut recipients = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-localhost greets you\r\n250 HELP\r\n",
            "HELO" => b"250 localhost\r\n",
            "MAIL" | "RSET" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                recipients.push(address(&line));
                b"250 OK\r\n"
            }
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = Vec::new();
                while let Some(line) = lines.next_line().await? {
                    if line == "." {
                        break;
                    }
                    // Dot-stuffing (RFC 5321 4.5.2): a leading dot was doubled by the sender.
                    data.push(line.strip_prefix('.').map_or(line.clone(), str::to_owned));
                }
                inbox.deliver(Mail {
                    recipients: std::mem::take(&mut recipients),
                    raw: data.join("\r\n"),
                });
                b"250 OK queued\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return write.shutdown().await;
            }
            _ => b"502 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

/// The address in `RCPT TO:<a@b>` (or after the colon when there are no brackets).
fn address(line: &str) -> String {
    let after_colon = line.split_once(':').map_or("", |(_, rest)| rest).trim();
    match (after_colon.find('<'), after_colon.find('>')) {
        (Some(open), Some(close)) if open < close => after_colon[open + 1..close].to_owned(),
        _ => after_colon.to_owned(),
    }
}

/// The app with its mailer pointed at a fresh test SMTP server.
pub async fn spawn_with_mail(customise: impl FnOnce(&mut Config)) -> (TestApp, MailServer) {
    let mail = MailServer::start().await;
    let url = mail.url();
    let app = TestApp::spawn_with(|config| {
        config.smtp_url = Some(url.into());
        customise(config);
    })
    .await;
    (app, mail)
}
