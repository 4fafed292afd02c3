//! Open-loop, fixed-rate HTTP/1.1 load generator (like wrk2 or `oha -q`).
//! A closed-loop tool (wrk) sends the next request only when the last answer is in, so a stalled
//! server also stalls the client and the stall hardly shows in the latencies (coordinated omission).
//! Here request k is due at t0 + k/rate whatever happens (connection i sends k ≡ i mod connections),
//! and a request sent late because its connection was still busy is timed from its due time; one sent
//! on time is timed from when its timer fired, so tokio's ~1 ms timer slack stays out of the samples.
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
               [--connections N (32)] [--tokens FILE] [--threads N (1)]
  --tokens FILE  one bearer token per line, sent round-robin as `Authorization: Bearer ...`
Prints one header line, then one summary line starting with rate_target=.";

/// A request with no response after this long counts as an error; its connection is reopened.
const TIMEOUT: Duration = Duration::from_secs(10);

struct Args {
    url: String,
    rate: f64,
    duration: f64,
    connections: usize,
    tokens: Option<String>,
    threads: usize,
}

/// What every connection shares: where to send what, and when.
struct Plan {
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    first_request: usize,
    rate: f64,
    total: u64,
    connections: usize,
    t0: Instant,
}

#[derive(Default)]
struct Stats {
    sent: u64,
    errors: u64,
    non2xx: u64,
    latencies_us: Vec<u32>,
}

/// `Ok(None)` means `--help`.
fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        url: String::new(),
        rate: 0.0,
        duration: 10.0,
        connections: 32,
        tokens: None,
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
    let auth: Vec<String> = match &args.tokens {
        None => vec![String::new()],
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("reading {file}"))?
            .lines()
            .map(str::trim)
            .filter(|t| !t.is_empty())
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
    println!(
        "loadgen: GET {} at {}/s for {}s over {} connections ({} runtime threads, {} distinct requests)",
        args.url,
        args.rate,
        args.duration,
        args.connections,
        args.threads,
        requests.len()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    runtime.block_on(drive(args, addr, requests))
}

async fn drive(args: &Args, addr: SocketAddr, requests: Vec<Vec<u8>>) -> anyhow::Result<()> {
    let mut streams = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let stream = connect(addr).await;
        streams.push(stream.with_context(|| format!("connecting to {addr}"))?);
    }
    let clock = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    let plan = Arc::new(Plan {
        addr,
        first_request: clock.unwrap_or_default().subsec_nanos() as usize % requests.len(),
        requests,
        rate: args.rate,
        total: (args.rate * args.duration).ceil() as u64,
        connections: args.connections,
        t0: Instant::now(),
    });
    let workers: Vec<_> = (0..)
        .zip(streams)
        .map(|(i, s)| tokio::spawn(connection(plan.clone(), i, s)))
        .collect();
    let mut total = Stats::default();
    for worker in workers {
        let stats = worker.await??;
        total.sent += stats.sent;
        total.errors += stats.errors;
        total.non2xx += stats.non2xx;
        total.latencies_us.extend(stats.latencies_us);
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
    Ok(())
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connection `index` sends requests index, index + connections, ... each at its due time.
async fn connection(plan: Arc<Plan>, index: u64, stream: TcpStream) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
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
        let request = &plan.requests[(plan.first_request + k as usize) % plan.requests.len()];
        stats.sent += 1;
        let sent = timeout(TIMEOUT, send(&mut stream, plan.addr, request, &mut buf)).await;
        match sent.unwrap_or_else(|_| Err(ErrorKind::TimedOut.into())) {
            Ok(status) => {
                let latency = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
                stats.latencies_us.push(latency);
                stats.non2xx += u64::from(!(200..300).contains(&status));
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
