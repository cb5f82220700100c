//! `autocsr order` killed with SIGKILL at random moments, many times: no final name ever
//! holds a partial file, and no live vault record lacks its archive or CSR. The leftovers
//! a kill may cause (temporary files) are cleaned up by the next order.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code, including helpers outside #[test]: a failed expectation is the failure"
)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use autocsr::archive::Limits;
use autocsr::credential::UnlockCode;
use common::{Sandbox, parse_one_object, str_field};

/// Prefix of an order's temporary files (`files::TEMP_PREFIX` in the binary).
const TEMP_PREFIX: &str = ".autocsr-partial-";
const RUNS: u32 = 60;

/// A small xorshift generator: the kill moments only need to spread, and the seed is
/// printed so a failing run can be repeated (`AUTOCSR_CRASH_SEED`).
struct Moments(u64);

impl Moments {
    fn next_fraction(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        // 53 random bits as a fraction in [0, 1).
        #[allow(clippy::cast_precision_loss, reason = "53 bits fit an f64 exactly")]
        let fraction = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        fraction
    }
}

/// True if `bytes` is a whole ZIP: it ends with the end-of-central-directory record, and
/// the central directory it points to ends right where that record starts. A prefix of
/// a ZIP cannot pass.
fn is_complete_zip(bytes: &[u8]) -> bool {
    const EOCD: &[u8] = b"PK\x05\x06";
    let Some(at) = bytes.len().checked_sub(22) else {
        return false;
    };
    if &bytes[at..at + 4] != EOCD || bytes[at + 20..at + 22] != [0, 0] {
        return false;
    }
    let size = u32::from_le_bytes(bytes[at + 12..at + 16].try_into().unwrap());
    let offset = u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap());
    u64::from(offset) + u64::from(size) == at as u64
}

/// True if `bytes` is a whole 7z: the start header says the next header ends exactly at
/// the end of the file.
fn is_complete_7z(bytes: &[u8]) -> bool {
    const SIGNATURE: &[u8] = b"7z\xbc\xaf\x27\x1c";
    if bytes.len() < 32 || &bytes[..6] != SIGNATURE {
        return false;
    }
    let offset = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
    let size = u64::from_le_bytes(bytes[20..28].try_into().unwrap());
    32u64
        .checked_add(offset)
        .and_then(|end| end.checked_add(size))
        == Some(bytes.len() as u64)
}

fn is_complete_csr(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    text.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n")
        && text.ends_with("-----END CERTIFICATE REQUEST-----\n")
        && autocsr::policy::Policy::default()
            .check_csr(bytes)
            .csr()
            .is_some()
}

/// The order id in a file name of ours (`ord_X.zip`, `.autocsr-partial-ord_X.csr`).
fn order_id_of(name: &str) -> Option<String> {
    let name = name.strip_prefix(TEMP_PREFIX).unwrap_or(name);
    let (id, extension) = name.rsplit_once('.')?;
    (autocsr::OrderId::is_well_formed(id) && ["zip", "7z", "csr"].contains(&extension))
        .then(|| id.to_owned())
}

