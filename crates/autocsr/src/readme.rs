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
            let _ = writeln!(text, "    Windows: 7-Zip (https://www.7-zip.org)");
            let _ = writeln!(
                text,
                "    macOS:   The Unarchiver or Keka, or 7-Zip's 7zz command"
            );
            let _ = writeln!(
                text,
                "    Linux:   7-Zip (7zz / 7z), bsdtar (libarchive-tools)"
            );
            let _ = writeln!(
                text,
                "  These cannot open AES-encrypted ZIPs: the Windows Explorer ZIP folder, the"
            );
            let _ = writeln!(
                text,
                "  macOS Archive Utility (double-click in Finder: \"Error 1 - Operation not"
            );
            let _ = writeln!(
                text,
                "  permitted\") and Info-ZIP unzip. Use one of the programs above instead."
            );
        }
        ArchiveFormat::SevenZ => {
            let _ = writeln!(
                text,
                "  It is a 7z archive with AES-256 encryption (file names are hidden too)."
            );
            let _ = writeln!(text, "  It opens in:");
            let _ = writeln!(text, "    Windows: 7-Zip (https://www.7-zip.org)");
            let _ = writeln!(
                text,
                "    macOS:   The Unarchiver or Keka, or 7-Zip's 7zz command"
            );
            let _ = writeln!(text, "    Linux:   7-Zip (7zz / 7z), unar (The Unarchiver)");
            let _ = writeln!(
                text,
                "  These cannot decrypt 7z archives: Windows Explorer, the macOS Archive"
            );
            let _ = writeln!(text, "  Utility and bsdtar (libarchive).");
        }
        // A format added to the archive crate later: name it and point to 7-Zip, which
        // opens every format that crate writes, until this text learns the details.
        other => {
            let _ = writeln!(
                text,
                "  It is an AES-256 encrypted .{} archive. It opens in 7-Zip",
                other.extension()
            );
            let _ = writeln!(text, "  (https://www.7-zip.org, or the 7zz command).");
        }
    }
    let _ = writeln!(text);
    let _ = writeln!(text, "Typing the code");
    let _ = writeln!(
        text,
        "  Let the program ask for the code and type or paste it there. On a command"
    );
    let _ = writeln!(
        text,
        "  line, do not put the code in the command itself (such as 7-Zip's -p option):"
    );
    let _ = writeln!(
        text,
        "  other users of the computer can see a running command. For example:"
    );
    let _ = writeln!(
        text,
        "    7zz x ARCHIVE              (7-Zip asks for the code)"
    );
    let _ = writeln!(
        text,
        "    autocsr open ARCHIVE       (AutoCSR asks for it, or reads it from stdin)"
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

    /// The line of the README that starts with `label` (after indentation).
    fn line<'a>(text: &'a str, label: &str) -> &'a str {
        text.lines()
            .find(|line| line.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} line in\n{text}"))
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

    /// What works on each platform, for both formats: Archive Utility (macOS) and the
    /// Explorer ZIP folder (Windows) support neither WinZip AES nor 7z AES, so they may
    /// only ever be named as programs that cannot open the archive.
    #[test]
    fn every_format_names_programs_that_really_open_it() {
        for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
            let text = readme_text(&facts(format));
            assert_eq!(
                line(&text, "Windows:").trim(),
                "Windows: 7-Zip (https://www.7-zip.org)",
                "{format:?}"
            );
            let mac = line(&text, "macOS:");
            for program in ["The Unarchiver", "Keka", "7zz"] {
                assert!(mac.contains(program), "{format:?}: {mac}");
            }
            assert!(!mac.contains("Archive Utility"), "{format:?}: {mac}");
            assert!(!mac.contains("bsdtar"), "{format:?}: {mac}");
            let linux = line(&text, "Linux:");
            assert!(linux.contains("7zz"), "{format:?}: {linux}");
            // Archive Utility and Explorer appear once each, in the "cannot" sentence.
            let cannot = text.find("These cannot").unwrap();
            for program in ["Archive", "Explorer"] {
                let at = text.find(program).unwrap();
                assert!(
                    at > cannot,
                    "{format:?}: {program} before \"These cannot\" in\n{text}"
                );
                assert_eq!(text.matches(program).count(), 1, "{format:?}\n{text}");
            }
        }
        let zip = readme_text(&facts(ArchiveFormat::Zip));
        // unar 1.10 on Linux cannot open WinZip AES (docs/INTEROP.md): not named for ZIP.
        assert!(!line(&zip, "Linux:").contains("unar"), "{zip}");
        assert!(line(&zip, "Linux:").contains("bsdtar"), "{zip}");
        let sevenz = readme_text(&facts(ArchiveFormat::SevenZ));
        assert!(line(&sevenz, "Linux:").contains("unar"), "{sevenz}");
        assert!(sevenz.contains("cannot decrypt 7z"), "{sevenz}");
    }

    /// The README and `autocsr open --help` give one recommendation: let the program ask
    /// for the code (or pipe it on stdin), never put it on a command line.
    #[test]
    fn the_code_is_never_recommended_on_a_command_line() {
        for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
            let text = readme_text(&facts(format));
            assert!(!text.contains("--code"), "{text}");
            assert!(
                !text.contains("-pCODE") && !text.contains("-p CODE"),
                "{text}"
            );
            assert!(text.contains("autocsr open ARCHIVE "), "{text}");
            assert!(text.contains("asks for"), "{text}");
            assert!(
                text.contains("do not put the code in the command"),
                "{text}"
            );
        }
    }

    #[test]
    fn windows_are_humanized_in_whole_units() {
        assert_eq!(humanize(Duration::from_secs(86_400)), "1 day");
        assert_eq!(humanize(Duration::from_secs(3 * 3_600)), "3 hours");
        assert_eq!(humanize(Duration::from_secs(90)), "90 seconds");
        assert_eq!(humanize(Duration::from_secs(120)), "2 minutes");
    }
}
