//! The real `doorman` binary as a process: its error line, or a running server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// The `doorman` binary with no inherited environment but cheap hashing and a free port.
pub fn doorman(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_doorman"));
    command
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("DOORMAN_BIND", "127.0.0.1:0")
        .env("DOORMAN_ARGON2_MEMORY_KIB", "1024")
        .env("DOORMAN_ARGON2_ITERATIONS", "1")
        .env("DOORMAN_HASH_WORKERS", "1")
        .env("DOORMAN_HTTP_WORKERS", "1")
        .env("RUST_LOG", "info");
    command
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .expect("cannot run doorman")
}

/// Runs `command`, which must fail, and returns its one error line (without `doorman: `).
pub fn the_error_of(command: &mut Command) -> String {
    let output = run(command);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("doorman: ") || line.contains("ERROR"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line, printed once: {stderr}");
    assert!(
        !stderr.contains("doorman is listening"),
        "failed after listening: {stderr}"
    );
    errors[0]
        .strip_prefix("doorman: ")
        .unwrap_or_else(|| panic!("not doorman's error line: {stderr}"))
        .to_owned()
}

/// Sends `signal` to `child`.
pub fn send_signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    #[expect(unsafe_code, reason = "kill(2) has no memory-safety preconditions")]
    // SAFETY: kill only sends a signal to the child this test started.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill failed");
}

/// Kills the server when the test ends, however it ends.
pub struct Running(Child);

impl Running {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Sends SIGTERM: the server begins its graceful stop.
    pub fn terminate(&self) {
        send_signal(&self.0, libc::SIGTERM);
    }

    /// Waits for the exit (blocking: call it on a blocking thread).
    pub fn exit_status(mut self) -> std::process::ExitStatus {
        self.0.wait().expect("the process can be waited for")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `doorman serve` and returns it with its log up to the health check's line.
pub fn serve(command: &mut Command) -> (Running, Vec<String>) {
    let mut child = command
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run doorman");
    let stderr = child.stderr.take().expect("no stderr");
    let running = Running(child);
    let mut lines = Vec::new();
    let mut log = BufReader::new(stderr).lines();
    for line in log.by_ref() {
        let line = line.expect("a line arrives");
        let done = line.contains("health:");
        lines.push(line);
        if done {
            // Keep reading: a server whose standard error is closed fails to log.
            std::thread::spawn(move || log.for_each(drop));
            return (running, lines);
        }
    }
    panic!("doorman stopped before listening:\n{}", lines.join("\n"));
}
