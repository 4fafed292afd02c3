//! Database outages (contract: "Operations"): while the database is frozen, cut off or
//! locked, requests answer `503 service_unavailable` with `Retry-After` within
//! `DOORMAN_DB_TIMEOUT`, never a 500 or a hang; `/health/ready` is 503; service resumes by
//! itself when the database returns, with everything acknowledged before still there.
//!
//! PostgreSQL outages are simulated by a TCP proxy in this process between doorman and the
//! server, never by touching the server itself.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{PASSWORD, Reply, TestApp, Tokens};

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards both ways.
    Open,
    /// Keeps every socket open and accepts new ones, but forwards nothing (a stopped
    /// server, or a network that drops packets).
    Frozen,
    /// Closes every connection and every new one at once (a server that went away).
    Cut,
}

/// A TCP proxy in front of the PostgreSQL server that a test can freeze, cut and restore.
struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy");
        let port = listener.local_addr().expect("proxy").port();
        let (mode, watching) = watch::channel(Mode::Open);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watching.borrow() == Mode::Cut {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let watching = watching.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(pump(client_read, server_write, watching.clone()));
                    tokio::spawn(pump(server_read, client_write, watching));
                });
            }
        });
        Self { port, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// `url` with its host and port replaced by the proxy's.
    fn in_front_of(&self, url: &str) -> String {
        let (scheme_user, rest) = url.split_once('@').unwrap_or_else(|| panic!("{url}"));
        let (_, path) = rest.split_once('/').unwrap_or_else(|| panic!("{url}"));
        format!("{scheme_user}@127.0.0.1:{}/{path}", self.port)
    }
}

/// Copies `from` to `to`, holding data while frozen and ending (closing both) when cut.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let mut cut = mode.clone();
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = cut.wait_for(|m| *m == Mode::Cut) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match mode.wait_for(|m| *m != Mode::Frozen).await {
            Ok(m) if *m == Mode::Open => {}
            _ => return,
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// The PostgreSQL server's `host:port` from `TEST_DATABASE_URL`, or `None` on SQLite.
fn postgres_server() -> Option<(String, String)> {
    let url = std::env::var("TEST_DATABASE_URL").ok()?;
    if !url.starts_with("postgres") {
        return None;
    }
    let (_, rest) = url.split_once('@')?;
    let authority = rest.split('/').next()?.to_owned();
    Some((url, authority))
}

/// An app whose database connections go through a proxy, with a 1 s database deadline.
async fn app_behind_proxy() -> Option<(TestApp, Proxy)> {
    let Some((_, server)) = postgres_server() else {
        eprintln!("skipped: the proxy outage tests need TEST_DATABASE_URL=postgres://…");
        return None;
    };
    let proxy = Proxy::start(server).await;
    let app = TestApp::spawn_with(|c| {
        c.database_url = proxy.in_front_of(&c.database_url);
        c.db_timeout = Duration::from_secs(1);
    })
    .await;
    Some((app, proxy))
}

/// Asserts a 503 `service_unavailable` with a `Retry-After` of whole seconds.
#[track_caller]
fn assert_unavailable(reply: &Reply) {
    reply.assert_problem(503, "service_unavailable");
    let retry_after = reply
        .header("retry-after")
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|s| s >= 1),
        "Retry-After: {:?}",
        reply.header("retry-after")
    );
}

async fn ready(app: &TestApp) -> Reply {
    let response = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("/health/ready did not answer");
    Reply::from(response).await
}

