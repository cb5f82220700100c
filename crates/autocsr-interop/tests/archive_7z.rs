//! Our AES-256 7z archives in real clients, and 7-Zip's in our `open`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

mod archive_support;

use archive_support::{
    CODE_PASSWORD, Client, WRONG_PASSWORD, assert_client_cannot_open, assert_client_opens,
    assert_entries_are_bundle, bundle, passwords, sealed, sealed_entries, sealed_with, secret,
    seven_zip, write_archive, write_bundle_files,
};
use autocsr_archive::{ArchiveFormat, Error, Limits, SealOptions, open};

const SEVEN_Z: ArchiveFormat = ArchiveFormat::SevenZ;

#[test]
fn seven_zip_opens_our_7z() {
    assert_client_opens(Client::SevenZip, SEVEN_Z);
}

#[test]
fn unar_opens_our_7z() {
    assert_client_opens(Client::Unar, SEVEN_Z);
}

#[test]
fn py7zr_opens_our_7z() {
    assert_client_opens(Client::Py7zr, SEVEN_Z);
}

/// libarchive reads 7z but cannot decrypt it: expected, recorded.
#[test]
fn bsdtar_cannot_decrypt_7z() {
    assert_client_cannot_open(Client::Bsdtar, SEVEN_Z);
}

#[test]
fn seven_zip_reports_2_pow_19_kdf_rounds() {
    let seven = autocsr_interop::require_program!("7zz");
    let (dir, path) = write_archive(&sealed(SEVEN_Z, CODE_PASSWORD), SEVEN_Z);
    let pass = format!("-p{CODE_PASSWORD}");
    let listing = seven_zip(
        &seven,
        &[
            "l".as_ref(),
            "-slt".as_ref(),
            pass.as_ref(),
            path.as_os_str(),
        ],
        dir.path(),
    );
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.status.success(), "{text}");
    assert!(text.contains("7zAES:19"), "{text}");
    assert!(text.contains("LZMA2"), "{text}");
}

#[test]
fn no_entry_name_is_listed_without_the_password() {
    let (dir, path) = write_archive(&sealed(SEVEN_Z, CODE_PASSWORD), SEVEN_Z);
    let mut listings = Vec::new();
    if let Some(seven) = autocsr_interop::Program::require("7zz") {
        listings.push(seven_zip(
            &seven,
            &["l".as_ref(), path.as_os_str()],
            dir.path(),
        ));
        let wrong = format!("-p{WRONG_PASSWORD}");
        listings.push(seven_zip(
            &seven,
            &["l".as_ref(), wrong.as_ref(), path.as_os_str()],
            dir.path(),
        ));
    }
    if let Some(lsar) = autocsr_interop::Program::require("lsar") {
        listings.push(lsar.run([path.as_os_str()]));
    }
    for listing in listings {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&listing.stdout),
            String::from_utf8_lossy(&listing.stderr)
        );
        for entry in bundle() {
            assert!(
                !text.contains(entry.name()),
                "{} listed without the password:\n{text}",
                entry.name()
            );
        }
    }
}

fn seven_zip_made(extra: &[&str], password: Option<&str>) -> Option<Vec<u8>> {
    let seven = autocsr_interop::Program::require("7zz")?;
    let dir = tempfile::tempdir().unwrap();
    let names = write_bundle_files(dir.path());
    let mut args: Vec<std::ffi::OsString> = vec!["a".into(), "-t7z".into()];
    args.extend(extra.iter().map(Into::into));
    if let Some(password) = password {
        args.push(format!("-p{password}").into());
    }
    args.push("made.7z".into());
    args.extend(names.iter().map(Into::into));
    let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(AsRef::as_ref).collect();
    let made = seven_zip(&seven, &arg_refs, dir.path());
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    Some(std::fs::read(dir.path().join("made.7z")).unwrap())
}

#[test]
fn seven_zip_encrypted_header_7z_opens_with_our_open() {
    for password in passwords() {
        let Some(bytes) = seven_zip_made(&["-mhe=on"], Some(password)) else {
            return;
        };
        let opened = open(&bytes, &secret(password), &Limits::default()).unwrap();
        assert_entries_are_bundle(opened.entries());
        assert!(matches!(
            open(&bytes, &secret(WRONG_PASSWORD), &Limits::default()),
            Err(Error::WrongPassword)
        ));
    }
}

