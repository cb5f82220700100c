//! Seal → open → verify for both formats, and the typed refusals.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns build fixed fixtures"
)]

use std::time::{Duration, SystemTime};

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{
    ArchiveFormat, Entry, Error, LimitKind, Limits, SealOptions, hazmat, open, seal, verify,
};

fn password() -> SecretString {
    SecretString::from("K7QF-3M9T-XW2P-RN8D-HV4C-JB6Y-EZ")
}

fn fast_options() -> SealOptions {
    hazmat::set_7z_kdf_power(SealOptions::new(), 4)
}

fn bundle() -> Vec<Entry> {
    vec![
        Entry::private(
            "example.com.key",
            b"-----BEGIN PRIVATE KEY-----\nMIIE...\n".to_vec(),
        )
        .unwrap(),
        Entry::new(
            "example.com.csr",
            b"-----BEGIN CERTIFICATE REQUEST-----\n".to_vec(),
        )
        .unwrap(),
        Entry::new("README.txt", b"Your key and CSR.\n".repeat(20)).unwrap(),
        Entry::new("empty.txt", Vec::new()).unwrap(),
        Entry::new("sub/dir/file.bin", (0..=255u8).collect::<Vec<u8>>()).unwrap(),
    ]
}

#[test]
fn both_formats_round_trip_with_modes() {
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let entries = bundle();
        let sealed = seal(format, &entries, &password(), &fast_options()).unwrap();
        assert_eq!(ArchiveFormat::detect(&sealed), Some(format));
        let opened = open(&sealed, &password(), &Limits::default()).unwrap();
        assert_eq!(opened.format(), format);
        assert_eq!(opened.entries().len(), entries.len());
        for (got, want) in opened.entries().iter().zip(&entries) {
            assert_eq!(got.name(), want.name(), "{format}");
            assert_eq!(got.data(), want.data(), "{format} {}", want.name());
        }
        assert_eq!(opened.entries()[0].unix_mode(), Some(0o600), "{format}");
        verify(&sealed, &password(), &entries).unwrap();
    }
}

#[test]
fn real_kdf_rounds_round_trip_7z() {
    let entries = bundle();
    let sealed = seal(
        ArchiveFormat::SevenZ,
        &entries,
        &password(),
        &SealOptions::default(),
    )
    .unwrap();
    verify(&sealed, &password(), &entries).unwrap();
}

#[test]
fn wrong_password_is_its_own_error() {
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let sealed = seal(format, &bundle(), &password(), &fast_options()).unwrap();
        let wrong = SecretString::from("K7QF-3M9T-XW2P-RN8D-HV4C-JB6Y-EY");
        let error = open(&sealed, &wrong, &Limits::default()).unwrap_err();
        assert!(matches!(error, Error::WrongPassword), "{format}: {error:?}");
        let error = verify(&sealed, &wrong, &bundle()).unwrap_err();
        assert!(matches!(error, Error::WrongPassword), "{format}: {error:?}");
    }
}

#[test]
fn non_ascii_password_round_trips() {
    let password = SecretString::from("pässwörd-日本語-🔑");
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let sealed = seal(format, &bundle(), &password, &fast_options()).unwrap();
        verify(&sealed, &password, &bundle()).unwrap();
    }
}

#[test]
fn sealing_refuses_empty_password_no_entries_and_duplicates() {
    let empty = SecretString::from("");
    assert!(matches!(
        seal(ArchiveFormat::Zip, &bundle(), &empty, &fast_options()),
        Err(Error::EmptyPassword)
    ));
    assert!(matches!(
        seal(ArchiveFormat::SevenZ, &[], &password(), &fast_options()),
        Err(Error::NoEntries)
    ));
    let dupes = vec![
        Entry::new("a.txt", b"1".to_vec()).unwrap(),
        Entry::new("A.TXT", b"2".to_vec()).unwrap(),
    ];
    assert!(matches!(
        seal(ArchiveFormat::Zip, &dupes, &password(), &fast_options()),
        Err(Error::InvalidEntryName { .. })
    ));
}