/// Polls `/health/ready` until it is 200; a hang detector, not a timing assertion.
async fn until_ready(app: &TestApp) {
    let restored = std::time::Instant::now();
    for _ in 0..300 {
        if ready(app).await.status == StatusCode::OK {
            eprintln!(
                "ready again {:?} after the database returned",
                restored.elapsed()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("doorman did not become ready again after the database returned");
}

/// What a signed-in client does during an outage: one read, one write, one login, and the
/// readiness probe. Each answers 503 with Retry-After.
async fn assert_every_kind_of_request_is_503(app: &TestApp, tokens: &Tokens) {
    assert_unavailable(&app.api().get_me(&tokens.access).await);
    assert_unavailable(
        &app.request(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&tokens.access),
            Some(json!({ "first_name": "Frozen" })),
        )
        .await,
    );
    assert_unavailable(
        &app.post(
            "/api/v1/users",
            json!({ "email": "during@example.com", "password": PASSWORD }),
        )
        .await,
    );
    assert_unavailable(&app.refresh(&tokens.refresh).await);
    assert_unavailable(&ready(app).await);
}

/// After the database returned: the account made before the outage signs in, and its
/// token works.
async fn assert_service_resumed(app: &TestApp) {
    until_ready(app).await;
    let login = app.login("before@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "login: {}", login.body);
    let tokens = Tokens::from(&login.body);
    // Every request after the return is served right: no connection that was mid-query
    // when its deadline passed went back to the pool (its late answers would be read as
    // the answers to later queries).
    for _ in 0..20 {
        let me = app.api().get_me(&tokens.access).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(me.body["email"], "before@example.com");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_database_gives_503_with_retry_after_instead_of_a_hang_and_service_resumes_when_it_returns()
 {
    let Some((app, proxy)) = app_behind_proxy().await else {
        return;
    };
    let tokens = app.signed_in("before@example.com").await;

    proxy.set(Mode::Frozen);
    let frozen = std::time::Instant::now();
    assert_every_kind_of_request_is_503(&app, &tokens).await;
    eprintln!(
        "five requests on a frozen database answered 503 in {:?}",
        frozen.elapsed()
    );
    // Again: the connections the first requests left behind were closed, not reused.
    assert_every_kind_of_request_is_503(&app, &tokens).await;

    proxy.set(Mode::Open);
    assert_service_resumed(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_cut_off_gives_503_with_retry_after_and_its_broken_connections_are_never_handed_out()
 {
    let Some((app, proxy)) = app_behind_proxy().await else {
        return;
    };
    let tokens = app.signed_in("before@example.com").await;

    // A request whose query is under way when its connection is cut.
    proxy.set(Mode::Frozen);
    let in_flight = app.api().get_me(&tokens.access);
    let cut = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.set(Mode::Cut);
    };
    let (in_flight, ()) = tokio::join!(in_flight, cut);
    assert_unavailable(&in_flight);

    assert_every_kind_of_request_is_503(&app, &tokens).await;

    proxy.set(Mode::Open);
    assert_service_resumed(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_freezes_then_is_cut_recovers_with_its_data() {
    let Some((app, proxy)) = app_behind_proxy().await else {
        return;
    };
    let tokens = app.signed_in("before@example.com").await;
    proxy.set(Mode::Frozen);
    assert_unavailable(&app.api().get_me(&tokens.access).await);
    proxy.set(Mode::Cut);
    assert_unavailable(&app.api().get_me(&tokens.access).await);
    assert_unavailable(&ready(&app).await);
    proxy.set(Mode::Open);
    assert_service_resumed(&app).await;
    let me = app.api().get_me(&tokens.access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
}

/// The SQLite analogue: another process holds the write lock (`BEGIN EXCLUSIVE`) for longer
/// than the deadline. Writes answer 503 within it (SQLite's busy wait is bounded by the
/// deadline); once the lock is gone they succeed.
#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_database_locked_by_another_process_gives_503_with_retry_after_and_recovers() {
    if postgres_server().is_some() {
        eprintln!("skipped: the lock test is SQLite's; PostgreSQL's outages use the proxy");
        return;
    }
    let app = TestApp::spawn_with(|c| c.db_timeout = Duration::from_secs(1)).await;
    let path = app
        .config
        .database_url
        .trim_start_matches("sqlite://")
        .to_owned();
    let (release, locked) = std::sync::mpsc::channel::<()>();
    let (taken, lock_taken) = tokio::sync::oneshot::channel::<()>();
    let holder = std::thread::spawn(move || {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut conn =
            diesel::SqliteConnection::establish(&path).expect("the database connection opens");
        // Waits its turn if doorman is writing (its checkpointer, a background job).
        conn.batch_execute("PRAGMA busy_timeout = 5000; BEGIN EXCLUSIVE")
            .expect("the test takes the database's lock");
        let _ = taken.send(());
        let _ = locked.recv();
        conn.batch_execute("ROLLBACK").expect("the SQL runs");
    });
    lock_taken.await.expect("the lock holder finishes");

    let reply = app
        .post(
            "/api/v1/users",
            json!({ "email": "locked@example.com", "password": PASSWORD }),
        )
        .await;
    assert_unavailable(&reply);

    drop(release);
    holder.join().expect("the lock holder panicked");
    app.register("locked@example.com").await;
}

/// A tmpfs of `size` mounted for one test (CI runs as root), unmounted when dropped.
struct TinyFilesystem {
    dir: std::path::PathBuf,
}

impl TinyFilesystem {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("doorman-full-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !mounted.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(String::from_utf8_lossy(&mounted.stderr).into_owned());
        }
        Ok(Self { dir })
    }

    /// Takes every byte left on the file system with one file; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).expect("the file is created");
        for chunk in [64 * 1024, 4096, 512, 1] {
            let bytes = vec![0u8; chunk];
            while file.write_all(&bytes).and_then(|()| file.flush()).is_ok() {}
        }
        path
    }
}

impl Drop for TinyFilesystem {
    fn drop(&mut self) {
        // Lazily: the app may still hold the database open.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A full disk under SQLite is temporary: writes answer 503 with Retry-After (never 500)
/// while it lasts, and work again, with every acknowledged account intact, once space is
/// freed. Needs a tmpfs mount (root); skipped with a message where mounting fails.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_under_sqlite_gives_503_with_retry_after_and_writes_resume_once_space_is_freed()
{
    if postgres_server().is_some() {
        eprintln!("skipped: the full-disk test is SQLite's");
        return;
    }
    let disk = match TinyFilesystem::mount("4m") {
        Ok(disk) => disk,
        Err(err) => {
            eprintln!("skipped: cannot mount a tiny tmpfs ({err})");
            return;
        }
    };
    let url = format!("sqlite://{}", disk.dir.join("doorman.db").display());
    let app = TestApp::spawn_with(|c| c.database_url = url).await;
    app.register("before@example.com").await;

    let filler = disk.fill();
    let mut unavailable = 0;
    for n in 0..200 {
        let reply = app
            .post(
                "/api/v1/users",
                json!({ "email": format!("full{n}@example.com"), "password": PASSWORD }),
            )
            .await;
        match reply.status {
            StatusCode::CREATED => {}
            _ => {
                assert_unavailable(&reply);
                unavailable += 1;
                if unavailable == 3 {
                    break;
                }
            }
        }
    }
    assert!(unavailable > 0, "200 registrations fitted on a full disk");

    std::fs::remove_file(filler).expect("the file is removed");
    app.register("after@example.com").await;
    let login = app.login("before@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
}
