//! Replays the committed fuzz corpora (`fuzz/corpus/archive_open_{zip,7z}`) through the
//! same function the fuzz targets call, on stable: every input ever found stays handled
//! without a panic.
//!
//! `AUTOCSR_REGENERATE_ARCHIVE_CORPUS=1 cargo test -p autocsr-archive --test fuzz_corpus`
//! rewrites the `ours-*` seeds (archives this crate seals, and truncations of them; delete
//! the old `ours-*` files first, since truncation lengths are in the names).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns"
)]

use std::path::PathBuf;

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{
    ArchiveFormat, Entry, SealOptions, fuzz_input, hazmat, open_fuzz_input, seal,
};

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn replay(format: ArchiveFormat, target: &str) {
    let dir = corpus_dir(target);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    let mut opened = 0;
    for path in &files {
        let input = std::fs::read(path).unwrap();
        if open_fuzz_input(format, &input).is_ok() {
            opened += 1;
        }
    }
    // The seeds include valid archives with their passwords: some must open.
    assert!(opened > 0, "no seed in {} opened", dir.display());
}

#[test]
fn replay_zip_corpus() {
    replay(ArchiveFormat::Zip, "archive_open_zip");
}

#[test]
fn replay_7z_corpus() {
    replay(ArchiveFormat::SevenZ, "archive_open_7z");
}

#[test]
fn regenerate_seeds_when_asked() {
    if std::env::var("AUTOCSR_REGENERATE_ARCHIVE_CORPUS").map_or(true, |value| value != "1") {
        return;
    }
    let password = "7K4M-Q9TX-2WRB-N8DH-V3CJ-6YEZ-P5GA";
    let secret = SecretString::from(password);
    let entries = vec![
        Entry::private("key.pem", b"-----BEGIN PRIVATE KEY-----\nMIIB\n".to_vec()).unwrap(),
        Entry::new("csr.pem", b"-----BEGIN CERTIFICATE REQUEST-----\n".to_vec()).unwrap(),
        Entry::new("docs/README.txt", b"readme readme readme\n".repeat(8)).unwrap(),
        Entry::new("empty", Vec::new()).unwrap(),
    ];
    for (format, target) in [
        (ArchiveFormat::Zip, "archive_open_zip"),
        (ArchiveFormat::SevenZ, "archive_open_7z"),
    ] {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        let variants = [
            ("real", SealOptions::default()),
            // Low rounds keep the fuzzer fast on the paths behind the key derivation.
            (
                "lowkdf",
                hazmat::set_7z_kdf_power(SealOptions::default(), 1),
            ),
            (
                "lowkdf-unsalted",
                hazmat::set_7z_kdf_power(SealOptions::default(), 1)
                    .skip_7z_salt_for_random_password(),
            ),
        ];
        for (label, options) in variants {
            let sealed = seal(format, &entries, &secret, &options).unwrap();
            std::fs::write(
                dir.join(format!("ours-{label}")),
                fuzz_input(password, &sealed),
            )
            .unwrap();
            std::fs::write(
                dir.join(format!("ours-{label}-wrongpw")),
                fuzz_input("wrong", &sealed),
            )
            .unwrap();
            for cut in [sealed.len() / 3, sealed.len() / 2, sealed.len() - 1] {
                std::fs::write(
                    dir.join(format!("ours-{label}-truncated-{cut}")),
                    fuzz_input(password, &sealed[..cut]),
                )
                .unwrap();
            }
            if format == ArchiveFormat::Zip {
                break; // zip has no KDF or salt knob: one variant is enough
            }
        }
    }
    // A zip holding a FIFO and a character device next to a regular file (refused as
    // NotARegularFile), encrypted under the seed password.
    let special = {
        use std::io::Write as _;
        use zip::write::SimpleFileOptions;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let aes = SimpleFileOptions::default().with_aes_encryption(zip::AesMode::Aes256, password);
        writer.start_file("key.pem", aes).unwrap();
        writer.write_all(b"key bytes\n").unwrap();
        for (name, mode) in [("fifo", 0o010_644u32), ("tty", 0o020_644)] {
            writer
                .start_file(name, aes.external_attributes(mode << 16))
                .unwrap();
        }
        writer.finish().unwrap().into_inner()
    };
    std::fs::write(
        corpus_dir("archive_open_zip").join("ours-special-files"),
        fuzz_input(password, &special),
    )
    .unwrap();
}
