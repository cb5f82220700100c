//! Our WinZip AES-256 zips in real clients, and 7-Zip's AES zips in our `open`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

mod archive_support;

use archive_support::{
    CODE_PASSWORD, Client, NON_ASCII_PASSWORD, WRONG_PASSWORD, assert_client_cannot_open,
    assert_client_opens, assert_entries_are_bundle, passwords, secret, seven_zip,
    write_bundle_files,
};
use autocsr_archive::{ArchiveFormat, Error, Limits, hazmat, open};

const ZIP: ArchiveFormat = ArchiveFormat::Zip;

#[test]
fn seven_zip_opens_our_zip() {
    assert_client_opens(Client::SevenZip, ZIP);
}

#[test]
fn bsdtar_opens_our_zip() {
    assert_client_opens(Client::Bsdtar, ZIP);
}

#[test]
fn pyzipper_opens_our_zip() {
    assert_client_opens(Client::Pyzipper, ZIP);
}

/// Info-ZIP unzip 6.00 has no WinZip AES support ("need PK compat. v5.1"): expected.
#[test]
fn info_zip_unzip_cannot_open_aes_zip() {
    assert_client_cannot_open(Client::InfoZipUnzip, ZIP);
}

/// Linux unar 1.10.1 reports "Missing or wrong password" for WinZip AES: expected.
#[test]
fn unar_cannot_open_winzip_aes_zip() {
    assert_client_cannot_open(Client::Unar, ZIP);
}

/// Zip central directories are not encrypted: names are visible without the password.
#[test]
fn zip_names_are_visible_without_the_password() {
    let seven = autocsr_interop::require_program!("7zz");
    let (dir, path) =
        archive_support::write_archive(&archive_support::sealed(ZIP, CODE_PASSWORD), ZIP);
    let listing = seven_zip(&seven, &["l".as_ref(), path.as_os_str()], dir.path());
    assert!(String::from_utf8_lossy(&listing.stdout).contains("zzsecretkeyname.key"));
}

/// 7-Zip 26 refuses to *create* a zip with a non-ASCII password (E_INVALIDARG), though it
/// opens ours; so 7-Zip-made zips are tested with the dashed code only, and the refusal
/// is recorded here.
#[test]
fn seven_zip_aes256_zip_opens_with_our_open() {
    let seven = autocsr_interop::require_program!("7zz");
    for password in passwords() {
        let dir = tempfile::tempdir().unwrap();
        let names = write_bundle_files(dir.path());
        let mut args: Vec<std::ffi::OsString> = vec![
            "a".into(),
            "-tzip".into(),
            "-mem=AES256".into(),
            format!("-p{password}").into(),
            "made.zip".into(),
        ];
        args.extend(names.iter().map(Into::into));
        let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(AsRef::as_ref).collect();
        let made = seven_zip(&seven, &arg_refs, dir.path());
        if password == NON_ASCII_PASSWORD {
            assert!(
                !made.status.success(),
                "7-Zip now accepts non-ASCII zip passwords: update the docs"
            );
            continue;
        }
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let bytes = std::fs::read(dir.path().join("made.zip")).unwrap();
        let opened = open(&bytes, &secret(password), &Limits::default()).unwrap();
        assert_entries_are_bundle(opened.entries());
        assert!(matches!(
            open(&bytes, &secret(WRONG_PASSWORD), &Limits::default()),
            Err(Error::WrongPassword)
        ));
    }
}

#[test]
fn seven_zip_zipcrypto_and_plain_zips_are_refused() {
    let seven = autocsr_interop::require_program!("7zz");
    let dir = tempfile::tempdir().unwrap();
    let names = write_bundle_files(dir.path());
    let make = |archive: &str, extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = vec!["a".into(), "-tzip".into()];
        args.extend(extra.iter().map(Into::into));
        args.push(archive.into());
        args.extend(names.iter().map(Into::into));
        let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(AsRef::as_ref).collect();
        let made = seven_zip(&seven, &arg_refs, dir.path());
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        std::fs::read(dir.path().join(archive)).unwrap()
    };
    let password_arg = format!("-p{CODE_PASSWORD}");
    let zipcrypto = make("zipcrypto.zip", &["-mem=ZipCrypto", &password_arg]);
    let password = secret(CODE_PASSWORD);
    assert!(matches!(
        open(&zipcrypto, &password, &Limits::default()),
        Err(Error::ZipCryptoRefused)
    ));
    let opened = open(
        &zipcrypto,
        &password,
        &hazmat::allow_zipcrypto(Limits::default()),
    )
    .unwrap();
    assert_entries_are_bundle(opened.entries());

    let plain = make("plain.zip", &[]);
    assert!(matches!(
        open(&plain, &password, &Limits::default()),
        Err(Error::NotEncrypted)
    ));
    let opened = open(
        &plain,
        &password,
        &Limits::default().with_require_encryption(false),
    )
    .unwrap();
    assert_entries_are_bundle(opened.entries());
}

/// Our zips are WinZip AE-2: 7-Zip's own test finds every entry intact (HMAC checked) and
/// its listing shows no CRC for any entry, where an AE-1 entry would show the plaintext's.
#[test]
fn seven_zip_tests_our_zip_and_sees_no_crc() {
    let seven = autocsr_interop::require_program!("7zz");
    let (dir, path) =
        archive_support::write_archive(&archive_support::sealed(ZIP, CODE_PASSWORD), ZIP);
    let pass = format!("-p{CODE_PASSWORD}");
    let tested = seven_zip(
        &seven,
        &["t".as_ref(), pass.as_ref(), path.as_os_str()],
        dir.path(),
    );
    let text = String::from_utf8_lossy(&tested.stdout);
    assert!(
        tested.status.success() && text.contains("Everything is Ok"),
        "{text}"
    );

    let listing = seven_zip(
        &seven,
        &["l".as_ref(), "-slt".as_ref(), path.as_os_str()],
        dir.path(),
    );
    let text = String::from_utf8_lossy(&listing.stdout);
    let crc_lines: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("CRC ="))
        .collect();
    assert_eq!(crc_lines.len(), archive_support::bundle().len(), "{text}");
    assert!(
        crc_lines.iter().all(|line| line.trim() == "CRC ="),
        "{text}"
    );
}