#[test]
fn verify_catches_a_different_archive() {
    let sealed = seal(ArchiveFormat::Zip, &bundle(), &password(), &fast_options()).unwrap();
    let mut other = bundle();
    other[2] = Entry::new("README.txt", b"something else".to_vec()).unwrap();
    assert!(matches!(
        verify(&sealed, &password(), &other),
        Err(Error::VerifyMismatch)
    ));
    assert!(matches!(
        verify(&sealed, &password(), &other[..2]),
        Err(Error::VerifyMismatch)
    ));
}

#[test]
fn limits_are_enforced_before_reading_data() {
    let many: Vec<Entry> = (0..65)
        .map(|i| Entry::new(&format!("f{i}"), vec![1u8; 3]).unwrap())
        .collect();
    let big = vec![Entry::new("big.bin", vec![0u8; 2 << 20]).unwrap()];
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let sealed = seal(format, &many, &password(), &fast_options()).unwrap();
        let error = open(&sealed, &password(), &Limits::default()).unwrap_err();
        assert!(
            matches!(
                error,
                Error::LimitExceeded {
                    what: LimitKind::Entries,
                    limit: 64
                }
            ),
            "{format}: {error:?}"
        );
        let sealed = seal(format, &big, &password(), &fast_options()).unwrap();
        let error = open(
            &sealed,
            &password(),
            &Limits::default().with_max_total_size(1 << 20),
        )
        .unwrap_err();
        assert!(
            matches!(
                error,
                Error::LimitExceeded {
                    what: LimitKind::TotalSize,
                    ..
                }
            ),
            "{format}: {error:?}"
        );
        // 2 MiB of zeros compresses far beyond 100:1.
        let error = open(&sealed, &password(), &Limits::default()).unwrap_err();
        assert!(
            matches!(
                error,
                Error::LimitExceeded {
                    what: LimitKind::CompressionRatio,
                    ..
                }
            ),
            "{format}: {error:?}"
        );
        // verify knows the sizes and skips the ratio check.
        verify(&sealed, &password(), &big).unwrap();
    }
}

#[test]
fn truncated_and_garbage_archives_are_typed_errors() {
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let sealed = seal(format, &bundle(), &password(), &fast_options()).unwrap();
        for cut in [7, 31, 32, sealed.len() / 2, sealed.len() - 1] {
            let result = open(&sealed[..cut], &password(), &Limits::default());
            assert!(result.is_err(), "{format} cut at {cut}");
        }
        let mut flipped = sealed.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        let error = open(&flipped, &password(), &Limits::default()).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Corrupt | Error::Truncated | Error::SizeMismatch | Error::WrongPassword
            ),
            "{format}: {error:?}"
        );
    }
    assert!(matches!(
        open(b"not an archive", &password(), &Limits::default()),
        Err(Error::UnknownFormat)
    ));
    assert!(matches!(
        open(b"", &password(), &Limits::default()),
        Err(Error::UnknownFormat)
    ));
}

#[test]
fn fixed_time_is_stored() {
    let fixed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let options = fast_options().modified_at(fixed);
    assert_eq!(options.modified(), Some(fixed));
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let sealed = seal(format, &bundle(), &password(), &options).unwrap();
        verify(&sealed, &password(), &bundle()).unwrap();
    }
}

#[test]
fn format_names() {
    assert_eq!("zip".parse::<ArchiveFormat>().unwrap(), ArchiveFormat::Zip);
    assert_eq!(
        "7Z".parse::<ArchiveFormat>().unwrap(),
        ArchiveFormat::SevenZ
    );
    assert!("rar".parse::<ArchiveFormat>().is_err());
    assert_eq!(ArchiveFormat::SevenZ.extension(), "7z");
    assert_eq!(ArchiveFormat::Zip.to_string(), "zip");
}

