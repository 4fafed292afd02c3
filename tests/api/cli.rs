//! The `doorman` command line: help people can read, and `create-admin` from a pipe.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::TestDb;
use crate::startup_errors::{doorman, the_error_of};

fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_doorman"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run doorman: {e}"));
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

    for command in ["serve", "migrate", "create-admin", "rotate-keys", "openapi"] {
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
        .unwrap_or_else(|e| panic!("cannot run doorman: {e}"));
    child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("no stdin"))
        .write_all(stdin.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
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
