//! No key and no unlock code in the process at its last moment.
//!
//! Each command runs under gdb, which stops it at the `exit_group` system call (after
//! `main` returned, every destructor ran and stdout was flushed) and dumps its memory with
//! `gcore`. The core is then searched for everything secret the run handled:
//!
//! - every base64 line of the private key's PEM (read back from the archive);
//! - the key's private integers (RSA d, p, q, dP, dQ, qInv; the EC scalar), big- and
//!   little-endian (the byte order of limbs in memory), in 16-byte pieces, so a partial
//!   copy counts too;
//! - the unlock code, grouped as printed and without dashes, in ASCII and UTF-16LE (the
//!   7z key derivation's form), and as the symbol values the code type holds.
//!
//! A control run does the same to `cat`, whose read buffer still holds the needles at exit,
//! so a search that can find nothing fails the test.
//!
//! Measure another build of the command (a release build, an older commit) with
//! `AUTOCSR_RESIDUE_BINARY=path/to/autocsr cargo test -p autocsr-cli --test key_residue --
//! --nocapture`; the table of counts is printed in every run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code, including helpers outside #[test]: a failed expectation is the failure"
)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use autocsr_interop::Program;
use memchr::memmem;

const KEYS: [&str; 5] = ["rsa2048", "rsa3072", "rsa4096", "p256", "p384"];
const FORMATS: [&str; 2] = ["zip", "7z"];
/// The environment variable naming another `autocsr` binary to measure.
const BINARY_ENV: &str = "AUTOCSR_RESIDUE_BINARY";
/// The private integers in `openssl pkey -text` output (RSA, then EC).
const PRIVATE_FIELDS: [&str; 7] = [
    "privateExponent",
    "prime1",
    "prime2",
    "exponent1",
    "exponent2",
    "coefficient",
    "priv",
];

/// What one run must not leave in memory.
struct Secrets {
    pem_lines: Vec<String>,
    /// 16-byte pieces of the private integers, both byte orders.
    integer_pieces: Vec<Vec<u8>>,
    code_forms: Vec<Vec<u8>>,
}

/// How many of each kind of needle the core holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Residue {
    pem_lines: usize,
    integer_pieces: usize,
    code_forms: usize,
}

impl Residue {
    fn is_clean(self) -> bool {
        self == Residue::default()
    }
}

fn binary() -> PathBuf {
    std::env::var_os(BINARY_ENV).map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_autocsr")),
        PathBuf::from,
    )
}

/// gdb can start a program under itself and dump it; `None` after the skip notice.
fn gdb() -> Option<Program> {
    let gdb = Program::require("gdb")?;
    let probe = gdb.run(["-q", "-batch", "-nx", "-ex", "run", "--args", "true"]);
    if !String::from_utf8_lossy(&probe.stdout).contains("exited normally") {
        autocsr_interop::missing(
            "gdb is installed but cannot run a program under itself here",
            "allow ptrace in this container",
        );
        return None;
    }
    Some(gdb)
}

/// Runs `program ARGS < stdin > stdout` under gdb, stops it at its first `syscall`
/// (`exit_group`: the last moment), and returns the core of that moment.
fn core_at(
    gdb: &Program,
    dir: &Path,
    syscall: &str,
    program: &Path,
    args: &[&str],
    stdin: Option<&Path>,
    stdout: &Path,
) -> Vec<u8> {
    let core = dir.join("core");
    let mut run = String::from("run");
    for arg in args {
        write!(run, " {}", shell_word(arg)).unwrap();
    }
    if let Some(stdin) = stdin {
        write!(run, " < {}", shell_word(stdin.to_str().unwrap())).unwrap();
    }
    write!(run, " > {}", shell_word(stdout.to_str().unwrap())).unwrap();
    let core_text = core.to_str().unwrap();
    assert!(!core_text.contains(char::is_whitespace), "{core_text}");
    let output = gdb
        .command()
        .args(["-q", "-batch", "-nx"])
        .args(["-ex", "set pagination off", "-ex", "set confirm off"])
        .args(["-ex", &format!("catch syscall {syscall}"), "-ex", &run])
        .args(["-ex", &format!("gcore {core_text}"), "-ex", "kill"])
        .arg(program)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.contains(&format!("call to syscall {syscall}")) && core.exists(),
        "gdb did not stop {} at {syscall} and dump it:\n{log}\n{}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = fs::read(&core).unwrap();
    fs::remove_file(&core).unwrap();
    bytes
}

