//! Every zip entry is written as WinZip AE-2: AES extra field vendor version 2 and a zero
//! CRC-32 in the local and central headers, so no plaintext checksum links the archive to
//! the public CSR published next to it (issue 13, item 12). Parsed here independently of
//! the crate's own header code.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test parser: a short or odd archive is the failure"
)]

use autocsr_archive::secrecy::SecretString;
use autocsr_archive::{ArchiveFormat, Entry, SealOptions, seal};

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// The vendor version of the WinZip AES extra field (id 0x9901) among `extra`.
fn aes_vendor_version(extra: &[u8]) -> Option<u16> {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at);
        let size = usize::from(u16_at(extra, at + 2));
        if id == 0x9901 {
            assert_eq!(size, 7);
            assert_eq!(&extra[at + 6..at + 8], b"AE");
            return Some(u16_at(extra, at + 4));
        }
        at += 4 + size;
    }
    None
}

/// One header as read: name, CRC-32 field, AES vendor version.
#[derive(Debug)]
struct Header {
    name: String,
    crc: u32,
    vendor_version: Option<u16>,
}

/// (local headers, central headers) of a zip without comment or Zip64.
fn headers(zip: &[u8]) -> (Vec<Header>, Vec<Header>) {
    let eocd = zip.len() - 22;
    assert_eq!(&zip[eocd..eocd + 4], b"PK\x05\x06");
    let count = u16_at(zip, eocd + 10);
    let mut at = usize::try_from(u32_at(zip, eocd + 16)).unwrap();
    let (mut local, mut central) = (Vec::new(), Vec::new());
    for _ in 0..count {
        assert_eq!(&zip[at..at + 4], b"PK\x01\x02");
        let name_len = usize::from(u16_at(zip, at + 28));
        let extra_len = usize::from(u16_at(zip, at + 30));
        let comment_len = usize::from(u16_at(zip, at + 32));
        let name = &zip[at + 46..at + 46 + name_len];
        central.push(Header {
            name: String::from_utf8(name.to_vec()).unwrap(),
            crc: u32_at(zip, at + 16),
            vendor_version: aes_vendor_version(
                &zip[at + 46 + name_len..at + 46 + name_len + extra_len],
            ),
        });
        let lo = usize::try_from(u32_at(zip, at + 42)).unwrap();
        assert_eq!(&zip[lo..lo + 4], b"PK\x03\x04");
        let local_name_len = usize::from(u16_at(zip, lo + 26));
        let local_extra_len = usize::from(u16_at(zip, lo + 28));
        local.push(Header {
            name: String::from_utf8(zip[lo + 30..lo + 30 + local_name_len].to_vec()).unwrap(),
            crc: u32_at(zip, lo + 14),
            vendor_version: aes_vendor_version(
                &zip[lo + 30 + local_name_len..lo + 30 + local_name_len + local_extra_len],
            ),
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    (local, central)
}

#[test]
fn every_entry_is_ae2_with_no_crc() {
    let csr = b"-----BEGIN CERTIFICATE REQUEST-----\nMIICvDCCAaQCAQAwdzELMAkGA1UEBhMCVVMx\n-----END CERTIFICATE REQUEST-----\n".to_vec();
    let entries = vec![
        Entry::private(
            "example.com.key",
            b"-----BEGIN PRIVATE KEY-----\nMIIE\n".repeat(30),
        )
        .unwrap(),
        Entry::new("example.com.csr", csr.clone()).unwrap(),
        Entry::new("README.txt", b"Open with 7-Zip.\n".repeat(20)).unwrap(),
        Entry::new("tiny", b"x".to_vec()).unwrap(),
        Entry::new("empty", Vec::new()).unwrap(),
        Entry::new("sub/nineteen.bytes", b"0123456789abcdefghi".to_vec()).unwrap(),
        Entry::new("sub/twenty.bytes", b"0123456789abcdefghij".to_vec()).unwrap(),
    ];
    let password = SecretString::from("7K4M-Q9TX-2WRB-N8DH-V3CJ-6YEZ-P5GA");
    let sealed = seal(
        ArchiveFormat::Zip,
        &entries,
        &password,
        &SealOptions::default(),
    )
    .unwrap();
    let (local, central) = headers(&sealed);
    assert_eq!(local.len(), entries.len());
    assert_eq!(central.len(), entries.len());
    for (header, entry) in local.iter().chain(&central).zip(entries.iter().cycle()) {
        assert_eq!(header.name, entry.name());
        assert_eq!(header.vendor_version, Some(2), "{header:?}");
        assert_eq!(header.crc, 0, "{header:?}");
    }
    // The CSR published next to the archive can no longer be matched by its CRC.
    let csr_crc = crc32fast::hash(&csr);
    assert!(
        local
            .iter()
            .chain(&central)
            .all(|header| header.crc != csr_crc)
    );
}
