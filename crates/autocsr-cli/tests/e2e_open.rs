//! `autocsr open`: the customer side. A typo is caught by the code's check characters, a
//! wrong code exits 6, the right one extracts key, CSR and README.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code, including helpers outside #[test]: a failed expectation is the failure"
)]

mod common;

use std::fs;
use std::io::Write as _;
use std::process::Stdio;

use autocsr::credential::UnlockCode;
use common::{Sandbox, parse_one_object, str_field};
use secrecy::ExposeSecret as _;

/// Changes one data character of `code` to a different symbol that no look-alike rule maps
/// back (digits only swap with digits here, letters with letters).
fn one_typo(code: &str) -> String {
    let mut chars: Vec<char> = code.chars().collect();
    let index = chars.iter().position(char::is_ascii_alphanumeric).unwrap();
    chars[index] = match chars[index] {
        '2' => '3',
        c if c.is_ascii_digit() => '2',
        'X' => 'Y',
        _ => 'X',
    };
    chars.into_iter().collect()
}

#[test]
fn open_with_the_right_code_extracts_everything() {
    let sandbox = Sandbox::new();
    for format in ["zip", "7z"] {
        let order = sandbox.order("example.com", &["--key", "p256", "--format", format]);
        let out = sandbox.root.path().join(format!("opened-{format}"));
        let (opened, _) = sandbox.json(
            [
                "open",
                str_field(&order, "archive"),
                "--code",
                str_field(&order, "unlock_code"),
                "--out",
                out.to_str().unwrap(),
            ],
            0,
        );
        assert_eq!(opened["files"].as_array().unwrap().len(), 3, "{opened}");
        assert_eq!(
            fs::read(out.join("certificate-request.csr")).unwrap(),
            fs::read(str_field(&order, "csr")).unwrap()
        );
        let key = fs::read_to_string(out.join("private-key.pem")).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        // Opening again into the same place never overwrites.
        let (error, _) = sandbox.json(
            [
                "open",
                str_field(&order, "archive"),
                "--code",
                str_field(&order, "unlock_code"),
                "--out",
                out.to_str().unwrap(),
            ],
            1,
        );
        assert_eq!(error["error"]["kind"], "error");
        assert_eq!(
            fs::read_to_string(out.join("private-key.pem")).unwrap(),
            key
        );
    }
}

#[test]
fn the_default_destination_is_a_directory_named_after_the_archive() {
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    let output = sandbox.run([
        "open",
        str_field(&order, "archive"),
        "--code",
        str_field(&order, "unlock_code"),
    ]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let dir = sandbox.out_dir().join(str_field(&order, "order_id"));
    assert!(dir.join("private-key.pem").is_file());
}

#[test]
fn a_wrong_code_exits_6() {
    let sandbox = Sandbox::new();
    for format in ["zip", "7z"] {
        let order = sandbox.order("example.com", &["--key", "p256", "--format", format]);
        let other = UnlockCode::generate().unwrap().reveal();
        let out = sandbox.root.path().join(format!("wrong-{format}"));
        let (error, output) = sandbox.json(
            [
                "open",
                str_field(&order, "archive"),
                "--code",
                other.expose_secret(),
                "--out",
                out.to_str().unwrap(),
            ],
            6,
        );
        assert_eq!(error["error"]["kind"], "wrong_code");
        let stderr = common::stderr(&output);
        assert!(stderr.contains("does not open"), "{stderr}");
        assert!(!stderr.contains(other.expose_secret()), "no code in errors");
        assert!(!out.join("private-key.pem").exists(), "nothing extracted");
    }
}

#[test]
fn a_one_character_typo_is_called_a_typo() {
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    let code = str_field(&order, "unlock_code");
    let typo = one_typo(code);
    assert_ne!(typo, code);
    let (error, output) = sandbox.json(["open", str_field(&order, "archive"), "--code", &typo], 6);
    assert_eq!(error["error"]["kind"], "wrong_code");
    let stderr = common::stderr(&output);
    assert!(stderr.contains("probably a typo"), "{stderr}");
    assert!(!stderr.contains(&typo) && !stderr.contains(code));
}

#[test]
fn the_code_is_accepted_forgivingly_and_from_stdin() {
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    // Lower case, no dashes: the parser is forgiving.
    let sloppy = str_field(&order, "unlock_code")
        .replace('-', "")
        .to_ascii_lowercase();
    let out = sandbox.root.path().join("stdin");
    let mut child = sandbox
        .command(["--json", "open", str_field(&order, "archive"), "--out"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{sloppy}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    parse_one_object(&output.stdout);
    assert!(out.join("README.txt").is_file());
}

#[test]
fn a_missing_code_on_a_closed_stdin_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256"]);
    let (error, _) = sandbox.json(["open", str_field(&order, "archive")], 2);
    assert_eq!(error["error"]["kind"], "usage");
}

/// Issue 13, item 1: while `autocsr open` runs on a genuine order archive, a racer keeps
/// turning `--out` into a symlink to a victim directory and back (`rmdir(OUT);
/// symlink(VICTIM, OUT)`, then `unlink; mkdir`). The command opens `--out` once and works
/// through that handle, so it either extracts into the real `--out` (exit 0) or fails
/// (exit 1); the key never lands in the victim, whatever the exit code.
#[test]
fn a_racer_swapping_out_for_a_symlink_never_gets_the_key() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const RUNS: usize = 150;
    let time_bound = std::time::Duration::from_secs(120);
    let sandbox = Sandbox::new();
    let order = sandbox.order("example.com", &["--key", "p256", "--format", "zip"]);
    let victim = sandbox.root.path().join("victim");
    fs::create_dir(&victim).unwrap();
    let swaps = Arc::new(AtomicU64::new(0));
    let started = std::time::Instant::now();
    let (mut runs, mut exited_zero) = (0, 0);
    while runs < RUNS && started.elapsed() < time_bound {
        let out = sandbox.root.path().join(format!("race-{runs}"));
        let stop = Arc::new(AtomicBool::new(false));
        let racer = {
            let (out, victim, stop, swaps) =
                (out.clone(), victim.clone(), stop.clone(), swaps.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if fs::remove_dir(&out).is_ok()
                        && std::os::unix::fs::symlink(&victim, &out).is_ok()
                    {
                        swaps.fetch_add(1, Ordering::Relaxed);
                        if fs::remove_file(&out).is_ok() {
                            let _ = fs::create_dir(&out);
                        }
                    }
                }
            })
        };
        let output = sandbox
            .command([
                "--json",
                "open",
                str_field(&order, "archive"),
                "--code",
                str_field(&order, "unlock_code"),
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        racer.join().unwrap();

        let escaped: Vec<_> = fs::read_dir(&victim).unwrap().collect();
        assert!(
            escaped.is_empty(),
            "run {runs}: files in the victim directory (exit {:?}): {escaped:?}",
            output.status.code()
        );
        match output.status.code() {
            Some(0) => {
                exited_zero += 1;
                assert!(!fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
                let key = fs::read_to_string(out.join("private-key.pem")).unwrap();
                assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
            }
            Some(1) => {
                let error = parse_one_object(&output.stdout);
                assert_eq!(error["error"]["kind"], "error", "{error}");
            }
            other => panic!("run {runs}: exit {other:?}: {}", common::stderr(&output)),
        }
        runs += 1;
    }
    eprintln!(
        "open race: {runs} runs, {exited_zero} exited 0, {} swaps",
        swaps.load(Ordering::Relaxed)
    );
    assert!(
        swaps.load(Ordering::Relaxed) > 0,
        "the racer never got to swap"
    );
}
