//! `extract_to` under attack: a racer swaps the target directory, or a sub-directory, for a
//! symlink to a victim directory while extraction runs, hundreds of times. Nothing may
//! ever land in the victim; each run either succeeds inside the real target or fails with
//! a typed error and leaves nothing behind (issue 13, item 1).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{ArchiveFormat, Entry, Error, Limits, OpenedArchive, SealOptions, hazmat};

/// Runs per race test, and a bound on the wall time they may take together (the loop
/// stops early on a slow machine; every run that happened was checked).
const RUNS: usize = 300;
const TIME_BOUND: Duration = Duration::from_secs(60);

fn opened(names: &[&str]) -> OpenedArchive {
    let entries: Vec<Entry> = names
        .iter()
        .map(|name| Entry::private(name, format!("secret bytes of {name}\n").into_bytes()).unwrap())
        .collect();
    let password = SecretString::from("race-password");
    let options = hazmat::set_7z_kdf_power(SealOptions::new(), 1);
    let sealed = autocsr_archive::seal(ArchiveFormat::Zip, &entries, &password, &options).unwrap();
    autocsr_archive::open(&sealed, &password, &Limits::default()).unwrap()
}

/// Everything below `dir`, as paths relative to it (symlinks listed, not followed).
fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(read) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in read {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A thread that keeps turning `target` from an (empty) directory into a symlink to
/// `victim` and back: `rmdir(target); symlink(victim, target)`, then `unlink; mkdir`, until
/// stopped. Counts the swaps it made. Returns once it is running, so the extraction starts
/// in the middle of the swapping.
fn racer(
    target: PathBuf,
    victim: PathBuf,
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
) -> JoinHandle<()> {
    let running = Arc::new(AtomicBool::new(false));
    let signal = running.clone();
    let handle = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            signal.store(true, Ordering::Relaxed);
            if std::fs::remove_dir(&target).is_ok() && symlink(&victim, &target).is_ok() {
                swaps.fetch_add(1, Ordering::Relaxed);
                if std::fs::remove_file(&target).is_ok() {
                    let _ = std::fs::create_dir(&target);
                }
            }
        }
    });
    while !running.load(Ordering::Relaxed) {
        std::thread::yield_now();
    }
    handle
}

/// One extraction against a racer on `raced` (the target itself or a sub-directory of
/// it), then the checks.
fn race_once(
    archive: &OpenedArchive,
    out: &Path,
    raced: &Path,
    victim: &Path,
    swaps: &Arc<AtomicU64>,
) -> bool {
    let stop = Arc::new(AtomicBool::new(false));
    let handle = racer(
        raced.to_path_buf(),
        victim.to_path_buf(),
        stop.clone(),
        swaps.clone(),
    );
    let result = archive.extract_to(out);
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();

    let escaped = listing(victim);
    assert!(
        escaped.is_empty(),
        "files landed in the victim directory: {escaped:?} ({result:?})"
    );
    match result {
        Ok(written) => {
            // Everything is inside the real target, byte for byte, with its mode.
            assert!(std::fs::symlink_metadata(out).unwrap().is_dir());
            for (path, entry) in written.iter().zip(archive.entries()) {
                assert_eq!(path, &out.join(entry.name()));
                let mut real = out.to_path_buf();
                for component in entry.name().split('/') {
                    real.push(component);
                    assert!(
                        !std::fs::symlink_metadata(&real)
                            .unwrap()
                            .file_type()
                            .is_symlink()
                    );
                }
                assert_eq!(std::fs::read(&real).unwrap(), entry.data());
                let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600);
            }
            true
        }
        Err(error) => {
            assert!(
                matches!(
                    error,
                    Error::PathEscape | Error::Io(_) | Error::AlreadyExists { .. }
                ),
                "untyped failure: {error:?}"
            );
            // Rolled back: no file of ours anywhere under the target (the racer's own
            // directory or symlink may remain).
            let left: Vec<String> = listing(out)
                .into_iter()
                .filter(|name| {
                    let path = out.join(name);
                    std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_file())
                })
                .collect();
            assert!(left.is_empty(), "left behind after {error:?}: {left:?}");
            false
        }
    }
}

