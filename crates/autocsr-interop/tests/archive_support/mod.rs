//! Shared by the `archive_*` interop tests: fixtures, and one function per client that
//! extracts an archive and reports what happened.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::match_like_matches_macro,
    unreachable_pub,
    reason = "test support shared by several test binaries; each uses a part"
)]

use std::path::{Path, PathBuf};
use std::process::Output;

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{ArchiveFormat, Entry, SealOptions, seal};
use autocsr_interop::Program;

/// An unlock code as AutoCSR shows it: 32 characters with dashes.
pub const CODE_PASSWORD: &str = "7K4M-Q9TX-2WRB-N8DH-V3CJ-6YEZ-P5GA";
/// A password with Latin, Cyrillic and CJK characters (UTF-8 for zip, UTF-16LE for 7z).
pub const NON_ASCII_PASSWORD: &str = "Grüße-Ключ-鍵-ÅÄÖ-2026";
pub const WRONG_PASSWORD: &str = "7K4M-Q9TX-2WRB-N8DH-V3CJ-6YEZ-P5GB";

pub fn passwords() -> [&'static str; 2] {
    [CODE_PASSWORD, NON_ASCII_PASSWORD]
}

pub fn secret(password: &str) -> SecretString {
    SecretString::from(password)
}

/// A realistic bundle: key (0600), CSR, README, and a binary file to catch text-mode
/// mangling. Names are distinctive so "is a name listed" checks cannot match by accident.
pub fn bundle() -> Vec<Entry> {
    let key: Vec<u8> = (0..1700u32)
        .map(|i| b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop0123456789+/"[(i * 7 % 54) as usize])
        .collect();
    vec![
        Entry::private("zzsecretkeyname.key", key).unwrap(),
        Entry::new(
            "zzcsrname.csr",
            b"-----BEGIN CERTIFICATE REQUEST-----\nMIIC\n-----END CERTIFICATE REQUEST-----\n"
                .to_vec(),
        )
        .unwrap(),
        Entry::new(
            "README.txt",
            "Unlock with the code from your order page. Grüße.\n"
                .repeat(10)
                .into_bytes(),
        )
        .unwrap(),
        Entry::new(
            "binary.bin",
            (0..=255u8).cycle().take(4096).collect::<Vec<u8>>(),
        )
        .unwrap(),
    ]
}

pub fn sealed(format: ArchiveFormat, password: &str) -> Vec<u8> {
    sealed_entries(format, &bundle(), password)
}

pub fn sealed_entries(format: ArchiveFormat, entries: &[Entry], password: &str) -> Vec<u8> {
    sealed_with(format, entries, password, &SealOptions::default())
}

pub fn sealed_with(
    format: ArchiveFormat,
    entries: &[Entry],
    password: &str,
    options: &SealOptions,
) -> Vec<u8> {
    seal(format, entries, &secret(password), options).unwrap()
}

/// Writes the archive into a fresh temp dir and returns (dir, path).
pub fn write_archive(bytes: &[u8], format: ArchiveFormat) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("bundle.{}", format.extension()));
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// The result of asking a client to extract.
#[derive(Debug)]
pub struct Extraction {
    pub output: Output,
    pub out_dir: tempfile::TempDir,
}

impl Extraction {
    pub fn succeeded(&self) -> bool {
        self.output.status.success()
    }

    /// True when the client exited 0 and every entry came out byte for byte (and the key
    /// file with mode 0600 when `check_mode`).
    pub fn matches_bundle(&self, check_mode: bool) -> Result<(), String> {
        if !self.succeeded() {
            return Err(format!(
                "exit {:?}\nstdout: {}\nstderr: {}",
                self.output.status.code(),
                String::from_utf8_lossy(&self.output.stdout),
                String::from_utf8_lossy(&self.output.stderr)
            ));
        }
        for entry in bundle() {
            let path = self.out_dir.path().join(entry.name());
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if bytes != entry.data() {
                return Err(format!("{} differs", entry.name()));
            }
            if check_mode && let Some(mode) = entry.unix_mode() {
                use std::os::unix::fs::PermissionsExt;
                let actual = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                if actual != mode {
                    return Err(format!(
                        "{} has mode {actual:o}, want {mode:o}",
                        entry.name()
                    ));
                }
            }
        }
        Ok(())
    }

    /// True when no entry came out with its full contents (a client may leave an empty
    /// placeholder file behind, as unar does).
    pub fn extracted_nothing(&self) -> bool {
        bundle().iter().all(|entry| {
            std::fs::read(self.out_dir.path().join(entry.name()))
                .map_or(true, |bytes| bytes != entry.data())
        })
    }
}

