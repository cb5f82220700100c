//! Helpers shared by the end-to-end tests: run the built `autocsr` binary in a private data
//! directory and read its JSON.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed expectation is the test's failure"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A scratch data directory and output directory for one test.
#[derive(Debug)]
pub struct Sandbox {
    pub root: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            root: tempfile::tempdir().unwrap(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn out_dir(&self) -> PathBuf {
        self.root.path().join("out")
    }

    /// `autocsr ARGS` with this sandbox's data directory (through the environment, as a
    /// user would set it) and no terminal.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_autocsr"));
        command
            .env("AUTOCSR_DATA_DIR", self.data_dir())
            .args(args)
            .stdin(Stdio::null());
        command
    }

    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command(args).output().unwrap()
    }

    /// Runs with `--json`, checks the exit code, and returns the one JSON object on stdout.
    pub fn json<I, S>(&self, args: I, expected_exit: i32) -> (Value, Output)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = self.command(["--json"]);
        command.args(args);
        let output = command.output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(expected_exit),
            "exit status\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (parse_one_object(&output.stdout), output)
    }

    /// `order --json` for `domain` with extra arguments; returns the parsed object.
    pub fn order(&self, domain: &str, extra: &[&str]) -> Value {
        let out = self.out_dir();
        let mut args: Vec<String> = vec![
            "order".into(),
            "--domain".into(),
            domain.into(),
            "--out".into(),
            out.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        self.json(args, 0).0
    }
}

/// stdout must be exactly one JSON object and nothing else.
pub fn parse_one_object(stdout: &[u8]) -> Value {
    let text = std::str::from_utf8(stdout).unwrap();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let value = stream
        .next()
        .unwrap_or_else(|| panic!("no JSON on stdout: {text:?}"))
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {text:?}"));
    assert!(
        stream.next().is_none(),
        "more than one JSON value on stdout: {text:?}"
    );
    assert!(value.is_object(), "not an object: {text:?}");
    value
}

pub fn str_field<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing or not a string in {value}"))
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The directory holding the shared CSR test vectors (copied by the policy crate).
pub fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../autocsr-policy/tests/data")
}

pub mod shared_vault;
