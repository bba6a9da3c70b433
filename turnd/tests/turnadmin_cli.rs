//! Runs the real `turnadmin` binary against temporary SQLite files and configs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use md5::{Digest, Md5};
use rtc_userdb::{DatabaseConfig, UserDb};
use sha2::Sha256;

const PASSWORD: &str = "secret_password";

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    /// A directory with `turnd.yaml` (realm falcot.com) pointing at `turnd.sqlite` beside it.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "realm: falcot.com\ndatabase:\n  sqlite:\n    path: {}\n",
            dir.path().join("turnd.sqlite").display()
        );
        std::fs::write(dir.path().join("turnd.yaml"), config).unwrap();
        Self { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("turnd.yaml")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("turnd.sqlite")
    }

    /// `turnadmin -c CONFIG ARGS...`
    fn run(&self, args: &[&str]) -> Output {
        let config = self.config();
        let mut all = vec!["-c", config.to_str().unwrap()];
        all.extend_from_slice(args);
        turnadmin(&all, None)
    }
}

fn turnadmin(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_turnadmin"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

#[track_caller]
fn fails(o: &Output, code: i32, message: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    assert!(
        stderr(o).contains(message),
        "stderr lacks {message:?}: {}",
        stderr(o)
    );
}

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// Read the stored keys with the database library, not through turnadmin.
fn stored_keys(db: &Path, realm: &str, user: &str) -> Option<([u8; 16], [u8; 32])> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = UserDb::open(&DatabaseConfig::sqlite(db)).await.unwrap();
        let keys = db.turn().user_keys(realm, user).await.unwrap();
        keys.map(|k| (k.md5, k.sha256))
    })
}

#[test]
fn handbook_add_user_stores_both_keys_and_never_echoes_the_password() {
    let site = Site::new();
    let o = site.run(&["-a", "-u", "roland", "-p", PASSWORD, "-r", "falcot.com"]);
    assert_eq!(ok(&o), "added user roland in realm falcot.com\n");
    assert!(!stdout(&o).contains(PASSWORD) && !stderr(&o).contains(PASSWORD));

    let (md5, sha256) = stored_keys(&site.db(), "falcot.com", "roland").unwrap();
    assert_eq!(
        hex::encode(md5),
        md5_hex("roland:falcot.com:secret_password")
    );
    let expected_sha = Sha256::digest(b"roland:falcot.com:secret_password");
    assert_eq!(sha256.as_slice(), expected_sha.as_slice());

    let again = site.run(&[
        "-a",
        "-u",
        "roland",
        "-p",
        "new_password",
        "-r",
        "falcot.com",
    ]);
    assert_eq!(
        ok(&again),
        "updated the password of user roland in realm falcot.com\n"
    );
    let (md5, _) = stored_keys(&site.db(), "falcot.com", "roland").unwrap();
    assert_eq!(hex::encode(md5), md5_hex("roland:falcot.com:new_password"));
}

#[test]
fn key_print_matches_an_independent_md5_and_touches_no_database() {
    let o = turnadmin(
        &["-k", "-u", "roland", "-p", PASSWORD, "-r", "falcot.com"],
        None,
    );
    let expected = format!("0x{}\n", md5_hex("roland:falcot.com:secret_password"));
    assert_eq!(ok(&o), expected);
    // The value computed outside Rust (Python's hashlib), so a shared mistake would show.
    assert_eq!(expected, "0x3ac669c26660af60c9cb71dedf72d807\n");
    let site = Site::new();
    ok(&site.run(&["-k", "-u", "roland", "-p", PASSWORD]));
    assert!(!site.db().exists(), "-k must not create the database");
}

#[test]
fn realm_defaults_to_the_config_and_says_so() {
    let site = Site::new();
    let o = site.run(&["-a", "-u", "roland", "-p", PASSWORD]);
    assert_eq!(ok(&o), "added user roland in realm falcot.com\n");
    assert!(
        stderr(&o).contains("using realm \"falcot.com\" from"),
        "{}",
        stderr(&o)
    );
    assert!(stored_keys(&site.db(), "falcot.com", "roland").is_some());
}