#[test]
fn kill_9_at_random_moments_never_leaves_a_partial_file_or_a_record_without_files() {
    let sandbox = Sandbox::new();
    let out = sandbox.out_dir();
    let out_arg = out.display().to_string();
    let order_args = |format: &str| {
        [
            "--json",
            "order",
            "--domain",
            "example.com",
            "--key",
            "p256",
            "--format",
            format,
            "--out",
            &out_arg,
        ]
        .map(str::to_owned)
    };

    // One complete order first: it creates the vault and tells how long an order takes.
    let started = Instant::now();
    sandbox.order("example.com", &["--key", "p256"]);
    let duration = started.elapsed();

    let seed = std::env::var("AUTOCSR_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
                .into()
        })
        | 1;
    eprintln!("AUTOCSR_CRASH_SEED={seed}");
    let mut moments = Moments(seed);
    let mut printed: Vec<serde_json::Value> = Vec::new();
    let mut killed = 0;
    for run in 0..RUNS {
        let format = if run % 2 == 0 { "zip" } else { "7z" };
        let mut child = sandbox
            .command(order_args(format))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Anywhere from the start to a little past the usual end.
        std::thread::sleep(duration.mul_f64(1.2 * moments.next_fraction()));
        child.kill().unwrap();
        let output = child.wait_with_output().unwrap();
        match output.status.code() {
            Some(0) => printed.push(parse_one_object(&output.stdout)),
            None => killed += 1,
            Some(code) => panic!(
                "run {run} failed with {code}: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }
    eprintln!(
        "{killed} of {RUNS} runs killed, {} completed",
        printed.len()
    );
    assert!(
        killed >= RUNS / 4,
        "most runs must really be killed: {killed}"
    );

    // Every name in the output directory: final files complete, temporary ones allowed.
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    let mut temporary = 0;
    for entry in fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let id = order_id_of(&name).unwrap_or_else(|| panic!("unexpected file {name:?}"));
        candidates.insert(id);
        if name.starts_with(TEMP_PREFIX) {
            temporary += 1;
            continue;
        }
        let bytes = fs::read(out.join(&name)).unwrap();
        let complete = match name.rsplit_once('.').unwrap().1 {
            "zip" => is_complete_zip(&bytes),
            "7z" => is_complete_7z(&bytes),
            _ => is_complete_csr(&bytes),
        };
        assert!(complete, "{name} is incomplete ({} bytes)", bytes.len());
    }
    // Every order the vault heard of (the audit log) or that printed its code.
    let log = fs::read_to_string(sandbox.data_dir().join("audit.jsonl")).unwrap();
    for line in log.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        candidates.insert(str_field(&event, "order_id").to_owned());
    }
    for order in &printed {
        candidates.insert(str_field(order, "order_id").to_owned());
    }

    // Every live record has both files, and its code opens its archive, whose CSR is the
    // CSR file.
    let mut live = 0;
    for id in &candidates {
        let status = sandbox.command(["--json", "status", id]).output().unwrap();
        match status.status.code() {
            Some(4) => continue,
            Some(0) => {}
            other => panic!("status {id}: {other:?}"),
        }
        live += 1;
        let archive = ["zip", "7z"]
            .iter()
            .map(|extension| out.join(format!("{id}.{extension}")))
            .find(|path| path.exists())
            .unwrap_or_else(|| panic!("live record {id} has no archive"));
        let csr = out.join(format!("{id}.csr"));
        assert!(csr.exists(), "live record {id} has no CSR");
        let (revealed, _) = sandbox.json(["reveal", id], 0);
        let code = UnlockCode::parse(str_field(&revealed, "unlock_code")).unwrap();
        let opened = autocsr::archive::open(
            &fs::read(&archive).unwrap(),
            &code.reveal(),
            &Limits::default(),
        )
        .unwrap_or_else(|err| panic!("{}: {err}", archive.display()));
        let sealed_csr = opened
            .entries()
            .iter()
            .find(|entry| entry.name() == autocsr::CSR_ENTRY)
            .unwrap();
        assert_eq!(
            sealed_csr.data(),
            fs::read(&csr).unwrap().as_slice(),
            "{id}"
        );
    }
    assert!(
        live > printed.len(),
        "the first order and every completed run are live"
    );
    eprintln!("{live} live records checked, {temporary} temporary files left by kills");

    // The next order cleans up the temporary files of dead orders once they are stale.
    let long_ago = SystemTime::now() - Duration::from_secs(3_600);
    for entry in fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(TEMP_PREFIX)
        {
            age(&path, long_ago);
        }
    }
    sandbox.order("example.com", &["--key", "p256"]);
    let left: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with(TEMP_PREFIX))
        .collect();
    assert!(left.is_empty(), "stale temporary files left: {left:?}");
}

fn age(path: &Path, to: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(to)
        .unwrap();
}

#[test]
fn the_completeness_checks_refuse_every_prefix() {
    let sandbox = Sandbox::new();
    for format in ["zip", "7z"] {
        let order = sandbox.order("example.com", &["--key", "p256", "--format", format]);
        let archive = fs::read(str_field(&order, "archive")).unwrap();
        let csr = fs::read(str_field(&order, "csr")).unwrap();
        let check = if format == "zip" {
            is_complete_zip
        } else {
            is_complete_7z
        };
        assert!(check(&archive) && is_complete_csr(&csr), "{format}");
        for cut in 0..archive.len() {
            assert!(!check(&archive[..cut]), "{format} prefix of {cut} bytes");
        }
        for cut in 0..csr.len() {
            assert!(!is_complete_csr(&csr[..cut]), "CSR prefix of {cut} bytes");
        }
    }
}
