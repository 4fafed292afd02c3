//! A webhook receiver for the benchmark's (j): answers every POST with 204 at once, counts
//! the deliveries (by `webhook-id`, so a repeated delivery is seen) and, once `--expect`
//! distinct ones have arrived, prints how fast they came and exits.
//!
//! `cargo run --release --example webhook_sink -- --bind 127.0.0.1:18099 --expect 20000`

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

const USAGE: &str = "usage: webhook_sink --bind HOST:PORT --expect N [--timeout SECS (120)]
Prints `received=… repeated=… first_to_last=…s rate=…/s` once N distinct deliveries came.";

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    repeated: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

struct Sink {
    seen: Mutex<Seen>,
    expect: usize,
    done: tokio::sync::Notify,
}

/// Reads the body, as a receiver verifying the signature must: actix-web closes the
/// connection after an answer to a request whose body was left unread, and the sender then
/// pays a new TCP connection for every delivery.
async fn receive(
    request: HttpRequest,
    _body: web::Bytes,
    sink: web::Data<Arc<Sink>>,
) -> HttpResponse {
    let id = request
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let now = Instant::now();
    let mut seen = sink
        .seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    seen.first.get_or_insert(now);
    seen.last = Some(now);
    if !seen.ids.insert(id) {
        seen.repeated += 1;
    }
    if seen.ids.len() >= sink.expect {
        sink.done.notify_one();
    }
    HttpResponse::NoContent().finish()
}

fn parse() -> Result<(String, usize, u64), String> {
    let (mut bind, mut expect, mut timeout) = (None, None, 120);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bind" => bind = Some(value),
            "--expect" => expect = value.parse().ok().filter(|n| *n > 0),
            "--timeout" => timeout = value.parse().map_err(|_| "--timeout takes seconds")?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    match (bind, expect) {
        (Some(bind), Some(expect)) => Ok((bind, expect, timeout)),
        _ => Err("--bind and --expect (at least 1) are needed".to_owned()),
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    let (bind, expect, timeout) = match parse() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("webhook_sink: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sink = Arc::new(Sink {
        seen: Mutex::default(),
        expect,
        done: tokio::sync::Notify::new(),
    });
    let data = web::Data::new(Arc::clone(&sink));
    let server = match HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(1)
    // The sender keeps its connections open; a stopped sink closes them at once.
    .shutdown_timeout(0)
    .bind(&bind)
    {
        Ok(server) => server.run(),
        Err(err) => {
            eprintln!("webhook_sink: cannot listen on {bind}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let handle = server.handle();
    let serving = tokio::spawn(server);
    println!("listening on {bind}");
    let finished = tokio::time::timeout(Duration::from_secs(timeout), sink.done.notified())
        .await
        .is_ok();
    handle.stop(true).await;
    let _ = serving.await;
    let seen = sink
        .seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let span = match (seen.first, seen.last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => 0.0,
    };
    let rate = if span > 0.0 {
        seen.ids.len() as f64 / span
    } else {
        0.0
    };
    println!(
        "received={} repeated={} first_to_last={span:.3}s rate={rate:.0}/s",
        seen.ids.len(),
        seen.repeated
    );
    if finished {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
