//! SQL that PostgreSQL-compatible distributed engines also run: no advisory locks, no
//! server-side functions, and instances that start together still migrate once.

use doorman::startup::Application;

use crate::helpers::{PASSWORD, TestApp, TestDb, test_config};

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_migrating_a_fresh_database_together_all_start_and_serve_it() {
    let db = TestDb::create().await;
    let config = test_config(db.url());

    let (one, two, three) = tokio::join!(
        Application::build(config.clone()),
        Application::build(config.clone()),
        Application::build(config.clone()),
    );

    for (n, built) in [one, two, three].into_iter().enumerate() {
        let app = built.unwrap_or_else(|e| panic!("instance {n} did not start: {e:#}"));
        drop(app);
    }
    let app = TestApp::on_database(config).await;
    app.register("after@example.com").await;
    assert_eq!(app.login("after@example.com", PASSWORD).await.status, 200);
    drop(db);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_holds_no_server_side_code_of_doormans() {
    let app = TestApp::spawn().await;
    // What distributed engines would run is PostgreSQL's schema: no functions there. SQLite
    // keeps its search table in step with the users by its own triggers (migration
    // 000020), and those only.
    let (sql, expected): (&str, &[&str]) = if app.config.database_url.starts_with("postgres") {
        (
            "SELECT p.proname AS value FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
            &[],
        )
    } else {
        (
            "SELECT name AS value FROM sqlite_master WHERE type = 'trigger' ORDER BY name",
            &[
                "users_search_delete",
                "users_search_insert",
                "users_search_update",
            ],
        )
    };

    let code = app.query_text(sql).await;

    assert_eq!(code, expected, "functions or triggers");
}
