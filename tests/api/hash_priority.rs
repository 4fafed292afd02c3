//! The scheduling of the hashing threads, read from `/proc` for a running `doorman`
//! process (one of its own, so that other tests' threads cannot mix in).

use crate::helpers::TestDb;
use crate::helpers::process::{doorman, serve};

/// The hashing threads once `expected` of them show `wanted` (they set their priority
/// first thing, but a thread may not have run yet when the log says doorman listens).
fn settled(
    pid: u32,
    expected: usize,
    wanted: impl Fn(&(String, String)) -> bool,
) -> Vec<(String, String)> {
    let mut threads = hashing_threads(pid);
    for _ in 0..500 {
        if threads.len() == expected && threads.iter().all(&wanted) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        threads = hashing_threads(pid);
    }
    threads
}

/// Fields `policy` (41) and `nice` (19) of proc(5)'s `stat`, for each hashing thread.
fn hashing_threads(pid: u32) -> Vec<(String, String)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the directory lists");
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            if !name.starts_with("doorman-hash") {
                return None;
            }
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
            Some((
                fields.get(41 - 3)?.to_string(),
                fields.get(19 - 3)?.to_string(),
            ))
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn hashing_threads_run_at_nice_10_by_default() {
    let db = TestDb::create().await;
    let (server, _log) = serve(doorman(&db.url()).env("DOORMAN_HASH_WORKERS", "2"));

    let threads = settled(server.pid(), 2, |(policy, nice)| {
        policy == "0" && nice == "10"
    });

    assert_eq!(threads.len(), 2, "{threads:?}");
    for (policy, nice) in threads {
        assert_eq!(
            (policy.as_str(), nice.as_str()),
            ("0", "10"),
            "SCHED_OTHER at nice 10"
        );
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn hashing_threads_run_under_sched_idle_when_asked() {
    let db = TestDb::create().await;
    let (server, _log) = serve(
        doorman(&db.url())
            .env("DOORMAN_HASH_WORKERS", "2")
            .env("DOORMAN_HASH_PRIORITY", "idle"),
    );

    let threads = settled(server.pid(), 2, |(policy, _)| policy == "5");

    assert_eq!(threads.len(), 2, "{threads:?}");
    for (policy, _) in threads {
        assert_eq!(policy, "5", "SCHED_IDLE");
    }
}
