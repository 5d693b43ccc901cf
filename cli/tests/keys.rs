//! Registering given keys with the real `atrack` binary: `keys create --public-key/--secret-key`
//! succeeds only when it stored both keys, and `serve --public-key/--secret-key` starts again
//! with its own keys but refuses revoked keys and keys of another project.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

const ATRACK: &str = env!("CARGO_BIN_EXE_atrack");

fn atrack(args: &[&str]) -> Output {
    Command::new(ATRACK)
        .args(args)
        .env_remove("ATRACK_PUBLIC_KEY")
        .env_remove("ATRACK_SECRET_KEY")
        .env_remove("ATRACK_STORE")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run atrack")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn create(data_dir: &str, project: &str, public: &str, secret: &str) -> Output {
    atrack(&[
        "keys",
        "create",
        "--project",
        project,
        "--public-key",
        public,
        "--secret-key",
        secret,
        "--data-dir",
        data_dir,
    ])
}

/// How `atrack serve` with these keys ended: `Ok` with its stdout once it listens (it is then
/// killed), `Err` with its output when it exits first.
fn serve(data_dir: &str, public: &str, secret: &str) -> Result<String, String> {
    let mut child = Command::new(ATRACK)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", data_dir])
        .args(["--public-key", public, "--secret-key", secret])
        // No GeoIP needed; without this a first start downloads it into cli/data/geoip.
        .env("ATRACK_NO_GEOIP_FETCH", "1")
        .env_remove("ATRACK_PUBLIC_KEY")
        .env_remove("ATRACK_SECRET_KEY")
        .env_remove("ATRACK_STORE")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn atrack serve");
    let mut seen = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.expect("read stdout");
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("atrack listening on ") {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(seen);
        }
    }
    // Stdout closed: the process is exiting.
    let output = child.wait_with_output().expect("wait for atrack serve");
    assert!(!output.status.success(), "serve exited 0 without listening");
    Err(format!("{seen}{}", text(&output)))
}

#[test]
fn keys_create_registers_given_keys_once_and_says_what_it_found_after() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let first = create(data_dir, "shop", "pk_given_1", "sk_given_1");
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("pk_given_1"), "{}", text(&first));

    // The same keys again: nothing new was registered, which is not a success.
    let again = create(data_dir, "shop", "pk_given_1", "sk_given_1");
    assert!(!again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("already registered"),
        "{}",
        text(&again)
    );

    // A key of project shop offered for project blog: refused, and named as shop's.
    let foreign = create(data_dir, "blog", "pk_given_1", "sk_given_2");
    assert!(!foreign.status.success(), "{}", text(&foreign));
    assert!(text(&foreign).contains("shop"), "{}", text(&foreign));

    // A revoked key is refused as revoked.
    let revoked = atrack(&["keys", "revoke", "sk_given_1", "--data-dir", data_dir]);
    assert!(revoked.status.success(), "{}", text(&revoked));
    let after = create(data_dir, "shop", "pk_given_3", "sk_given_1");
    assert!(!after.status.success(), "{}", text(&after));
    assert!(text(&after).contains("revoked"), "{}", text(&after));

    // One text as both keys can never be both.
    let same = create(data_dir, "shop", "pk_same", "pk_same");
    assert!(!same.status.success(), "{}", text(&same));
}

#[test]
fn serve_accepts_its_own_keys_again_and_refuses_revoked_or_foreign_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    // Serve registers its keys at every start: the second start finds them registered.
    for _ in 0..2 {
        serve(data_dir, "pk_dev", "sk_dev").expect("serve with its own keys");
    }

    let created = create(data_dir, "shop", "pk_shop", "sk_shop");
    assert!(created.status.success(), "{}", text(&created));
    let err = serve(data_dir, "pk_shop", "sk_dev").expect_err("a key of project shop");
    assert!(err.contains("shop"), "{err}");

    let revoked = atrack(&["keys", "revoke", "sk_dev", "--data-dir", data_dir]);
    assert!(revoked.status.success(), "{}", text(&revoked));
    let err = serve(data_dir, "pk_dev", "sk_dev").expect_err("a revoked key");
    assert!(err.contains("revoked"), "{err}");
}
