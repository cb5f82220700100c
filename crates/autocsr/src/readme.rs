//! The short README sealed into every archive, next to the key and the CSR.

use std::fmt::Write as _;
use std::time::Duration;

use autocsr_archive::ArchiveFormat;

/// Name of the private key inside the archive.
pub const KEY_ENTRY: &str = "private-key.pem";
/// Name of the CSR inside the archive.
pub const CSR_ENTRY: &str = "certificate-request.csr";
/// Name of the README inside the archive.
pub const README_ENTRY: &str = "README.txt";

pub(crate) struct ReadmeFacts<'a> {
    pub(crate) order_id: &'a str,
    pub(crate) names: &'a [&'a str],
    pub(crate) key: &'a str,
    pub(crate) format: ArchiveFormat,
    pub(crate) window: Duration,
}

/// The README text. Plain ASCII with CRLF line ends, so Notepad shows it properly too.
pub(crate) fn readme_text(facts: &ReadmeFacts<'_>) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail; `let _ =` keeps the lints quiet without unwrap.
    let _ = writeln!(text, "Your private key and certificate request");
    let _ = writeln!(text, "========================================");
    let _ = writeln!(text);
    let _ = writeln!(text, "Order:  {}", facts.order_id);
    let _ = writeln!(text, "Names:  {}", facts.names.join(", "));
    let _ = writeln!(text, "Key:    {}", facts.key);
    let _ = writeln!(text);
    let _ = writeln!(text, "Files");
    let _ = writeln!(
        text,
        "  {KEY_ENTRY:<24} your private key (PKCS#8 PEM). Keep it secret; install it"
    );
    let _ = writeln!(text, "  {:<24} on your server next to the certificate.", "");
    let _ = writeln!(
        text,
        "  {CSR_ENTRY:<24} the certificate signing request (public; your CA has a copy)."
    );
    let _ = writeln!(text, "  {README_ENTRY:<24} this file.");
    let _ = writeln!(text);
    let _ = writeln!(text, "The unlock code");
    let _ = writeln!(
        text,
        "  The code that opens this archive is shown on your order page, and only there:"
    );
    let _ = writeln!(
        text,
        "  it is never sent by e-mail. It is shown for {} after the order; after that it",
        humanize(facts.window)
    );
    let _ = writeln!(
        text,
        "  is destroyed and cannot be recovered by anyone, including us. We keep no copy"
    );
    let _ = writeln!(
        text,
        "  of your private key either. If the code is lost, reissue the certificate with"
    );
    let _ = writeln!(text, "  a new CSR.");
    let _ = writeln!(text);
    let _ = writeln!(text, "Opening this archive");
    match facts.format {
        ArchiveFormat::Zip => {
            let _ = writeln!(
                text,
                "  It is a ZIP with AES-256 encryption (WinZip AES). It opens in:"
            );
            let _ = writeln!(text, "    Windows: 7-Zip (https://www.7-zip.org), WinRAR");
            let _ = writeln!(
                text,
                "    macOS:   Archive Utility / bsdtar (libarchive), 7-Zip (7zz)"
            );
            let _ = writeln!(
                text,
                "    Linux:   7-Zip (7zz / 7z), bsdtar (libarchive-tools)"
            );
            let _ = writeln!(
                text,
                "  Windows Explorer's built-in ZIP support and Info-ZIP `unzip` cannot open"
            );
            let _ = writeln!(
                text,
                "  AES-encrypted ZIPs: they report an unsupported method or a bad password."
            );
        }
        ArchiveFormat::SevenZ => {
            let _ = writeln!(
                text,
                "  It is a 7z archive with AES-256 encryption (file names are hidden too)."
            );
            let _ = writeln!(text, "  It opens in:");
            let _ = writeln!(text, "    Windows: 7-Zip (https://www.7-zip.org)");
            let _ = writeln!(text, "    macOS:   The Unarchiver, 7-Zip (7zz)");
            let _ = writeln!(text, "    Linux:   7-Zip (7zz / 7z), unar (The Unarchiver)");
            let _ = writeln!(
                text,
                "  bsdtar (libarchive) and Windows Explorer cannot decrypt 7z archives."
            );
        }
    }
    let _ = writeln!(
        text,
        "  Or with AutoCSR itself: autocsr open ARCHIVE --code CODE"
    );
    text.replace('\n', "\r\n")
}

/// `7 days`, `12 hours`, `90 seconds`: whole units only, for the README.
fn humanize(window: Duration) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let seconds = window.as_secs();
    let (count, unit) = if seconds >= DAY && seconds.is_multiple_of(DAY) {
        (seconds / DAY, "day")
    } else if seconds >= HOUR && seconds.is_multiple_of(HOUR) {
        (seconds / HOUR, "hour")
    } else if seconds >= MINUTE && seconds.is_multiple_of(MINUTE) {
        (seconds / MINUTE, "minute")
    } else {
        (seconds, "second")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(format: ArchiveFormat) -> ReadmeFacts<'static> {
        ReadmeFacts {
            order_id: "ord_0123456789ABCDEFGHJK",
            names: &["example.com", "www.example.com"],
            key: "rsa2048",
            format,
            window: Duration::from_secs(7 * 86_400),
        }
    }

    #[test]
    fn zip_readme_names_the_programs_and_the_order_page() {
        let text = readme_text(&facts(ArchiveFormat::Zip));
        for needle in [
            "7-Zip",
            "bsdtar",
            "order page",
            "never sent by e-mail",
            "7 days",
            "Info-ZIP",
            "Windows Explorer",
            "example.com, www.example.com",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(text.is_ascii());
        assert!(!text.contains("\r\r"));
    }

    #[test]
    fn sevenz_readme_names_the_unarchiver() {
        let text = readme_text(&facts(ArchiveFormat::SevenZ));
        assert!(text.contains("The Unarchiver"));
        assert!(text.contains("cannot decrypt 7z"));
    }

    #[test]
    fn windows_are_humanized_in_whole_units() {
        assert_eq!(humanize(Duration::from_secs(86_400)), "1 day");
        assert_eq!(humanize(Duration::from_secs(3 * 3_600)), "3 hours");
        assert_eq!(humanize(Duration::from_secs(90)), "90 seconds");
        assert_eq!(humanize(Duration::from_secs(120)), "2 minutes");
    }
}