/// `text` quoted for the shell gdb starts the program with.
fn shell_word(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn secrets(openssl: &Program, key_pem: &Path, code: &str) -> Secrets {
    let pem = fs::read_to_string(key_pem).unwrap();
    let pem_lines: Vec<String> = pem
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        .map(str::to_owned)
        .collect();
    assert!(pem_lines.len() >= 3, "{pem}");

    let text = openssl.run_ok([
        "pkey".as_ref(),
        "-in".as_ref(),
        key_pem.as_os_str(),
        "-noout".as_ref(),
        "-text".as_ref(),
    ]);
    let integers = private_integers(&String::from_utf8(text.stdout).unwrap());
    assert!(
        !integers.is_empty(),
        "no private integer in openssl's output"
    );
    let mut integer_pieces = Vec::new();
    for big_endian in integers {
        let little_endian: Vec<u8> = big_endian.iter().rev().copied().collect();
        for order in [big_endian, little_endian] {
            integer_pieces.extend(order.chunks_exact(16).map(<[u8]>::to_vec));
        }
    }

    let raw: String = code.chars().filter(|c| *c != '-').collect();
    let utf16 =
        |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let symbols: Vec<u8> = raw
        .bytes()
        .map(|c| {
            let alphabet = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
            u8::try_from(alphabet.iter().position(|&a| a == c).unwrap()).unwrap()
        })
        .collect();
    let code_forms = vec![
        code.as_bytes().to_vec(),
        raw.as_bytes().to_vec(),
        utf16(code),
        utf16(&raw),
        symbols,
    ];
    Secrets {
        pem_lines,
        integer_pieces,
        code_forms,
    }
}

/// The private integers of `openssl pkey -text` output, big-endian, leading zeros dropped.
fn private_integers(text: &str) -> Vec<Vec<u8>> {
    let mut integers = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in text.lines() {
        let hex_line = line.starts_with("    ")
            && line.trim().split(':').all(|byte| {
                byte.is_empty() || (byte.len() == 2 && u8::from_str_radix(byte, 16).is_ok())
            });
        if hex_line {
            if let Some(bytes) = current.as_mut() {
                bytes.extend(
                    line.trim()
                        .split(':')
                        .filter(|byte| !byte.is_empty())
                        .map(|byte| u8::from_str_radix(byte, 16).unwrap()),
                );
            }
            continue;
        }
        integers.extend(current.take());
        let label = line.trim_end().trim_end_matches(':');
        if PRIVATE_FIELDS.contains(&label) {
            current = Some(Vec::new());
        }
    }
    integers.extend(current);
    integers
        .into_iter()
        .map(|bytes| bytes.into_iter().skip_while(|&b| b == 0).collect())
        .collect()
}

fn residue(core: &[u8], secrets: &Secrets) -> Residue {
    let found = |needle: &[u8]| memmem::find(core, needle).is_some();
    Residue {
        pem_lines: secrets
            .pem_lines
            .iter()
            .filter(|line| found(line.as_bytes()))
            .count(),
        integer_pieces: secrets
            .integer_pieces
            .iter()
            .filter(|piece| found(piece))
            .count(),
        code_forms: secrets.code_forms.iter().filter(|form| found(form)).count(),
    }
}

/// What the three commands that touch a secret left at exit.
struct Measured {
    order: Residue,
    open: Residue,
    reveal: Residue,
    secrets: Secrets,
}

/// `order`, then `open` (the code on stdin) and `reveal --json` of that order, each
/// under gdb.
fn measure(gdb: &Program, openssl: &Program, key: &str, format: &str) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out");
    let printed = dir.path().join("stdout");
    let data_dir = data.to_str().unwrap();
    let order = core_at(
        gdb,
        dir.path(),
        "exit_group",
        &binary(),
        &[
            "order",
            "--data-dir",
            data_dir,
            "--out",
            out.to_str().unwrap(),
            "--domain",
            "residue.example.com",
            "--key",
            key,
            "--format",
            format,
        ],
        None,
        &printed,
    );
    let order_printed = fs::read_to_string(&printed).unwrap();
    let code = field(&order_printed, "Unlock code:");
    let order_id = field(&order_printed, "Order:");
    let archive = field(&order_printed, "Archive:");

    let code_file = dir.path().join("code");
    fs::write(&code_file, format!("{code}\n")).unwrap();
    let extracted = dir.path().join("extracted");
    let open = core_at(
        gdb,
        dir.path(),
        "exit_group",
        &binary(),
        &["open", "--out", extracted.to_str().unwrap(), &archive],
        Some(&code_file),
        &printed,
    );
    let secrets = secrets(openssl, &extracted.join("private-key.pem"), &code);

    let reveal = core_at(
        gdb,
        dir.path(),
        "exit_group",
        &binary(),
        &["reveal", "--json", "--data-dir", data_dir, &order_id],
        None,
        &printed,
    );
    let revealed: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&printed).unwrap()).unwrap();
    assert_eq!(revealed["unlock_code"], code.as_str());

    Measured {
        order: residue(&order, &secrets),
        open: residue(&open, &secrets),
        reveal: residue(&reveal, &secrets),
        secrets,
    }
}