#[test]
fn password_is_read_from_stdin_when_not_a_terminal() {
    let site = Site::new();
    let config = site.config();
    let o = turnadmin(
        &[
            "-c",
            config.to_str().unwrap(),
            "-a",
            "-u",
            "alice",
            "-r",
            "falcot.com",
        ],
        Some("piped_pw\n"),
    );
    ok(&o);
    assert!(!stdout(&o).contains("piped_pw") && !stderr(&o).contains("piped_pw"));
    let (md5, _) = stored_keys(&site.db(), "falcot.com", "alice").unwrap();
    assert_eq!(hex::encode(md5), md5_hex("alice:falcot.com:piped_pw"));
}

#[test]
fn list_and_delete_users() {
    let site = Site::new();
    ok(&site.run(&["-a", "-u", "roland", "-p", PASSWORD, "-r", "falcot.com"]));
    ok(&site.run(&["-a", "-u", "bob", "-p", PASSWORD, "-r", "other.org"]));
    assert_eq!(
        ok(&site.run(&["-l"])),
        "falcot.com\troland\nother.org\tbob\n"
    );
    assert_eq!(
        ok(&site.run(&["-l", "-r", "other.org"])),
        "other.org\tbob\n"
    );

    assert_eq!(
        ok(&site.run(&["-d", "-u", "roland", "-r", "falcot.com"])),
        "deleted user roland from realm falcot.com\n"
    );
    assert!(stored_keys(&site.db(), "falcot.com", "roland").is_none());
    fails(
        &site.run(&["-d", "-u", "roland", "-r", "falcot.com"]),
        1,
        "user roland in realm falcot.com not found",
    );
    let empty = site.run(&["-l", "-r", "falcot.com"]);
    assert_eq!(ok(&empty), "");
    assert!(stderr(&empty).contains("no users"));
}

#[test]
fn administrators_add_list_delete() {
    let site = Site::new();
    let o = site.run(&["-A", "-u", "admin", "-p", PASSWORD]);
    assert_eq!(ok(&o), "added administrator admin (all realms)\n");
    ok(&site.run(&[
        "-A",
        "-u",
        "falcot-admin",
        "-p",
        PASSWORD,
        "-r",
        "falcot.com",
    ]));
    assert_eq!(ok(&site.run(&["-L"])), "admin\nfalcot-admin\tfalcot.com\n");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let verified = rt.block_on(async {
        let db = UserDb::open(&DatabaseConfig::sqlite(site.db()))
            .await
            .unwrap();
        let good = db.turn().verify_admin("admin", PASSWORD).await.unwrap();
        let bad = db.turn().verify_admin("admin", "wrong").await.unwrap();
        (good.is_some(), bad.is_some())
    });
    assert_eq!(verified, (true, false));

    assert_eq!(
        ok(&site.run(&["-D", "-u", "admin"])),
        "deleted administrator admin\n"
    );
    assert_eq!(ok(&site.run(&["-L"])), "falcot-admin\tfalcot.com\n");
    fails(
        &site.run(&["-D", "-u", "admin"]),
        1,
        "administrator admin not found",
    );
}

#[test]
fn rest_secrets_add_show_delete() {
    let site = Site::new();
    assert_eq!(
        ok(&site.run(&["-s", "s3cret-one", "-r", "falcot.com"])),
        "added a shared secret to realm falcot.com\n"
    );
    ok(&site.run(&["-s", "s3cret-two"])); // realm from the config
    ok(&site.run(&["-s", "other-secret", "-r", "other.org"]));
    let shown = ok(&site.run(&["-S", "-r", "falcot.com"]));
    assert!(
        shown.contains("falcot.com\ts3cret-one\n") && shown.contains("falcot.com\ts3cret-two\n"),
        "{shown}"
    );
    assert!(!shown.contains("other-secret"));
    assert_eq!(ok(&site.run(&["-S"])).lines().count(), 3);

    assert_eq!(
        ok(&site.run(&["-X", "s3cret-one", "-r", "falcot.com"])),
        "deleted a shared secret from realm falcot.com\n"
    );
    fails(
        &site.run(&["-X", "s3cret-one", "-r", "falcot.com"]),
        1,
        "not found",
    );
    assert_eq!(
        ok(&site.run(&["--delete-all-secrets", "-r", "falcot.com"])),
        "deleted 1 shared secret(s) from realm falcot.com\n"
    );
    assert_eq!(
        ok(&site.run(&["-X", "-r", "other.org"])),
        "deleted 1 shared secret(s) from realm other.org\n"
    );
    assert_eq!(ok(&site.run(&["-S"])), "");
}

