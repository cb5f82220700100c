//! Hostile and unusual archives get typed errors; extraction never overwrites or escapes.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns build fixed fixtures"
)]

use std::io::{Cursor, Write};

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{
    ArchiveFormat, Entry, Error, Limits, SealOptions, hazmat, open, open_reader, seal,
};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

fn password() -> SecretString {
    SecretString::from("correct-horse-battery-staple-0001")
}

fn options() -> SealOptions {
    hazmat::set_7z_kdf_power(SealOptions::new(), 4)
}

fn plain_zip(build: impl FnOnce(&mut ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    build(&mut writer);
    writer.finish().unwrap().into_inner()
}

#[test]
fn unencrypted_zip_entry_is_refused_unless_allowed() {
    let bytes = plain_zip(|w| {
        w.start_file("a.txt", SimpleFileOptions::default()).unwrap();
        w.write_all(b"hello").unwrap();
    });
    assert!(matches!(
        open(&bytes, &password(), &Limits::default()),
        Err(Error::NotEncrypted)
    ));
    let opened = open(
        &bytes,
        &password(),
        &Limits::default().with_require_encryption(false),
    )
    .unwrap();
    assert_eq!(opened.entries()[0].data(), b"hello");
}

/// A ZipCrypto zip made by `7zz a -tzip -mem=ZipCrypto` (committed as a fuzz seed: one
/// length byte, the password, then the archive).
#[test]
fn zipcrypto_is_refused_unless_hazmat() {
    let seed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/archive_open_zip/7zip-zipcrypto-zip"
    ))
    .unwrap();
    let length = usize::from(seed[0]);
    let password = SecretString::from(std::str::from_utf8(&seed[1..=length]).unwrap().to_owned());
    let bytes = &seed[1 + length..];
    assert!(matches!(
        open(bytes, &password, &Limits::default()),
        Err(Error::ZipCryptoRefused)
    ));
    let opened = open(
        bytes,
        &password,
        &hazmat::allow_zipcrypto(Limits::default()),
    )
    .unwrap();
    let key = opened
        .entries()
        .iter()
        .find(|entry| entry.name() == "key.pem")
        .unwrap();
    assert_eq!(key.data(), b"key bytes\n");
}

#[test]
fn symlinks_and_escaping_names_are_refused() {
    let bytes = plain_zip(|w| {
        w.add_symlink("link", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
    });
    let limits = Limits::default().with_require_encryption(false);
    assert!(matches!(
        open(&bytes, &password(), &limits),
        Err(Error::NotARegularFile)
    ));

    for evil in [
        "../evil.txt",
        "/abs.txt",
        "C:/win.txt",
        "a\\..\\b.txt",
        "dir/../../x",
    ] {
        let bytes = plain_zip(|w| {
            w.start_file(evil, SimpleFileOptions::default()).unwrap();
            w.write_all(b"x").unwrap();
        });
        let error = open(&bytes, &password(), &limits).unwrap_err();
        assert!(
            matches!(error, Error::InvalidEntryName { .. }),
            "{evil}: {error:?}"
        );
    }
}

#[test]
fn unsupported_method_is_typed() {
    let mut bytes = plain_zip(|w| {
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        w.start_file("a.txt", options).unwrap();
        w.write_all(b"hello").unwrap();
    });
    // Patch the method (bzip2 = 12) in the local and central headers.
    for signature in [&b"PK\x03\x04"[..], &b"PK\x01\x02"[..]] {
        let at = bytes.windows(4).position(|w| w == signature).unwrap();
        let offset = if signature == b"PK\x03\x04" { 8 } else { 10 };
        bytes[at + offset] = 12;
    }
    let limits = Limits::default().with_require_encryption(false);
    assert!(matches!(
        open(&bytes, &password(), &limits),
        Err(Error::UnsupportedMethod)
    ));
}

#[test]
fn lying_sizes_are_caught() {
    let entries = vec![Entry::new("a.txt", b"hello hello hello hello".to_vec()).unwrap()];
    let sealed = seal(ArchiveFormat::Zip, &entries, &password(), &options()).unwrap();
    for declared in [5u32, 500] {
        let mut bytes = sealed.clone();
        // Uncompressed size: local header offset 22, central header offset 24.
        for (signature, offset) in [(&b"PK\x03\x04"[..], 22), (&b"PK\x01\x02"[..], 24)] {
            let at = bytes.windows(4).position(|w| w == signature).unwrap();
            bytes[at + offset..at + offset + 4].copy_from_slice(&declared.to_le_bytes());
        }
        let error = open(&bytes, &password(), &Limits::default()).unwrap_err();
        assert!(
            matches!(error, Error::SizeMismatch | Error::Corrupt),
            "declared {declared}: {error:?}"
        );
    }
}

#[test]
fn tampered_aes_data_fails_authentication() {
    let entries = vec![Entry::new("a.txt", vec![7u8; 4000]).unwrap()];
    let sealed = seal(ArchiveFormat::Zip, &entries, &password(), &options()).unwrap();
    // Flip one bit of the encrypted data (after local header 30 + name 5 + extra fields).
    let mut bytes = sealed.clone();
    let at = 30 + 5 + 40;
    bytes[at] ^= 1;
    let error = open(&bytes, &password(), &Limits::default()).unwrap_err();
    assert!(
        matches!(error, Error::Corrupt | Error::SizeMismatch),
        "{error:?}"
    );
}

#[test]
fn open_reader_matches_open() {
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let entries = vec![Entry::new("a.txt", b"abc".to_vec()).unwrap()];
        let sealed = seal(format, &entries, &password(), &options()).unwrap();
        let opened = open_reader(Cursor::new(&sealed), &password(), &Limits::default()).unwrap();
        assert_eq!(opened.entries()[0].data(), b"abc");
        assert!(matches!(
            open_reader(
                Cursor::new(b"nope".to_vec()),
                &password(),
                &Limits::default()
            ),
            Err(Error::UnknownFormat)
        ));
    }
}

