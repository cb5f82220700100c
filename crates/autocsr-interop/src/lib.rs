#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// This crate exists to fail tests: panicking with the program's output is its job.
#![allow(clippy::panic, clippy::expect_used)]

#[cfg(feature = "browser")]
mod browser;
mod cluster;
mod search;
mod softhsm;

#[cfg(feature = "browser")]
pub use browser::Browser;
pub use cluster::{PrivateCluster, Tcp};
pub use search::{Found, Needles};
pub use softhsm::{init_softhsm_token, softhsm_available, softhsm_module};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The environment variable that turns a missing program from a skip into a failure.
pub const REQUIRE_ENV: &str = "AUTOCSR_REQUIRE_INTEROP";

/// True when `AUTOCSR_REQUIRE_INTEROP=1`: missing programs must fail the test.
pub fn interop_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|value| value == "1")
}

/// An outside program found on `PATH` (or a Python module runnable through `python3`).
#[derive(Debug, Clone)]
pub struct Program {
    name: String,
    path: PathBuf,
    /// Arguments that come before the caller's (`-c`/`-m` for Python modules).
    prefix_args: Vec<String>,
}

impl Program {
    /// Looks `name` up on `PATH`. Returns `None` if it is not there; see [`Program::require`]
    /// for the skip-or-fail policy tests should use.
    pub fn find(name: &str) -> Option<Program> {
        let path_var = std::env::var_os("PATH")?;
        std::env::split_paths(&path_var)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
            .map(|path| Program {
                name: name.to_owned(),
                path,
                prefix_args: Vec::new(),
            })
    }

    /// Finds `name` or applies the project's policy for a missing program: print
    /// `SKIPPED: <name> not installed` and return `None` (the test then returns early), or
    /// panic when [`interop_required`].
    ///
    /// # Panics
    /// When the program is missing and `AUTOCSR_REQUIRE_INTEROP=1`.
    pub fn require(name: &str) -> Option<Program> {
        match Program::find(name) {
            Some(program) => Some(program),
            None => skip_or_fail(name),
        }
    }

    /// Like [`Program::require`] for a Python module: `python3` must exist and
    /// `import <module>` must succeed. The returned program runs `python3`.
    ///
    /// # Panics
    /// When the module is missing and `AUTOCSR_REQUIRE_INTEROP=1`.
    pub fn require_python_module(module: &str) -> Option<Program> {
        let python = Program::find("python3")?;
        let importable = python
            .command()
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if importable {
            Some(Program {
                name: module.to_owned(),
                ..python
            })
        } else {
            skip_or_fail(&format!("python3 module {module}"))
        }
    }

    /// The program's name as the tests know it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` for this program, ready for arguments.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.path);
        command.args(&self.prefix_args);
        command
    }

    /// Runs the program with `args` and returns its output, whatever the exit status.
    ///
    /// # Panics
    /// When the program cannot be started at all.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("could not start {}: {err}", self.name))
    }

    /// Runs the program and panics, showing its output, unless it exits 0.
    ///
    /// # Panics
    /// When the program cannot be started or exits non-zero.
    pub fn run_ok<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = self.run(args);
        assert_success(&self.name, &output);
        output
    }

    /// The first line the program prints for its version (for the interop matrix), using
    /// the given arguments (`["version"]` for openssl, `["--version"]` for most).
    pub fn version_line(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let text = if output.stdout.is_empty() {
            output.stderr
        } else {
            output.stdout
        };
        String::from_utf8_lossy(&text)
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("unknown")
            .to_owned()
    }
}