#[test]
fn seven_zip_plain_header_7z_wrong_password_is_still_wrong_password() {
    let Some(bytes) = seven_zip_made(&["-mhe=off"], Some(CODE_PASSWORD)) else {
        return;
    };
    let opened = open(&bytes, &secret(CODE_PASSWORD), &Limits::default()).unwrap();
    assert_entries_are_bundle(opened.entries());
    let error = open(&bytes, &secret(WRONG_PASSWORD), &Limits::default()).unwrap_err();
    assert!(matches!(error, Error::WrongPassword), "{error:?}");
}

#[test]
fn unencrypted_7z_is_refused() {
    let Some(bytes) = seven_zip_made(&[], None) else {
        return;
    };
    let error = open(&bytes, &secret(CODE_PASSWORD), &Limits::default()).unwrap_err();
    assert!(matches!(error, Error::NotEncrypted), "{error:?}");
    let opened = open(
        &bytes,
        &secret(CODE_PASSWORD),
        &Limits::default().with_require_encryption(false),
    )
    .unwrap();
    assert_entries_are_bundle(opened.entries());
}

/// Archive shapes the bundle does not reach, each a different branch of our 7z writer:
/// empty files (no stream; "empty stream" and "empty file" bit vectors), an archive with
/// no content stream at all, incompressible data over several LZMA2 chunks, a nested name.
fn edge_shapes() -> Vec<(&'static str, Vec<autocsr_archive::Entry>)> {
    use autocsr_archive::Entry;
    let noise = autocsr_interop::noise(3 * 1024 * 1024 + 17);
    vec![
        (
            "an empty file between two others",
            vec![
                Entry::private("first.key", b"key bytes\n".to_vec()).unwrap(),
                Entry::new("empty.txt", Vec::new()).unwrap(),
                Entry::new("last.txt", b"last\n".repeat(100)).unwrap(),
            ],
        ),
        (
            "only an empty file",
            vec![Entry::new("nothing.txt", Vec::new()).unwrap()],
        ),
        (
            "3 MiB of noise, 1 MiB of text, a nested name",
            vec![
                Entry::new("noise.bin", noise).unwrap(),
                Entry::new("docs/text/readme.txt", b"compress me ".repeat(87_382)).unwrap(),
            ],
        ),
    ]
}

#[test]
fn every_7z_client_opens_every_shape_our_writer_makes() {
    for client in [Client::SevenZip, Client::Unar, Client::Py7zr] {
        let Some(program) = client.program() else {
            continue;
        };
        for (shape, entries) in edge_shapes() {
            let (_dir, path) =
                write_archive(&sealed_entries(SEVEN_Z, &entries, CODE_PASSWORD), SEVEN_Z);
            let extraction = client.extract(&program, &path, CODE_PASSWORD);
            assert!(
                extraction.succeeded(),
                "{} failed on {shape}: {}",
                client.label(),
                String::from_utf8_lossy(&extraction.output.stderr)
            );
            for entry in &entries {
                let extracted = std::fs::read(extraction.out_dir.path().join(entry.name()))
                    .unwrap_or_else(|e| {
                        panic!("{}: {shape}: {}: {e}", client.label(), entry.name())
                    });
                assert!(
                    extracted == entry.data(),
                    "{}: {shape}: {} differs",
                    client.label(),
                    entry.name()
                );
            }
        }
    }
}

/// `7zz t` checks every CRC our writer stored: each entry's, and the header's.
#[test]
fn seven_zip_test_command_finds_every_crc_correct() {
    let seven = autocsr_interop::require_program!("7zz");
    let pass = format!("-p{CODE_PASSWORD}");
    let mut shapes = edge_shapes();
    shapes.push(("the bundle", bundle()));
    for (shape, entries) in shapes {
        let (dir, path) = write_archive(&sealed_entries(SEVEN_Z, &entries, CODE_PASSWORD), SEVEN_Z);
        let tested = seven_zip(
            &seven,
            &["t".as_ref(), pass.as_ref(), path.as_os_str()],
            dir.path(),
        );
        let text = String::from_utf8_lossy(&tested.stdout);
        assert!(tested.status.success(), "{shape}: {text}");
        assert!(text.contains("Everything is Ok"), "{shape}: {text}");
    }
}

