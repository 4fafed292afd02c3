//! Three doorman processes on one PostgreSQL behind nginx's round robin (issue 21): whatever
//! instance a request reaches, tokens, refresh chains, lockouts, key rotations and the
//! retention job behave as they do with one. PostgreSQL only (SQLite is one process's file);
//! nginx must be installed (Debian's `nginx-light`; `.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::jwt::header;
use crate::helpers::process::{Running, doorman, serve};
use crate::helpers::{PASSWORD, TestApp, TestDb, Tokens, test_config};

/// Where Debian puts nginx, and the name to look for on `PATH` elsewhere.
const NGINX_PATHS: [&str; 2] = ["/usr/sbin/nginx", "/usr/bin/nginx"];

fn nginx_binary() -> PathBuf {
    if let Some(found) = NGINX_PATHS.iter().map(PathBuf::from).find(|p| p.exists()) {
        return found;
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v nginx"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    match on_path {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "nginx is not installed: the three-instance tests need it as their round-robin \
             proxy (Debian: apt-get install -y nginx-light; .ci/run installs it)"
        ),
    }
}

/// nginx as a child process with its configuration, pid, logs and temporary files in a
/// directory of its own; killed and removed on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Nginx {
    fn start(upstreams: &[u16]) -> Self {
        let binary = nginx_binary();
        let dir = std::env::temp_dir().join(format!("doorman-nginx-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let port = free_port();
        std::fs::write(dir.join("nginx.conf"), config(&dir, port, upstreams))
            .expect("writing nginx.conf");
        let child = Command::new(&binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        Self { child, dir, port }
    }

    fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nginx in the foreground on loopback, everything it writes inside `dir`, round robin over
/// `upstreams` (its default), passing the client's address on as a proxy does. One process
/// (no master): killed on drop, it leaves no orphaned worker behind.
fn config(dir: &Path, port: u16, upstreams: &[u16]) -> String {
    let dir = dir.display();
    let servers: String = upstreams
        .iter()
        .map(|p| format!("        server 127.0.0.1:{p};\n"))
        .collect();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream doorman {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://doorman;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Three `doorman serve` processes on one fresh PostgreSQL database, nginx in front of them,
/// and a client for each instance and one for the proxy.
struct Cluster {
    proxy: TestApp,
    instances: Vec<TestApp>,
    _nginx: Nginx,
    _processes: Vec<Running>,
    _db: TestDb,
}

impl Cluster {
    /// `None` (with the reason printed) on SQLite.
    async fn start(retention_interval: &str) -> Option<Self> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {}
            _ => {
                eprintln!(
                    "skipped: three instances share one PostgreSQL (TEST_DATABASE_URL=postgres://…)"
                );
                return None;
            }
        }
        let nginx = nginx_binary();
        let db = TestDb::create().await;
        let url = db.url();
        let mut processes = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..3 {
            let (running, log) = serve(
                doorman(&url)
                    .env("DOORMAN_LOG_FORMAT", "json")
                    .env("DOORMAN_RATE_LIMIT_PER_SECOND", "0")
                    .env("DOORMAN_REFRESH_REUSE_GRACE", "0s")
                    .env("DOORMAN_RETENTION_INTERVAL", retention_interval),
            );
            ports.push(listening_port(&log));
            processes.push(running);
        }
        let proxy = Nginx::start(&ports);
        let config = test_config(url);
        let cluster = Self {
            proxy: TestApp::at(proxy.address(), config.clone()),
            instances: ports
                .iter()
                .map(|p| TestApp::at(format!("http://127.0.0.1:{p}"), config.clone()))
                .collect(),
            _nginx: proxy,
            _processes: processes,
            _db: db,
        };
        cluster.proxy_ready(&nginx).await;
        Some(cluster)
    }

    /// Waits until nginx answers for doorman; the deadline only tells a hang from slowness.
    async fn proxy_ready(&self, binary: &Path) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .proxy
                .client
                .get(self.proxy.url("/health/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if ready {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never answered on {}: {}",
                binary.display(),
                self.proxy.address,
                self._nginx.error_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The port in doorman's JSON line "doorman is listening".
fn listening_port(log: &[String]) -> u16 {
    log.iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["message"] == "doorman is listening")
        .and_then(|event| event["port"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("no listening port in {log:?}"))
}

/// One series of an instance's `/metrics` (0 when absent).
async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0.0, |n| n.trim().parse().expect("a number"))
}

/// Waits until `check` holds; the deadline only tells a hang from slowness.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const SUCCEEDED: &str = r#"doorman_logins_total{outcome="succeeded"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_spreads_requests_and_tokens_from_any_instance_verify_on_all() {
    let Some(cluster) = Cluster::start("1h").await else {
        return;
    };
    cluster.proxy.register("ada@example.com").await;

    // Six logins through the proxy: round robin gives each instance two.
    let mut through_proxy = Vec::new();
    for _ in 0..6 {
        let reply = cluster.proxy.login("ada@example.com", PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        through_proxy.push(Tokens::from(&reply.body));
    }
    for (n, instance) in cluster.instances.iter().enumerate() {
        assert_eq!(
            metric(instance, SUCCEEDED).await,
            2.0,
            "instance {n} signed in two of the six"
        );
    }

    // Each instance's own token, and each token from the proxy, on every instance.
    let mut tokens = through_proxy;
    for instance in &cluster.instances {
        let reply = instance.login("ada@example.com", PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        tokens.push(Tokens::from(&reply.body));
    }
    for token in &tokens {
        for (n, instance) in cluster.instances.iter().enumerate() {
            let me = instance.get("/api/v1/users/me", &token.access).await;
            assert_eq!(me.status, StatusCode::OK, "instance {n}: {}", me.body);
            assert_eq!(me.body["id"], token.user_id.as_str());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_spent_on_one_instance_is_reuse_on_another() {
    let Some(cluster) = Cluster::start("1h").await else {
        return;
    };
    let [first, second, third] = &cluster.instances[..] else {
        panic!("three instances");
    };
    let tokens = first.signed_in("ada@example.com").await;

    let renewed = second.refresh(&tokens.refresh).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    let renewed = Tokens::from(&renewed.body);

    third
        .refresh(&tokens.refresh)
        .await
        .assert_problem(401, "refresh_token_reused");
    // Reuse revoked the whole session, on every instance.
    for instance in &cluster.instances {
        instance.assert_session_revoked(&renewed).await;
    }
    let reused = first
        .query_text("SELECT type AS value FROM audit_events WHERE type = 'refresh_token.reused'")
        .await;
    assert_eq!(reused.len(), 1, "{reused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lockout_counted_across_instances_holds_on_all() {
    let Some(cluster) = Cluster::start("1h").await else {
        return;
    };
    cluster.proxy.register("ada@example.com").await;

    // Eight wrong passwords, each to the next instance in turn, waiting out each lock: from
    // the fifth the lock is 1 s and doubles with each further failure, counted in the
    // database whichever instance saw it, so the eighth locks the account for 8 s.
    let mut failures = 0;
    let mut attempt = 0;
    while failures < 8 {
        let instance = &cluster.instances[attempt % 3];
        attempt += 1;
        let reply = instance.login("ada@example.com", "not my password").await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            reply.assert_problem(429, "rate_limited");
            assert!(failures >= 5, "locked after {failures} failures");
            let wait: u64 = reply
                .header("retry-after")
                .and_then(|s| s.parse().ok())
                .expect("Retry-After in seconds");
            tokio::time::sleep(Duration::from_millis(wait * 1000 + 100)).await;
            continue;
        }
        reply.assert_problem(401, "invalid_credentials");
        failures += 1;
    }

    // The right password is refused on every instance and through the proxy, for a lock
    // longer than any one instance's count would give.
    for instance in cluster.instances.iter().chain([&cluster.proxy]) {
        let refused = instance.login("ada@example.com", PASSWORD).await;
        refused.assert_problem(429, "rate_limited");
        let wait: u64 = refused
            .header("retry-after")
            .and_then(|s| s.parse().ok())
            .expect("Retry-After in seconds");
        assert!(
            wait >= 2,
            "the eighth failure's lock, not the fifth's: {wait} s"
        );
    }
    for (n, instance) in cluster.instances.iter().enumerate() {
        assert!(
            metric(instance, r#"doorman_logins_total{outcome="locked"}"#).await >= 1.0,
            "instance {n} refused the locked account"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_keys_reaches_every_instance() {
    let Some(cluster) = Cluster::start("1h").await else {
        return;
    };
    let before = cluster.proxy.signed_in("ada@example.com").await;
    let old_kid = header(&before.access)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let output = Command::new(env!("CARGO_BIN_EXE_doorman"))
        .arg("rotate-keys")
        .env_clear()
        .env("DATABASE_URL", &cluster.proxy.config.database_url)
        .output()
        .expect("running doorman rotate-keys");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Each instance reloads its keys every 20 s (the contract: published within 30 s); the
    // deadline here only tells a hang from slowness.
    let mut new_kids = Vec::new();
    for (n, instance) in cluster.instances.iter().enumerate() {
        eventually(
            &format!("instance {n} signs with a new key"),
            Duration::from_secs(90),
            || async {
                let reply = instance.login("ada@example.com", PASSWORD).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                let token = Tokens::from(&reply.body);
                header(&token.access)["kid"].as_str() != Some(old_kid.as_str())
            },
        )
        .await;
        let reply = instance.login("ada@example.com", PASSWORD).await;
        let after = Tokens::from(&reply.body);
        let kid = header(&after.access)["kid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let jwks = instance
            .client
            .get(instance.url("/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks answer")
            .json::<serde_json::Value>()
            .await
            .expect("jwks json");
        let published: Vec<&str> = jwks["keys"]
            .as_array()
            .map(|keys| keys.iter().filter_map(|k| k["kid"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            published.contains(&kid.as_str()) && published.contains(&old_kid.as_str()),
            "instance {n} publishes the new key {kid} and the old {old_kid}: {published:?}"
        );
        // Its token, and the one from before the rotation, verify everywhere.
        for other in &cluster.instances {
            for access in [&after.access, &before.access] {
                assert_eq!(
                    other.get("/api/v1/users/me", access).await.status,
                    StatusCode::OK
                );
            }
        }
        new_kids.push(kid);
    }
    new_kids.dedup();
    assert_eq!(new_kids.len(), 1, "one new key for all: {new_kids:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_retention_job_runs_once_across_three_instances_not_three_times() {
    let Some(cluster) = Cluster::start("1h").await else {
        return;
    };
    let ran = r#"doorman_retention_runs_total{outcome="ran"}"#;
    let skipped = r#"doorman_retention_runs_total{outcome="skipped"}"#;

    eventually(
        "every instance has taken its first turn",
        Duration::from_secs(60),
        || async {
            let mut all = true;
            for instance in &cluster.instances {
                all &= metric(instance, ran).await + metric(instance, skipped).await == 1.0;
            }
            all
        },
    )
    .await;

    let mut runs = 0.0;
    for instance in &cluster.instances {
        runs += metric(instance, ran).await;
    }
    assert_eq!(
        runs, 1.0,
        "one instance ran the turn, the others skipped it"
    );
    let recorded = cluster
        .proxy
        .query_text(
            "SELECT name AS value FROM job_runs WHERE ran_at > now() - interval '1 hour' \
             ORDER BY name",
        )
        .await;
    // The first turn also recounts the audit trail and the users, once too.
    assert_eq!(
        recorded,
        ["audit_recount", "retention", "user_recount"],
        "each run is recorded once"
    );
}