/// Panics with the program's stdout and stderr unless it exited 0.
///
/// # Panics
/// When `output.status` is not success.
pub fn assert_success(name: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{name} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The public key of a private key file and of a CSR file, each as `openssl` prints it
/// (`pkey -pubout` and `req -pubkey`): equal PEM text means the key belongs to the CSR.
///
/// # Panics
/// When either openssl call fails.
pub fn openssl_public_keys(openssl: &Program, key: &Path, csr: &Path) -> (String, String) {
    let from_key = openssl.run_ok([
        "pkey".as_ref(),
        "-in".as_ref(),
        key.as_os_str(),
        "-pubout".as_ref(),
    ]);
    let from_csr = openssl.run_ok([
        "req".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
        "-pubkey".as_ref(),
        "-noout".as_ref(),
    ]);
    (
        String::from_utf8_lossy(&from_key.stdout).into_owned(),
        String::from_utf8_lossy(&from_csr.stdout).into_owned(),
    )
}

fn skip_or_fail(what: &str) -> Option<Program> {
    missing(&format!("{what} not installed"), "run .ci/run to install");
    None
}

/// Reports that something a test needs is missing (`what`; `remedy` says how to get it):
/// a panic when `AUTOCSR_REQUIRE_INTEROP=1`, otherwise a `SKIPPED:` notice written
/// straight to stderr, past the test harness's capture, so it shows in every run. The
/// caller then returns early.
///
/// # Panics
/// When `AUTOCSR_REQUIRE_INTEROP=1`.
pub fn missing(what: &str, remedy: &str) {
    use std::io::Write as _;
    if interop_required() {
        panic!("{what}, and {REQUIRE_ENV}=1 makes that a failure ({remedy})");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {what} ({remedy}; set {REQUIRE_ENV}=1 to make this a failure)"
    );
}

/// The environment variable `.ci/start-postgres.sh` sets to its throw-away server's URL.
pub const POSTGRES_URL_ENV: &str = "AUTOCSR_PG_URL";

/// The throw-away PostgreSQL server's URL, or `None` after [`missing`] reported it.
///
/// # Panics
/// When the URL is not set and `AUTOCSR_REQUIRE_INTEROP=1`.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            missing(
                &format!("PostgreSQL is not available ({POSTGRES_URL_ENV} is not set)"),
                "source .ci/start-postgres.sh",
            );
            None
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// `len` bytes of reproducible noise: the low byte of each step of a xorshift64 generator
/// from a fixed seed. Deflate and LZMA2 cannot shrink it, so sealing and opening it measures
/// (or exercises) the whole codec, and every run sees the same bytes. Test data only: it is
/// predictable, never a secret.
///
/// ```
/// let noise = autocsr_interop::noise(1024);
/// assert_eq!(noise.len(), 1024);
/// assert_eq!(noise, autocsr_interop::noise(1024));
/// ```
pub fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Finds a program or returns from the calling test after printing the skip notice.
///
/// ```no_run
/// fn openssl_test() {
///     let openssl = autocsr_interop::require_program!("openssl");
///     openssl.run_ok(["version"]);
/// }
/// ```
#[macro_export]
macro_rules! require_program {
    ($name:expr) => {
        match $crate::Program::require($name) {
            Some(program) => program,
            None => return,
        }
    };
}

/// Like [`require_program!`] for a Python module run through `python3`.
#[macro_export]
macro_rules! require_python_module {
    ($module:expr) => {
        match $crate::Program::require_python_module($module) {
            Some(program) => program,
            None => return,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_cannot_exist_is_not_found() {
        assert!(Program::find("autocsr-no-such-program-7f3a").is_none());
    }

    #[test]
    fn sh_is_found_and_runs() {
        let sh = Program::find("sh").expect("every Unix has sh");
        let output = sh.run_ok(["-c", "echo hello"]);
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "hello");
    }

    #[test]
    fn noise_is_the_same_sequence_as_before_it_moved_here() {
        // The first bytes the copies in the archive bench and the 7z interop test made.
        assert_eq!(noise(8), [173, 118, 54, 116, 236, 121, 207, 234]);
        // A longer run starts with the shorter one: one sequence, cut at `len`.
        assert_eq!(noise(4096)[..8], noise(8)[..]);
        assert!(noise(0).is_empty());
    }

    #[test]
    fn noise_uses_every_byte_value_evenly() {
        // 1 MiB: 4096 of each value expected; the fixed sequence stays within 4% of that.
        let mut counts = [0u32; 256];
        for byte in noise(1 << 20) {
            counts[usize::from(byte)] += 1;
        }
        assert!(
            counts
                .iter()
                .all(|&count| (3 * 4096 / 4..=5 * 4096 / 4).contains(&count)),
            "{counts:?}"
        );
    }

    #[test]
    #[should_panic(expected = "failed with")]
    fn run_ok_fails_on_nonzero_exit() {
        let sh = Program::find("sh").expect("every Unix has sh");
        sh.run_ok(["-c", "exit 3"]);
    }
}