/// Extracts `names` into a fresh `out-N` again and again (at most `RUNS` times, within
/// `TIME_BOUND`) while a racer swaps the directory `swapped(out)` for a symlink to a
/// victim directory; `race_once` checks every run.
fn race_many(what: &str, names: &[&str], swapped: impl Fn(&Path) -> PathBuf) {
    let archive = opened(names);
    let base = tempfile::tempdir().unwrap();
    let victim = base.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let swaps = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (mut runs, mut succeeded) = (0, 0);
    while runs < RUNS && started.elapsed() < TIME_BOUND {
        let out = base.path().join(format!("out-{runs}"));
        std::fs::create_dir(&out).unwrap();
        if race_once(&archive, &out, &swapped(&out), &victim, &swaps) {
            succeeded += 1;
        }
        runs += 1;
    }
    eprintln!(
        "{what} race: {runs} runs, {succeeded} extracted, {} swaps",
        swaps.load(Ordering::Relaxed)
    );
    assert!(
        swaps.load(Ordering::Relaxed) > 0,
        "the racer never got to swap"
    );
}

#[test]
fn swapping_the_target_for_a_symlink_never_sends_files_elsewhere() {
    race_many(
        "target",
        &["private-key.pem", "certificate-request.csr", "README.txt"],
        Path::to_path_buf,
    );
}

#[test]
fn swapping_a_sub_directory_for_a_symlink_never_sends_files_elsewhere() {
    race_many(
        "sub-directory",
        &["top.txt", "sub/file.txt", "sub/deeper/other.txt"],
        |out| out.join("sub"),
    );
}

/// The documented decision: a symlink *above* the target is followed at the one open (it
/// is the caller's path), the target itself must not be a symlink, with or without a
/// trailing slash, and nor may anything below it.
#[test]
fn symlinks_above_the_target_are_followed_the_target_itself_never() {
    let archive = opened(&["key.pem", "docs/README.txt"]);
    let base = tempfile::tempdir().unwrap();
    let real = base.path().join("real");
    std::fs::create_dir_all(real.join("out")).unwrap();
    symlink(&real, base.path().join("alias")).unwrap();

    let written = archive.extract_to(&base.path().join("alias/out")).unwrap();
    assert_eq!(written[0], base.path().join("alias/out/key.pem"));
    assert_eq!(
        listing(&real),
        ["out", "out/docs", "out/docs/README.txt", "out/key.pem"]
    );

    symlink(real.join("out"), base.path().join("out-link")).unwrap();
    for target in ["out-link", "out-link/", "alias/../out-link"] {
        let error = archive.extract_to(&base.path().join(target)).unwrap_err();
        assert!(matches!(error, Error::PathEscape), "{target}: {error:?}");
    }
    assert_eq!(
        listing(&real),
        ["out", "out/docs", "out/docs/README.txt", "out/key.pem"]
    );

    // A relative target resolves against the working directory like any path.
    let error = archive
        .extract_to(Path::new("no-such-directory-here"))
        .unwrap_err();
    assert!(
        matches!(error, Error::Io(ref io) if io.kind() == std::io::ErrorKind::NotFound),
        "{error:?}"
    );

    // A regular file where the target or a sub-directory should be: not replaced.
    std::fs::write(base.path().join("file"), b"mine").unwrap();
    assert!(matches!(
        archive.extract_to(&base.path().join("file")),
        Err(Error::AlreadyExists { .. })
    ));
    let fresh = base.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    std::fs::write(fresh.join("docs"), b"mine").unwrap();
    assert!(matches!(
        archive.extract_to(&fresh),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(
        listing(&fresh),
        ["docs"],
        "the key written first was rolled back"
    );
    assert_eq!(std::fs::read(fresh.join("docs")).unwrap(), b"mine");
}