#[test]
fn open_reader_reads_from_the_start_whatever_the_position() {
    // A file just written (or a cursor already read) is positioned at its end; the format
    // must still be detected from the first bytes, which are what gets parsed.
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let entries = vec![Entry::new("a.txt", b"abc".to_vec()).unwrap()];
        let sealed = seal(format, &entries, &password(), &options()).unwrap();
        for position in [1, sealed.len() / 2, sealed.len()] {
            let mut reader = Cursor::new(&sealed);
            reader.set_position(position as u64);
            let opened = open_reader(reader, &password(), &Limits::default()).unwrap();
            assert_eq!(opened.format(), format);
            assert_eq!(opened.entries()[0].data(), b"abc");
        }
    }
}

fn opened_bundle() -> autocsr_archive::OpenedArchive {
    let entries = vec![
        Entry::private("key.pem", b"KEY".to_vec()).unwrap(),
        Entry::new("docs/README.txt", b"readme".to_vec()).unwrap(),
    ];
    let sealed = seal(ArchiveFormat::SevenZ, &entries, &password(), &options()).unwrap();
    open(&sealed, &password(), &Limits::default()).unwrap()
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    names.sort();
    names
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn extract_writes_files_with_modes_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let opened = opened_bundle();
    let dir = tempfile::tempdir().unwrap();
    let written = opened.extract_to(dir.path()).unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(std::fs::read(dir.path().join("key.pem")).unwrap(), b"KEY");
    assert_eq!(
        std::fs::read(dir.path().join("docs/README.txt")).unwrap(),
        b"readme"
    );
    let mode = std::fs::metadata(dir.path().join("key.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(listing(dir.path()), ["docs", "docs/README.txt", "key.pem"]);

    // Second time: everything exists; nothing is overwritten or removed, no temp left.
    std::fs::write(dir.path().join("key.pem"), b"MINE").unwrap();
    let error = opened.extract_to(dir.path()).unwrap_err();
    assert!(matches!(error, Error::AlreadyExists { .. }), "{error:?}");
    assert_eq!(std::fs::read(dir.path().join("key.pem")).unwrap(), b"MINE");
    assert_eq!(listing(dir.path()), ["docs", "docs/README.txt", "key.pem"]);
}

#[test]
fn extract_rolls_back_and_refuses_symlinks() {
    let opened = opened_bundle();
    // A later file clashes: the earlier one written by this call is removed again.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/README.txt"), b"existing").unwrap();
    let error = opened.extract_to(dir.path()).unwrap_err();
    assert!(matches!(error, Error::AlreadyExists { .. }), "{error:?}");
    assert_eq!(listing(dir.path()), ["docs", "docs/README.txt"]);

    // A symlinked sub-directory inside the target is not followed.
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("docs")).unwrap();
    let error = opened.extract_to(dir.path()).unwrap_err();
    assert!(matches!(error, Error::PathEscape), "{error:?}");
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    assert_eq!(listing(dir.path()), ["docs"]);
}

#[test]
fn excessive_7z_key_derivation_is_refused_before_deriving() {
    let entries = vec![Entry::new("a.txt", b"abc".to_vec()).unwrap()];
    let heavy = hazmat::set_7z_kdf_power(SealOptions::new(), 21);
    let sealed = seal(ArchiveFormat::SevenZ, &entries, &password(), &heavy).unwrap();
    let error = open(&sealed, &password(), &Limits::default()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::LimitExceeded {
                what: autocsr_archive::LimitKind::KeyDerivation,
                limit: 20
            }
        ),
        "{error:?}"
    );
    let opened = open(
        &sealed,
        &password(),
        &Limits::default().with_max_kdf_power(21),
    )
    .unwrap();
    assert_eq!(opened.entries()[0].data(), b"abc");
}