/// The key-derivation limit also covers the content: with a plain header (7-Zip's
/// `-mhe=off`) nothing is derived for the header, and the content's 2^19 rounds must still
/// be refused under a limit of 2^18, before any derivation.
#[test]
fn content_key_derivation_above_the_limit_is_refused_with_a_plain_header() {
    let Some(bytes) = seven_zip_made(&["-mhe=off"], Some(CODE_PASSWORD)) else {
        return;
    };
    let strict = Limits::default().with_max_kdf_power(18);
    let error = open(&bytes, &secret(CODE_PASSWORD), &strict).unwrap_err();
    assert!(
        matches!(
            error,
            Error::LimitExceeded {
                what: autocsr_archive::LimitKind::KeyDerivation,
                limit: 18
            }
        ),
        "{error:?}"
    );
    // At the limit it opens.
    let at_limit = Limits::default().with_max_kdf_power(19);
    assert_entries_are_bundle(
        open(&bytes, &secret(CODE_PASSWORD), &at_limit)
            .unwrap()
            .entries(),
    );
}

/// The bundle sealed both ways (a fresh 16-byte salt, the default; and without a salt, as
/// 7-Zip writes it, for one-time random codes), with each password, opens in every 7z
/// client byte for byte, and a wrong password is refused.
#[test]
fn every_7z_client_opens_salted_and_unsalted_archives() {
    let variants = [
        ("salted", SealOptions::default()),
        (
            "unsalted",
            SealOptions::default().skip_7z_salt_for_random_password(),
        ),
    ];
    for client in [Client::SevenZip, Client::Unar, Client::Py7zr] {
        let Some(program) = client.program() else {
            continue;
        };
        for (label, options) in &variants {
            for password in passwords() {
                let (_dir, path) =
                    write_archive(&sealed_with(SEVEN_Z, &bundle(), password, options), SEVEN_Z);
                let extraction = client.extract(&program, &path, password);
                if let Err(detail) = extraction.matches_bundle(client.restores_modes()) {
                    panic!(
                        "{} on the {label} archive ({password}): {detail}",
                        client.label()
                    );
                }
                let wrong = client.extract(&program, &path, WRONG_PASSWORD);
                assert!(
                    !wrong.succeeded() && wrong.extracted_nothing(),
                    "{} accepted a wrong password for the {label} archive",
                    client.label()
                );
            }
        }
    }
}

/// 7-Zip stores a FIFO in a 7z as `prw-r--r--` (it does not read it); our `open` refuses
/// the archive as holding something other than regular files.
#[test]
fn a_fifo_stored_by_seven_zip_is_refused() {
    let seven = autocsr_interop::require_program!("7zz");
    let dir = tempfile::tempdir().unwrap();
    let names = write_bundle_files(dir.path());
    let fifo = dir.path().join("zzfifo");
    let mkfifo = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(mkfifo.success());
    let pass = format!("-p{CODE_PASSWORD}");
    let mut args: Vec<std::ffi::OsString> = vec![
        "a".into(),
        "-t7z".into(),
        "-mhe=on".into(),
        pass.into(),
        "fifo.7z".into(),
    ];
    args.extend(names.iter().map(Into::into));
    args.push("zzfifo".into());
    let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(AsRef::as_ref).collect();
    let made = seven_zip(&seven, &arg_refs, dir.path());
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let listing = seven_zip(
        &seven,
        &[
            "l".as_ref(),
            "-slt".as_ref(),
            format!("-p{CODE_PASSWORD}").as_ref(),
            "fifo.7z".as_ref(),
        ],
        dir.path(),
    );
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.contains("prw-r--r--"),
        "7-Zip no longer stores the FIFO: {text}"
    );
    let bytes = std::fs::read(dir.path().join("fifo.7z")).unwrap();
    let error = open(&bytes, &secret(CODE_PASSWORD), &Limits::default()).unwrap_err();
    assert!(matches!(error, Error::NotARegularFile), "{error:?}");
}
