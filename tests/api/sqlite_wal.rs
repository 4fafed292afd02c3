//! SQLite's WAL is checkpointed by doorman's own thread, not by the request whose commit
//! fills it (at 1,000 pages, which these writes are far from): what is written reaches
//! the database file itself within a moment. (On PostgreSQL there is no such file, and
//! these tests have nothing to check.)

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

/// The tasks in a copy of the database file alone, without its WAL: what has been
/// checkpointed. `None` while the copy cannot be read (caught mid-write).
fn tasks_in_the_file_alone(path: &str) -> Option<i64> {
    use diesel::{Connection, QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let copy = std::env::temp_dir().join(format!("doorman-copy-{}.db", uuid::Uuid::new_v4()));
    std::fs::copy(path, &copy).ok()?;
    let copy_path = copy.display().to_string();
    let count = diesel::SqliteConnection::establish(&copy_path)
        .ok()
        .and_then(|mut conn| {
            diesel::sql_query("SELECT COUNT(*) AS n FROM tasks")
                .get_result::<Count>(&mut conn)
                .ok()
        });
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{copy_path}{suffix}"));
    }
    count.map(|c| c.n)
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_reach_the_database_file_without_a_request_checkpointing() {
    let app = TestApp::spawn().await;
    let Some(path) = app.config.database_url.strip_prefix("sqlite://") else {
        return;
    };
    let path = path.to_owned();
    let tokens = app.signed_in("ada@example.com").await;

    // Far fewer pages than SQLite's own checkpoint threshold (1,000).
    for i in 0..20 {
        let body = json!({ "title": format!("task {i}") });
        let reply = app
            .request(
                Method::POST,
                "/api/v1/tasks",
                Some(&tokens.access),
                Some(body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    let started = Instant::now();
    loop {
        let found = tasks_in_the_file_alone(&path);
        if found == Some(20) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the database file alone holds {found:?} of 20 tasks"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
