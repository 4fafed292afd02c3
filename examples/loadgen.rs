//! Open-loop, fixed-rate HTTP/1.1 load generator (like wrk2 or `oha -q`).
//! A closed-loop tool (wrk) sends the next request only when the last answer is in, so a stalled
//! server also stalls the client and the stall hardly shows in the latencies (coordinated omission).
//! Here request k is due at t0 + k/rate whatever happens (connection i sends k ≡ i mod connections),
//! and a request sent late because its connection was still busy is timed from its due time; one sent
//! on time is timed from when its timer fired, so tokio's ~1 ms timer slack stays out of the samples.
//!
//! With `--refresh`, each connection refreshes a session of its own instead: it sends
//! `POST /api/v1/auth/refresh` with the refresh token the last answer gave it, so that every
//! token is used once, as a real client's would be.
//!
//! `cargo run --release --example loadgen -- --help`

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};

const USAGE: &str = "\
usage: loadgen --url http://HOST:PORT/PATH --rate REQ_PER_SEC [--duration SECS (10)]
               [--connections N (32)] [--tokens FILE | --refresh FILE] [--threads N (1)]
  --tokens FILE   one bearer token per line, sent round-robin as `Authorization: Bearer ...`
  --refresh FILE  one refresh token per line, at least one per connection: each connection
                  POSTs {\"refresh_token\": ...} to the URL with its own, then with the one each
                  answer gives; the tokens the run ends with are written back to FILE
Prints one header line, then one summary line starting with rate_target=.";

/// A request with no response after this long counts as an error; its connection is reopened.
const TIMEOUT: Duration = Duration::from_secs(10);

struct Args {
    url: String,
    rate: f64,
    duration: f64,
    connections: usize,
    tokens: Option<String>,
    refresh: Option<String>,
    threads: usize,
}

/// What every connection shares: where to send what, and when.
struct Plan {
    addr: SocketAddr,
    requests: Requests,
    rate: f64,
    total: u64,
    connections: usize,
    t0: Instant,
}

enum Requests {
    /// Made up front, request k being `requests[(first + k) % len]`.
    Fixed {
        requests: Vec<Vec<u8>>,
        first: usize,
    },
    /// A refresh, made from the connection's latest refresh token: `head` (request line and
    /// headers up to, not including, `Content-Length`), then the body.
    Refresh { head: String },
}

#[derive(Default)]
struct Stats {
    sent: u64,
    errors: u64,
    non2xx: u64,
    latencies_us: Vec<u32>,
    /// In refresh mode, the refresh token the connection holds at the end; none once an
    /// answer gave it none.
    refresh_token: Option<String>,
}

/// `Ok(None)` means `--help`.
fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        url: String::new(),
        rate: 0.0,
        duration: 10.0,
        connections: 32,
        tokens: None,
        refresh: None,
        threads: 1,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: bad value {value:?}");
        match flag.as_str() {
            "--url" => args.url = value,
            "--tokens" => args.tokens = Some(value),
            "--refresh" => args.refresh = Some(value),
            "--rate" => args.rate = value.parse().map_err(|_| bad())?,
            "--duration" => args.duration = value.parse().map_err(|_| bad())?,
            "--connections" => args.connections = value.parse().map_err(|_| bad())?,
            "--threads" => args.threads = value.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if args.url.is_empty() || !positive(args.rate) || !positive(args.duration) {
        return Err("--url, a positive --rate and a positive --duration are required".into());
    }
    if args.connections == 0 || args.threads == 0 {
        return Err("--connections and --threads must be at least 1".into());
    }
    if args.tokens.is_some() && args.refresh.is_some() {
        return Err("--tokens and --refresh exclude each other".into());
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("loadgen: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let Some(rest) = args.url.strip_prefix("http://") else {
        bail!("only http:// URLs are supported");
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let addr = authority.to_socket_addrs().ok().and_then(|mut a| a.next());
    let addr = addr.ok_or_else(|| anyhow!("cannot resolve {authority:?} (want HOST:PORT)"))?;
    let (requests, refresh_tokens) = match &args.refresh {
        None => (fixed_requests(args, authority, path)?, Vec::new()),
        Some(file) => {
            let tokens = lines_of(file)?;
            if tokens.len() < args.connections {
                bail!(
                    "{file} holds {} refresh tokens; {} connections need one each",
                    tokens.len(),
                    args.connections
                );
            }
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n"
            );
            (Requests::Refresh { head }, tokens)
        }
    };
    let (method, what) = match &requests {
        Requests::Fixed { requests, .. } => {
            ("GET", format!("{} distinct requests", requests.len()))
        }
        Requests::Refresh { .. } => ("POST", "a refresh chain per connection".to_owned()),
    };
    println!(
        "loadgen: {method} {} at {}/s for {}s over {} connections ({} runtime threads, {what})",
        args.url, args.rate, args.duration, args.connections, args.threads,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    let left = runtime.block_on(drive(args, addr, requests, refresh_tokens))?;
    if let Some(file) = &args.refresh {
        let text: String = left.iter().map(|token| format!("{token}\n")).collect();
        std::fs::write(file, text).with_context(|| format!("writing {file}"))?;
    }
    Ok(())
}

/// The non-empty lines of `file`, trimmed.
fn lines_of(file: &str) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// GETs of `path`, one per bearer token of `--tokens` (one without a token when none is
/// given), started at a request that differs from run to run.
fn fixed_requests(args: &Args, authority: &str, path: &str) -> anyhow::Result<Requests> {
    let auth: Vec<String> = match &args.tokens {
        None => vec![String::new()],
        Some(file) => lines_of(file)?
            .iter()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .collect(),
    };
    if auth.is_empty() {
        bail!("no tokens in {:?}", args.tokens);
    }
    let requests: Vec<Vec<u8>> = auth
        .iter()
        .map(|a| format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n{a}\r\n").into_bytes())
        .collect();
    let clock = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    let first = clock.unwrap_or_default().subsec_nanos() as usize % requests.len();
    Ok(Requests::Fixed { requests, first })
}

/// Runs the plan; returns the refresh tokens the connections hold at the end.
async fn drive(
    args: &Args,
    addr: SocketAddr,
    requests: Requests,
    refresh_tokens: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let mut streams = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let stream = connect(addr).await;
        streams.push(stream.with_context(|| format!("connecting to {addr}"))?);
    }
    let plan = Arc::new(Plan {
        addr,
        requests,
        rate: args.rate,
        total: (args.rate * args.duration).ceil() as u64,
        connections: args.connections,
        t0: Instant::now(),
    });
    let mut refresh_tokens = refresh_tokens.into_iter();
    let workers: Vec<_> = (0..)
        .zip(streams)
        .map(|(i, s)| tokio::spawn(connection(plan.clone(), i, s, refresh_tokens.next())))
        .collect();
    let mut total = Stats::default();
    // Tokens no connection took go back to the file unused.
    let mut left: Vec<String> = refresh_tokens.collect();
    for worker in workers {
        let stats = worker.await??;
        total.sent += stats.sent;
        total.errors += stats.errors;
        total.non2xx += stats.non2xx;
        total.latencies_us.extend(stats.latencies_us);
        left.extend(stats.refresh_token);
    }
    let elapsed = plan.t0.elapsed().as_secs_f64();
    let lat = &mut total.latencies_us;
    lat.sort_unstable();
    let pct = |p: f64| {
        let rank = (p / 100.0 * lat.len() as f64).ceil() as usize;
        let us = lat.get(rank.clamp(1, lat.len().max(1)) - 1);
        us.map_or("n/a".into(), |&us| {
            format!("{:.2}ms", f64::from(us) / 1000.0)
        })
    };
    println!(
        "rate_target={} sent={} completed={} errors={} non2xx={} achieved={:.1}/s \
         p50={} p90={} p99={} p99.9={} max={}",
        args.rate,
        total.sent,
        lat.len(),
        total.errors,
        total.non2xx,
        lat.len() as f64 / elapsed,
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(99.9),
        pct(100.0),
    );
    Ok(left)
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connection `index` sends requests index, index + connections, ... each at its due time;
/// in refresh mode, starting from `refresh_token`.
async fn connection(
    plan: Arc<Plan>,
    index: u64,
    stream: TcpStream,
    refresh_token: Option<String>,
) -> anyhow::Result<Stats> {
    let mut stats = Stats {
        refresh_token,
        ..Stats::default()
    };
    stats
        .latencies_us
        .reserve(plan.total as usize / plan.connections + 1);
    let mut stream = Some(stream);
    let mut buf = Vec::with_capacity(16 * 1024);
    for k in (index..plan.total).step_by(plan.connections) {
        let due = plan.t0 + Duration::from_secs_f64(k as f64 / plan.rate);
        let start = if Instant::now() < due {
            sleep_until(due).await;
            Instant::now()
        } else {
            due // late because this connection was busy: the wait counts
        };
        let refresh;
        let request = match &plan.requests {
            Requests::Fixed { requests, first } => &requests[(first + k as usize) % requests.len()],
            Requests::Refresh { head } => {
                let Some(token) = &stats.refresh_token else {
                    stats.errors += 1; // its chain broke on an earlier answer
                    continue;
                };
                let body = format!(r#"{{"refresh_token":"{token}"}}"#);
                refresh = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
                refresh.as_bytes()
            }
        };
        stats.sent += 1;
        let sent = timeout(TIMEOUT, send(&mut stream, plan.addr, request, &mut buf)).await;
        match sent.unwrap_or_else(|_| Err(ErrorKind::TimedOut.into())) {
            Ok(status) => {
                let latency = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
                stats.latencies_us.push(latency);
                let ok = (200..300).contains(&status);
                stats.non2xx += u64::from(!ok);
                if matches!(plan.requests, Requests::Refresh { .. }) {
                    stats.refresh_token = ok.then(|| refresh_token_in(&buf)).flatten();
                    if stats.refresh_token.is_none() {
                        eprintln!(
                            "loadgen: connection {index}: a refresh answered {status} without a new token; its chain ends here"
                        );
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::InvalidData => bail!("{}: {e}", plan.addr),
            Err(e) => {
                stream = None;
                stats.errors += 1;
                if stats.errors == 1 {
                    eprintln!(
                        "loadgen: connection {index}: {e} (reconnecting; further errors only counted)"
                    );
                }
            }
        }
    }
    Ok(stats)
}

/// Sends one request over `stream` (connecting first if it is `None`) and reads the whole
/// response; returns its status. Protocol errors are `InvalidData`.
async fn send(
    stream: &mut Option<TcpStream>,
    addr: SocketAddr,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> io::Result<u16> {
    let conn = match stream {
        Some(conn) => conn,
        None => stream.insert(connect(addr).await?),
    };
    conn.write_all(request).await?;
    buf.clear();
    let head_len = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_more(conn, buf).await?;
    };
    let (status, body_len, close) = parse_head(&buf[..head_len])?;
    while buf.len() < head_len + body_len {
        read_more(conn, buf).await?;
    }
    if close {
        *stream = None;
    }
    Ok(status)
}

/// The `refresh_token` of a JSON answer (tokens have no characters JSON escapes).
fn refresh_token_in(response: &[u8]) -> Option<String> {
    const KEY: &[u8] = br#""refresh_token":""#;
    let start = response.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = response[start..].iter().position(|&b| b == b'"')?;
    String::from_utf8(response[start..start + len].to_vec()).ok()
}

async fn read_more(conn: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    match conn.read_buf(buf).await? {
        0 => Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "server closed the connection",
        )),
        _ => Ok(()),
    }
}

/// Status, body length and whether the server closes the connection after this response.
fn parse_head(head: &[u8]) -> io::Result<(u16, usize, bool)> {
    let bad = |message: String| io::Error::new(ErrorKind::InvalidData, message);
    let head = std::str::from_utf8(head).map_err(|_| bad("response head is not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status: u16 = status.ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let (mut length, mut close) = (None, false);
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse()
                .map_err(|_| bad(format!("bad content-length {value:?}")))?;
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad(format!(
                "transfer-encoding {value:?} is unsupported (want content-length)"
            )));
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    match length {
        Some(n) => Ok((status, n, close)),
        None if status == 204 || status == 304 => Ok((status, 0, close)),
        None => Err(bad(format!("{status} response without content-length"))),
    }
}