/// One rule for modes in both formats: `Entry::private` is stored 0600, `Entry::new` 0644
/// (`DEFAULT_MODE`); opening reports the stored mode and `extract_to` applies it exactly,
/// whichever format carried it.
#[test]
fn modes_are_the_same_from_zip_and_7z() {
    use std::os::unix::fs::PermissionsExt;
    let entries = bundle();
    let expected: Vec<u32> = entries
        .iter()
        .map(|entry| entry.unix_mode().unwrap_or(autocsr_archive::DEFAULT_MODE))
        .collect();
    assert_eq!(expected, [0o600, 0o644, 0o644, 0o644, 0o644]);
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let sealed = seal(format, &entries, &password(), &fast_options()).unwrap();
        let opened = open(&sealed, &password(), &Limits::default()).unwrap();
        let modes: Vec<Option<u32>> = opened.entries().iter().map(Entry::unix_mode).collect();
        let want: Vec<Option<u32>> = expected.iter().copied().map(Some).collect();
        assert_eq!(modes, want, "{format}");
        let dir = tempfile::tempdir().unwrap();
        opened.extract_to(dir.path()).unwrap();
        for (entry, mode) in entries.iter().zip(&expected) {
            let actual = std::fs::metadata(dir.path().join(entry.name()))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(actual, *mode, "{format} {}", entry.name());
        }
    }
}

/// 7z keys are salted by default (a fresh salt per archive) and may skip the salt for a
/// random one-time password; both open, here and (in the interop tests) in 7-Zip, unar
/// and py7zr.
#[test]
fn salted_and_unsalted_7z_both_open() {
    let salted = fast_options();
    assert!(salted.sevenz_salted());
    let unsalted = fast_options().skip_7z_salt_for_random_password();
    assert!(!unsalted.sevenz_salted());
    for options in [salted, unsalted] {
        let sealed = seal(ArchiveFormat::SevenZ, &bundle(), &password(), &options).unwrap();
        verify(&sealed, &password(), &bundle()).unwrap();
        let wrong = SecretString::from("K7QF-3M9T-XW2P-RN8D-HV4C-JB6Y-EY");
        assert!(matches!(
            open(&sealed, &wrong, &Limits::default()),
            Err(Error::WrongPassword)
        ));
    }
}

/// `seal_keeping_key` + `SealedArchive::verify` (the pipeline's one-derivation path)
/// accepts every shape the writers make, salted or not, agrees with the password path
/// (`verify`), and refuses contents other than the expected ones.
#[test]
fn verify_with_the_sealing_key_agrees_with_the_password_path() {
    let only_empty = vec![Entry::new("nothing.txt", Vec::new()).unwrap()];
    let many: Vec<Entry> = (0..60)
        .map(|i| Entry::new(&format!("dir/{i:03}.txt"), format!("{i}\n").into_bytes()).unwrap())
        .collect();
    let large = vec![
        Entry::new(
            "big.bin",
            (0..50_000u32)
                .map(|i| (i * 7 % 251) as u8)
                .collect::<Vec<u8>>(),
        )
        .unwrap(),
    ];
    for options in [
        fast_options(),
        fast_options().skip_7z_salt_for_random_password(),
    ] {
        for entries in [bundle(), only_empty.clone(), many.clone(), large.clone()] {
            for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
                let sealed =
                    autocsr_archive::seal_keeping_key(format, &entries, &password(), &options)
                        .unwrap();
                sealed.verify(&entries).unwrap();
                verify(sealed.bytes(), &password(), &entries).unwrap();

                let mut other = entries.clone();
                let last = other.pop().unwrap();
                let mut changed = last.data().to_vec();
                changed.push(b'!');
                other.push(Entry::new(last.name(), changed).unwrap());
                assert!(matches!(sealed.verify(&other), Err(Error::VerifyMismatch)));
                // One entry short: a mismatch, or over the entry limit sized to the expected ones.
                assert!(sealed.verify(&entries[..entries.len() - 1]).is_err());
            }
        }
    }
    // What `seal` refuses, `seal_keeping_key` refuses too, before deriving anything.
    let empty = SecretString::from("");
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        assert!(matches!(
            autocsr_archive::seal_keeping_key(format, &bundle(), &empty, &fast_options()),
            Err(Error::EmptyPassword)
        ));
        assert!(matches!(
            autocsr_archive::seal_keeping_key(format, &[], &password(), &fast_options()),
            Err(Error::NoEntries)
        ));
    }
}