fn utf8_env(command: &mut std::process::Command) {
    command.env("LC_ALL", "C.UTF-8").env("LANG", "C.UTF-8");
}

fn run(program: &Program, args: &[&std::ffi::OsStr]) -> Output {
    let mut command = program.command();
    utf8_env(&mut command);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.name()))
}

/// The outside programs, and how each extracts an archive with a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    SevenZip,
    Bsdtar,
    Unar,
    InfoZipUnzip,
    Pyzipper,
    Py7zr,
}

impl Client {
    pub const ALL: [Client; 6] = [
        Client::SevenZip,
        Client::Bsdtar,
        Client::Unar,
        Client::InfoZipUnzip,
        Client::Pyzipper,
        Client::Py7zr,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Client::SevenZip => "7-Zip `7zz x`",
            Client::Bsdtar => "libarchive `bsdtar -x`",
            Client::Unar => "The Unarchiver `unar`",
            Client::InfoZipUnzip => "Info-ZIP `unzip`",
            Client::Pyzipper => "pyzipper (Python)",
            Client::Py7zr => "py7zr (Python)",
        }
    }

    /// Finds the program (skip-or-fail policy of `Program::require`).
    pub fn program(self) -> Option<Program> {
        match self {
            Client::SevenZip => Program::require("7zz"),
            Client::Bsdtar => Program::require("bsdtar"),
            Client::Unar => Program::require("unar"),
            Client::InfoZipUnzip => Program::require("unzip"),
            Client::Pyzipper => Program::require_python_module("pyzipper"),
            Client::Py7zr => Program::require_python_module("py7zr"),
        }
    }

    /// Which formats the client is expected to open (the others are recorded as refusals).
    pub fn expected_to_open(self, format: ArchiveFormat) -> bool {
        match (self, format) {
            (Client::SevenZip, _) => true,
            (Client::Bsdtar | Client::Pyzipper, ArchiveFormat::Zip) => true,
            (Client::Unar | Client::Py7zr, ArchiveFormat::SevenZ) => true,
            _ => false,
        }
    }

    /// Whether the client restores stored Unix modes (checked for the 0600 key file).
    pub fn restores_modes(self) -> bool {
        matches!(self, Client::SevenZip | Client::Bsdtar)
    }

    pub fn version(self, program: &Program) -> String {
        let first_line = |output: Output| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            text.lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .unwrap_or("unknown")
                .to_owned()
        };
        match self {
            Client::SevenZip => {
                let line = first_line(run(program, &["i".as_ref()]));
                line.split(':').next().unwrap_or(&line).trim().to_owned()
            }
            Client::Bsdtar => first_line(run(program, &["--version".as_ref()])),
            Client::Unar => format!("unar {}", first_line(run(program, &["-v".as_ref()]))),
            Client::InfoZipUnzip => {
                let line = first_line(run(program, &["-v".as_ref()]));
                line.split(" of ").next().unwrap_or(&line).to_owned()
            }
            Client::Pyzipper | Client::Py7zr => {
                let module = if self == Client::Pyzipper {
                    "pyzipper"
                } else {
                    "py7zr"
                };
                let script = format!("import {module}; print('{module}', {module}.__version__)");
                first_line(run(program, &["-c".as_ref(), script.as_ref()]))
            }
        }
    }

    /// Extracts `archive` into a fresh directory with `password`.
    pub fn extract(self, program: &Program, archive: &Path, password: &str) -> Extraction {
        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().as_os_str();
        let archive = archive.as_os_str();
        let output = match self {
            Client::SevenZip => {
                let pass = format!("-p{password}");
                let dest = format!("-o{}", out_dir.path().display());
                run(
                    program,
                    &[
                        "x".as_ref(),
                        "-y".as_ref(),
                        pass.as_ref(),
                        dest.as_ref(),
                        archive,
                    ],
                )
            }
            Client::Bsdtar => run(
                program,
                &[
                    "-x".as_ref(),
                    "-f".as_ref(),
                    archive,
                    "--passphrase".as_ref(),
                    password.as_ref(),
                    "-C".as_ref(),
                    out,
                ],
            ),
            Client::Unar => run(
                program,
                &[
                    "-q".as_ref(),
                    "-f".as_ref(),
                    "-D".as_ref(),
                    "-p".as_ref(),
                    password.as_ref(),
                    "-o".as_ref(),
                    out,
                    archive,
                ],
            ),
            Client::InfoZipUnzip => run(
                program,
                &[
                    "-o".as_ref(),
                    "-P".as_ref(),
                    password.as_ref(),
                    "-d".as_ref(),
                    out,
                    archive,
                ],
            ),
            Client::Pyzipper | Client::Py7zr => {
                let script = if self == Client::Pyzipper {
                    "import sys, pyzipper\n\
                    with pyzipper.AESZipFile(sys.argv[1]) as z:\n\
                    \x20   z.setpassword(sys.argv[2].encode('utf-8'))\n\
                    \x20   z.extractall(sys.argv[3])\n"
                } else {
                    "import sys, py7zr\n\
                    with py7zr.SevenZipFile(sys.argv[1], mode='r', password=sys.argv[2]) as z:\n\
                    \x20   z.extractall(path=sys.argv[3])\n"
                };
                run(
                    program,
                    &[
                        "-c".as_ref(),
                        script.as_ref(),
                        archive,
                        password.as_ref(),
                        out,
                    ],
                )
            }
        };
        Extraction { output, out_dir }
    }
}

