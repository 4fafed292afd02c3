//! The `doorman` command line: help people can read, and `create-admin` from a pipe.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::TestDb;
use crate::helpers::process::{doorman, the_error_of};

fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_doorman"))
        .args(args)
        .output()
        .expect("cannot run doorman");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The lines that name an option (`  -h, --help`, `      --bind <BIND>  …`).
fn option_lines(help: &str) -> Vec<&str> {
    help.lines()
        .filter(|line| line.trim_start().starts_with('-'))
        .collect()
}

#[test]
fn the_top_level_help_lists_the_commands_and_no_server_flags() {
    let help = help(&["--help"]);

    for command in [
        "serve",
        "migrate",
        "create-admin",
        "rotate-keys",
        "seal-secrets",
        "openapi",
    ] {
        assert!(help.contains(command), "{command} missing:\n{help}");
    }
    assert_eq!(
        option_lines(&help).len(),
        2,
        "only --help and --version:\n{help}"
    );
}

#[test]
fn serve_help_groups_the_server_flags_one_line_each() {
    let help = help(&["serve", "--help"]);

    for heading in [
        "Database:",
        "HTTP:",
        "Tokens:",
        "Accounts:",
        "Password hashing:",
    ] {
        assert!(
            help.lines().any(|l| l == heading),
            "{heading} missing:\n{help}"
        );
    }
    let flags: Vec<&str> = option_lines(&help)
        .into_iter()
        .filter(|line| !line.contains("--help"))
        .collect();
    assert!(flags.len() > 20, "{help}");
    for line in flags {
        assert!(
            line.contains("[env: "),
            "not one line with its variable: {line}"
        );
    }
}

#[test]
fn the_other_commands_show_only_their_own_options() {
    for (command, own) in [
        (vec!["migrate", "--help"], vec!["--database-url", "--help"]),
        (
            vec!["create-admin", "--help"],
            vec!["--email", "--database-url", "--help"],
        ),
        (
            vec!["rotate-keys", "--help"],
            vec!["--database-url", "--jwt-alg", "--help"],
        ),
        (
            vec!["seal-secrets", "--help"],
            vec!["--database-url", "--help"],
        ),
        (vec!["openapi", "--help"], vec!["--help"]),
    ] {
        let help = help(&command);
        let options = option_lines(&help);

        assert_eq!(options.len(), own.len(), "{command:?}:\n{help}");
        for option in own {
            assert!(help.contains(option), "{command:?} lacks {option}:\n{help}");
        }
        assert!(!help.contains("--bind"), "{command:?}:\n{help}");
    }
}

fn create_admin(db: &TestDb, stdin: &str) -> std::process::Output {
    let mut child = doorman(&db.url())
        .args(["create-admin", "--email", "root@example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run doorman");
    child
        .stdin
        .take()
        .expect("no stdin")
        .write_all(stdin.as_bytes())
        .expect("the write succeeds");
    child.wait_with_output().expect("the process ends")
}

#[tokio::test]
async fn create_admin_reads_the_password_from_a_pipe() {
    let db = TestDb::create().await;

    let output = create_admin(&db, "a long admin passphrase\n");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.starts_with("created admin root@example.com"),
        "{stdout}"
    );
}

#[tokio::test]
async fn create_admin_calls_an_empty_password_empty() {
    let db = TestDb::create().await;

    let error = the_error_of(
        doorman(&db.url())
            .args(["create-admin", "--email", "root@example.com"])
            .stdin(Stdio::null()),
    );

    assert_eq!(error, "the admin password is empty");
    let output = create_admin(&db, "\n");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("the admin password is empty"),
        "{output:?}"
    );
}

/// `create-admin` on a terminal (a pseudo-terminal from util-linux's `script`), answering
/// each prompt once it is shown; returns everything the terminal displayed.
fn create_admin_on_a_terminal(db: &TestDb, answers: &[&str]) -> String {
    use std::io::Read;
    let program = env!("CARGO_BIN_EXE_doorman");
    let mut child = Command::new("script")
        .args([
            "-qec",
            &format!("{program} create-admin --email root@example.com"),
            "/dev/null",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.url())
        .env("DOORMAN_ARGON2_MEMORY_KIB", "1024")
        .env("DOORMAN_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run script");
    let mut input = child.stdin.take().expect("no stdin");
    let mut output = child.stdout.take().expect("no stdout");
    let mut shown = String::new();
    for (asked, answer) in answers.iter().enumerate() {
        // Wait for prompt number `asked + 1` before typing, as a person would.
        while shown.matches("assword").count() <= asked {
            let mut buffer = [0u8; 256];
            let read = output.read(&mut buffer).expect("the read succeeds");
            assert!(read > 0, "ended before prompt {}: {shown}", asked + 1);
            shown.push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
        // The prompt comes just before echo is turned off: type only once it is.
        wait_for_echo_off(&db.url());
        input
            .write_all(format!("{answer}\n").as_bytes())
            .expect("the write succeeds");
    }
    output.read_to_string(&mut shown).expect("the file reads");
    drop(input);
    let _ = child.wait();
    shown
}

/// Waits until the terminal of the `doorman` started with `database_url` in its environment
/// has echo turned off (`stty` on its standard input shows `-echo`), or doorman has exited.
fn wait_for_echo_off(database_url: &str) {
    let marker = format!("DATABASE_URL={database_url}\0");
    loop {
        let doorman = std::fs::read_dir("/proc")
            .expect("the directory lists")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|process| {
                std::fs::read_to_string(process.join("comm")).is_ok_and(|c| c.trim() == "doorman")
                    && std::fs::read(process.join("environ"))
                        .is_ok_and(|env| String::from_utf8_lossy(&env).contains(&marker))
            });
        // Gone (it failed): the caller's assertions say why.
        let Some(process) = doorman else { return };
        let stty = Command::new("stty")
            .arg("-a")
            .stdin(
                std::fs::File::open(process.join("fd/0"))
                    .map_or_else(|_| Stdio::null(), Stdio::from),
            )
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if stty.split_whitespace().any(|flag| flag == "-echo") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[tokio::test]
async fn create_admin_on_a_terminal_asks_twice_without_echo() {
    let db = TestDb::create().await;

    let shown = create_admin_on_a_terminal(&db, &["a long admin passphrase"; 2]);

    assert!(shown.contains("Password for the new admin:"), "{shown}");
    assert!(shown.contains("The same password again:"), "{shown}");
    assert!(shown.contains("created admin root@example.com"), "{shown}");
    assert!(
        !shown.contains("passphrase"),
        "the password was echoed: {shown}"
    );
}

#[tokio::test]
async fn create_admin_on_a_terminal_refuses_two_different_passwords() {
    let db = TestDb::create().await;

    let shown =
        create_admin_on_a_terminal(&db, &["a long admin passphrase", "another long passphrase"]);

    assert!(shown.contains("the two passwords differ"), "{shown}");
    assert!(!shown.contains("created admin"), "{shown}");
}