/// Device, FIFO and socket entries in a zip (Unix file type in the external attributes)
/// are refused as `NotARegularFile` when opened, encrypted or not, instead of coming out as
/// empty regular files.
#[test]
fn zip_device_fifo_and_socket_entries_are_refused() {
    use zip::AesMode;
    for (kind, mode) in [
        ("character device", 0o020_644u32),
        ("block device", 0o060_644),
        ("FIFO", 0o010_644),
        ("socket", 0o140_644),
    ] {
        for encrypted in [false, true] {
            let bytes = plain_zip(|w| {
                let mut options = SimpleFileOptions::default().external_attributes(mode << 16);
                if encrypted {
                    options = options.with_aes_encryption(AesMode::Aes256, "pw");
                }
                w.start_file("ok.txt", SimpleFileOptions::default())
                    .unwrap();
                w.write_all(b"fine").unwrap();
                w.start_file("special", options).unwrap();
                w.write_all(b"").unwrap();
            });
            let limits = Limits::default().with_require_encryption(false);
            let result = open(&bytes, &SecretString::from("pw"), &limits);
            assert!(
                matches!(result, Err(Error::NotARegularFile)),
                "{kind} (encrypted: {encrypted}): {result:?}"
            );
        }
    }
    // Regular files, with or without a file type stored, still open.
    for mode in [0o100_644u32, 0o644] {
        let bytes = plain_zip(|w| {
            let options = SimpleFileOptions::default().external_attributes(mode << 16);
            w.start_file("plain", options).unwrap();
            w.write_all(b"data").unwrap();
        });
        let limits = Limits::default().with_require_encryption(false);
        let opened = open(&bytes, &password(), &limits).unwrap();
        assert_eq!(opened.entries()[0].data(), b"data", "{mode:o}");
    }
}

/// The HMAC is all that guards AE-2 entries (no CRC): a flipped bit in every position of
/// the encrypted data of every entry is caught, and a wrong password is still its own error.
#[test]
fn ae2_zip_still_detects_tampering_and_wrong_passwords() {
    let entries = vec![
        Entry::private("key.pem", b"-----BEGIN PRIVATE KEY-----\nsecret\n".to_vec()).unwrap(),
        Entry::new("a.csr", b"-----BEGIN CERTIFICATE REQUEST-----\n".to_vec()).unwrap(),
    ];
    let sealed = seal(ArchiveFormat::Zip, &entries, &password(), &options()).unwrap();
    // Data of the first entry: after the local header (30), name (7) and extra fields.
    let extra_len = usize::from(u16::from_le_bytes([sealed[28], sealed[29]]));
    let compressed = u32::from_le_bytes(sealed[18..22].try_into().unwrap());
    let data_start = 30 + 7 + extra_len;
    let data_end = data_start + usize::try_from(compressed).unwrap();
    // Salt (16) and password verifier (2) come first: flipping those is a wrong password or
    // a failed HMAC; everything after, up to the 10-byte HMAC, is ciphertext.
    for at in data_start..data_end {
        let mut bytes = sealed.clone();
        bytes[at] ^= 0x01;
        let error = open(&bytes, &password(), &Limits::default()).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Corrupt | Error::WrongPassword | Error::SizeMismatch
            ),
            "byte {at}: {error:?}"
        );
    }
    let wrong = SecretString::from("correct-horse-battery-staple-0002");
    assert!(matches!(
        open(&sealed, &wrong, &Limits::default()),
        Err(Error::WrongPassword)
    ));
}