/// Runs `7zz` with arbitrary arguments (listing, creating archives).
pub fn seven_zip(program: &Program, args: &[&std::ffi::OsStr], dir: &Path) -> Output {
    let mut command = program.command();
    utf8_env(&mut command);
    command
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not start 7zz: {e}"))
}

/// What one client did with one of our formats, for the tests and the matrix.
#[derive(Debug)]
pub struct Outcome {
    /// Per password: `Ok` when extracted byte for byte, `Err(detail)` otherwise.
    pub opens: Vec<(&'static str, Result<(), String>)>,
    /// Exit status non-zero and no entry extracted with a wrong password.
    pub wrong_password_rejected: bool,
}

impl Outcome {
    pub fn opened_all(&self) -> bool {
        self.opens.iter().all(|(_, result)| result.is_ok())
    }

    pub fn opened_none(&self) -> bool {
        self.opens.iter().all(|(_, result)| result.is_err())
    }
}

/// Seals the bundle with each test password, has `client` extract it, then tries a wrong
/// password.
pub fn try_client(client: Client, program: &Program, format: ArchiveFormat) -> Outcome {
    let mut opens = Vec::new();
    for password in passwords() {
        let (_dir, path) = write_archive(&sealed(format, password), format);
        let extraction = client.extract(program, &path, password);
        opens.push((password, extraction.matches_bundle(client.restores_modes())));
    }
    let (_dir, path) = write_archive(&sealed(format, CODE_PASSWORD), format);
    let wrong = client.extract(program, &path, WRONG_PASSWORD);
    Outcome {
        opens,
        wrong_password_rejected: !wrong.succeeded() && wrong.extracted_nothing(),
    }
}

/// Asserts the client opens the format with both passwords (bytes equal, key 0600 where
/// the client restores modes) and rejects a wrong password.
pub fn assert_client_opens(client: Client, format: ArchiveFormat) {
    let Some(program) = client.program() else {
        return;
    };
    let outcome = try_client(client, &program, format);
    for (password, result) in &outcome.opens {
        if let Err(detail) = result {
            panic!(
                "{} failed to open our {format} with password {password:?}: {detail}",
                client.label()
            );
        }
    }
    assert!(
        outcome.wrong_password_rejected,
        "{} accepted a wrong password for our {format}",
        client.label()
    );
}

/// Asserts the client cannot open the format (recorded in the matrix, not hidden).
pub fn assert_client_cannot_open(client: Client, format: ArchiveFormat) {
    let Some(program) = client.program() else {
        return;
    };
    let outcome = try_client(client, &program, format);
    assert!(
        outcome.opened_none(),
        "{} unexpectedly opened our {format}: update the README and INTEROP matrix",
        client.label()
    );
}

/// Writes the bundle's files into `dir` (for 7-Zip to archive).
pub fn write_bundle_files(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in bundle() {
        std::fs::write(dir.join(entry.name()), entry.data()).unwrap();
        names.push(entry.name().to_owned());
    }
    names
}

/// Checks that what our `open` returned equals the bundle (names and bytes).
pub fn assert_entries_are_bundle(entries: &[Entry]) {
    let mut got: Vec<(&str, &[u8])> = entries.iter().map(|e| (e.name(), e.data())).collect();
    let want_entries = bundle();
    let mut want: Vec<(&str, &[u8])> = want_entries.iter().map(|e| (e.name(), e.data())).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}