#[test]
fn b_points_straight_at_an_sqlite_file_without_any_config() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("turndb");
    let db_arg = db.to_str().unwrap();
    let no_config = dir.path().join("absent.yaml");
    let no_config = no_config.to_str().unwrap();
    ok(&turnadmin(
        &[
            "-c",
            no_config,
            "-b",
            db_arg,
            "-a",
            "-u",
            "roland",
            "-p",
            PASSWORD,
            "-r",
            "falcot.com",
        ],
        None,
    ));
    assert_eq!(
        ok(&turnadmin(&["-c", no_config, "-b", db_arg, "-l"], None)),
        "falcot.com\troland\n"
    );
    // Needing the config's realm without a config is an error naming the file.
    fails(
        &turnadmin(
            &["-c", no_config, "-b", db_arg, "-a", "-u", "x", "-p", "y"],
            None,
        ),
        2,
        no_config,
    );
}

#[test]
fn works_while_another_process_holds_the_database_open() {
    let site = Site::new();
    ok(&site.run(&["-a", "-u", "first", "-p", PASSWORD, "-r", "falcot.com"]));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let daemon = UserDb::open(&DatabaseConfig::sqlite(site.db()))
            .await
            .unwrap();
        assert!(daemon
            .turn()
            .user_keys("falcot.com", "first")
            .await
            .unwrap()
            .is_some());
        ok(&site.run(&["-a", "-u", "second", "-p", PASSWORD, "-r", "falcot.com"]));
        // The open handle sees the new user at once: no restart needed.
        assert!(daemon
            .turn()
            .user_keys("falcot.com", "second")
            .await
            .unwrap()
            .is_some());
        ok(&site.run(&["-d", "-u", "first", "-r", "falcot.com"]));
        assert!(daemon
            .turn()
            .user_keys("falcot.com", "first")
            .await
            .unwrap()
            .is_none());
    });
}

#[test]
fn usage_and_access_errors_exit_non_zero_with_a_message() {
    let site = Site::new();
    fails(
        &site.run(&["-a", "-p", PASSWORD, "-r", "falcot.com"]),
        2,
        "-a needs a user name: add -u NAME",
    );
    fails(&site.run(&[]), 2, "no command given");
    fails(
        &site.run(&["-a", "-d", "-u", "x"]),
        2,
        "give only one command",
    );
    fails(
        &site.run(&["-a", "--bogus"]),
        2,
        "Unrecognized argument: --bogus",
    );

    let missing = site.dir.path().join("missing.yaml");
    let o = turnadmin(&["-c", missing.to_str().unwrap(), "-l"], None);
    fails(&o, 2, &format!("{}: cannot read", missing.display()));

    let bad = site.dir.path().join("bad.yaml");
    std::fs::write(&bad, "realm: falcot.com\ndatabse: {}\n").unwrap();
    let o = turnadmin(&["-c", bad.to_str().unwrap(), "-l"], None);
    fails(
        &o,
        2,
        &format!("{}:2:1: databse: unknown field `databse`", bad.display()),
    );

    // Reading from a database that does not exist is an error, not a new empty file.
    fails(&site.run(&["-l"]), 1, "does not exist");
    assert!(!site.db().exists());

    // An SQLite file that cannot be created: the directory is missing.
    let unreachable = site.dir.path().join("no-such-dir").join("turnd.sqlite");
    let o = turnadmin(
        &[
            "-b",
            unreachable.to_str().unwrap(),
            "-a",
            "-u",
            "x",
            "-p",
            "y",
            "-r",
            "r",
        ],
        None,
    );
    fails(&o, 1, &unreachable.display().to_string());

    fails(
        &site.run(&["-a", "-u", "x", "-p", "", "-r", "r"]),
        1,
        "invalid password",
    );
}

#[test]
fn help_lists_the_handbook_examples() {
    let o = turnadmin(&["--help"], None);
    let text = ok(&o);
    assert!(
        text.contains("turnadmin -a -u roland -p secret_password -r falcot.com"),
        "{text}"
    );
    assert!(
        text.contains("turnadmin -A -u admin -p secret_password"),
        "{text}"
    );
    assert!(text.contains("-b, --db"), "{text}");
}

#[test]
fn a_reader_that_went_away_is_not_a_crash() {
    // `turnadmin -l | head -1` closes the pipe early; the tool must not panic.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_turnadmin"))
        .args(["-k", "-u", "roland", "-p", PASSWORD, "-r", "falcot.com"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?} {}", o.status, stderr(&o));
    assert_eq!(stderr(&o), "");
}
