//! A webhook receiver on loopback: a small HTTP/1.1 server that records every request and
//! answers 500 while it is told to fail, else 204; or, while it is told to hold, answers
//! nothing yet.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request the receiver got, with how it answered.
#[derive(Debug, Clone)]
pub struct Hook {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: String,
    pub status: u16,
}

impl Hook {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON: {e}: {}", self.body))
    }
}

#[derive(Default)]
struct State {
    hooks: Mutex<Vec<Hook>>,
    failures_left: AtomicUsize,
    holding: AtomicBool,
    released: tokio::sync::Notify,
}

pub struct Receiver {
    pub url: String,
    state: Arc<State>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::failing(0).await
    }

    /// Records each request but answers none until [`Receiver::recover`]: its sender waits.
    pub async fn holding() -> Self {
        let receiver = Self::start().await;
        receiver.state.holding.store(true, Ordering::SeqCst);
        receiver
    }

    /// Answers 500 to the first `failures` requests.
    pub async fn failing(failures: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the receiver");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let state = Arc::new(State::default());
        state.failures_left.store(failures, Ordering::SeqCst);
        let serving = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, Arc::clone(&serving)));
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/hooks"),
            state,
        }
    }

    /// From now on, answers 204 (the requests it holds too).
    pub fn recover(&self) {
        self.state.failures_left.store(0, Ordering::SeqCst);
        self.state.holding.store(false, Ordering::SeqCst);
        self.state.released.notify_waiters();
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.state
            .hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until `count` requests have arrived (failing the test if they never do).
    pub async fn wait_for(&self, count: usize) -> Vec<Hook> {
        for _ in 0..3000 {
            let hooks = self.hooks();
            if hooks.len() >= count {
                return hooks;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {count} webhook requests, got {:?}", self.hooks());
    }
}

/// The Standard Webhooks check: one of the space-separated `v1,` signatures is the base64
/// HMAC-SHA256 of `{id}.{timestamp}.{body}` under the base64-decoded secret.
pub fn signature_verifies(secret: &str, hook: &Hook) -> bool {
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|k| STANDARD.decode(k).ok())
    else {
        return false;
    };
    let signed = format!("{}.{}.{}", hook.id, hook.timestamp, hook.body);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), signed.as_bytes());
    let expected = STANDARD.encode(tag.as_ref());
    hook.signature
        .split(' ')
        .any(|candidate| candidate.strip_prefix("v1,") == Some(expected.as_str()))
}

async fn serve(socket: TcpStream, state: Arc<State>) {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            line.clear();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if read.read_exact(&mut body).await.is_err() {
            return;
        }
        let failing = state
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        let status = if failing { 500 } else { 204 };
        let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
        state
            .hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Hook {
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp"),
                signature: header("webhook-signature"),
                content_type: header("content-type"),
                body: String::from_utf8_lossy(&body).into_owned(),
                status,
            });
        loop {
            let released = state.released.notified();
            if !state.holding.load(Ordering::SeqCst) {
                break;
            }
            released.await;
        }
        let reason = if failing {
            "Internal Server Error"
        } else {
            "No Content"
        };
        let answer = format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n\r\n");
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}