/// The value of the `label` line of a command's human output.
fn field(printed: &str, label: &str) -> String {
    printed
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in:\n{printed}"))
        .trim()
        .to_owned()
}

#[test]
fn no_key_and_no_code_in_memory_at_exit() {
    let Some(gdb) = gdb() else { return };
    let Some(openssl) = Program::require("openssl") else {
        return;
    };
    let mut table = format!(
        "residue at exit of {} (found of searched: PEM lines, integer pieces, code forms)\n\
         {:<8} {:<4} {:<22} {:<22} {:<22}\n",
        binary().display(),
        "key",
        "fmt",
        "order",
        "open",
        "reveal"
    );
    let mut dirty = Vec::new();
    let mut last = None;
    for key in KEYS {
        for format in FORMATS {
            let measured = measure(&gdb, &openssl, key, format);
            let shown = |found: Residue| {
                let all = &measured.secrets;
                format!(
                    "{}/{} {}/{} {}/{}",
                    found.pem_lines,
                    all.pem_lines.len(),
                    found.integer_pieces,
                    all.integer_pieces.len(),
                    found.code_forms,
                    all.code_forms.len()
                )
            };
            writeln!(
                table,
                "{key:<8} {format:<4} {:<22} {:<22} {:<22}",
                shown(measured.order),
                shown(measured.open),
                shown(measured.reveal)
            )
            .unwrap();
            for (command, found) in [
                ("order", measured.order),
                ("open", measured.open),
                ("reveal", measured.reveal),
            ] {
                if !found.is_clean() {
                    dirty.push(format!("{command} {key} {format}: {found:?}"));
                }
            }
            last = Some(measured.secrets);
        }
    }
    // The control: `cat`, stopped as it writes out a file holding every needle of the last
    // order, has them all in its read buffer, so each kind of needle is findable.
    let secrets = last.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let needles = dir.path().join("needles");
    let mut all = Vec::new();
    for line in &secrets.pem_lines {
        all.extend_from_slice(line.as_bytes());
        all.push(b'\n');
    }
    for needle in secrets.integer_pieces.iter().chain(&secrets.code_forms) {
        all.extend_from_slice(needle);
    }
    fs::write(&needles, &all).unwrap();
    // Into /dev/null, where cat cannot use copy_file_range and reads into its buffer.
    let core = core_at(
        &gdb,
        dir.path(),
        "write",
        &on_path("cat"),
        &[],
        Some(&needles),
        Path::new("/dev/null"),
    );
    let control = residue(&core, &secrets);
    writeln!(table, "control (cat holding every needle): {control:?}").unwrap();
    eprintln!("{table}");
    assert_eq!(
        control,
        Residue {
            pem_lines: secrets.pem_lines.len(),
            integer_pieces: secrets.integer_pieces.len(),
            code_forms: secrets.code_forms.len(),
        },
        "the search misses needles that are there"
    );
    assert!(
        dirty.is_empty(),
        "secrets left in memory at exit:\n{}",
        dirty.join("\n")
    );
}

fn on_path(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}
