//! Property tests: arbitrary entries and passwords seal and open to the same entries in
//! both formats; a different password gives `Error::WrongPassword`.
#![allow(
    clippy::unwrap_used,
    reason = "proptest strategies and helpers outside #[test] fns"
)]

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{ArchiveFormat, Entry, Error, Limits, SealOptions, hazmat, open, seal};
use proptest::prelude::*;

/// Names from the allowed set: one or two components of letters, digits, `-`, `_`, `.`
/// and a few non-ASCII letters (no leading dot component issues: `.` alone is excluded).
fn name() -> impl Strategy<Value = String> {
    let component = "[a-zA-Z0-9_éßЖ鍵-][a-zA-Z0-9_.éßЖ鍵-]{0,20}";
    prop::collection::vec(component, 1..=2).prop_map(|parts| parts.join("/"))
}

/// 0 B to 256 KiB, either random (incompressible) or a repeated short pattern.
fn contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..=256 * 1024),
        (
            prop::collection::vec(any::<u8>(), 1..16),
            0usize..=256 * 1024
        )
            .prop_map(|(pattern, len)| pattern.iter().copied().cycle().take(len).collect()),
    ]
}

fn entries() -> impl Strategy<Value = Vec<(String, Vec<u8>, bool)>> {
    prop::collection::vec((name(), contents(), any::<bool>()), 1..=4).prop_filter(
        "unique names",
        |list| {
            let names: Vec<String> = list.iter().map(|(n, _, _)| n.to_lowercase()).collect();
            names.iter().enumerate().all(|(i, a)| {
                names.iter().enumerate().all(|(j, b)| {
                    i == j
                        || (a != b
                            && !b.starts_with(&format!("{a}/"))
                            && !a.starts_with(&format!("{b}/")))
                })
            })
        },
    )
}

fn password() -> impl Strategy<Value = String> {
    "\\PC{1,40}"
}

fn build(list: &[(String, Vec<u8>, bool)]) -> Vec<Entry> {
    list.iter()
        .map(|(name, data, private)| {
            if *private {
                Entry::private(name, data.clone()).unwrap()
            } else {
                Entry::new(name, data.clone()).unwrap()
            }
        })
        .collect()
}

/// Opens without the ratio check: random patterns are legitimately very compressible.
fn limits() -> Limits {
    Limits::default().with_max_ratio(u64::MAX, 0)
}

fn round_trip(
    format: ArchiveFormat,
    options: &SealOptions,
    list: &[(String, Vec<u8>, bool)],
    password: &str,
    other: &str,
) {
    let entries = build(list);
    let secret = SecretString::from(password.to_owned());
    let sealed = seal(format, &entries, &secret, options).unwrap();
    let opened = open(&sealed, &secret, &limits()).unwrap();
    assert_eq!(opened.entries().len(), entries.len());
    for (got, want) in opened.entries().iter().zip(&entries) {
        assert_eq!(got.name(), want.name());
        assert_eq!(got.data(), want.data());
        if want.unix_mode().is_some() {
            assert_eq!(got.unix_mode(), want.unix_mode());
        }
    }
    if other != password {
        let wrong = SecretString::from(other.to_owned());
        let error = open(&sealed, &wrong, &limits()).unwrap_err();
        assert!(matches!(error, Error::WrongPassword), "{format}: {error:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn zip_round_trips(list in entries(), password in password(), other in password()) {
        round_trip(ArchiveFormat::Zip, &SealOptions::default(), &list, &password, &other);
    }

    /// Low KDF rounds (hazmat, tests only) so many cases stay fast.
    #[test]
    fn sevenz_round_trips_low_rounds(list in entries(), password in password(), other in password()) {
        round_trip(ArchiveFormat::SevenZ, &hazmat::set_7z_kdf_power(SealOptions::default(), 4), &list, &password, &other);
    }
}

proptest! {
    // The real 2^19 rounds: a few cases, each several key derivations.
    #![proptest_config(ProptestConfig::with_cases(4))]

    #[test]
    fn sevenz_round_trips_real_rounds(list in entries(), password in password(), other in password()) {
        round_trip(ArchiveFormat::SevenZ, &SealOptions::default(), &list, &password, &other);
    }
}
