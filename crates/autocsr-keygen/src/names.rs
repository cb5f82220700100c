//! DNS name syntax, checked before anything is signed.
//!
//! This is syntax only (RFC 1034 LDH labels, RFC 5890/5891 A-labels, the wildcard form of
//! BR 7.1.2.7.12). Whether a name is allowed in a publicly-trusted certificate (public
//! suffixes, internal names, reserved addresses) is a policy decision made elsewhere.

use crate::error::{Error, Result};

/// The longest DNS name accepted, in bytes (RFC 1035 section 3.1, without the root dot).
pub const MAX_DNS_NAME_LEN: usize = 253;

/// The longest DNS label accepted, in bytes (RFC 1035 section 2.3.4).
pub const MAX_DNS_LABEL_LEN: usize = 63;

/// Checks the syntax of a DNS name for a subjectAltName and returns its normalised form
/// (ASCII lower case).
///
/// Accepted: one or more LDH labels (ASCII letters, digits, `-`, not at either end of a
/// label) of 1–63 bytes, at most 253 bytes in all, optionally preceded by the wildcard
/// label `*.`; labels that start with `xn--` must be valid A-labels.
///
/// # Errors
/// - [`Error::EmptyDnsName`] for `""`.
/// - [`Error::NonAsciiDnsLabel`] naming the first label with non-ASCII characters (convert
///   with [`dns_name_to_ascii`] first).
/// - [`Error::DnsNameTooLong`], [`Error::EmptyDnsLabel`] (also for a trailing dot),
///   [`Error::DnsLabelTooLong`], [`Error::InvalidDnsLabel`], [`Error::InvalidALabel`],
///   [`Error::MisplacedWildcard`], [`Error::NumericTopLevelLabel`].
///
/// # Examples
///
/// ```
/// use autocsr_keygen::{Error, check_dns_name};
///
/// assert_eq!(check_dns_name("WWW.Example.com")?, "www.example.com");
/// assert_eq!(check_dns_name("*.example.com")?, "*.example.com");
/// assert!(matches!(check_dns_name("www.*.example.com"), Err(Error::MisplacedWildcard { .. })));
/// assert!(matches!(check_dns_name("bücher.example"), Err(Error::NonAsciiDnsLabel { .. })));
/// # Ok::<(), autocsr_keygen::Error>(())
/// ```
pub fn check_dns_name(name: &str) -> Result<String> {
    if name.is_empty() {
        return Err(Error::EmptyDnsName);
    }
    // Report non-ASCII first and by label, so the caller sees which part needs IDNA.
    if let Some(label) = name.split('.').find(|label| !label.is_ascii()) {
        return Err(Error::NonAsciiDnsLabel {
            label: label.to_owned(),
        });
    }
    if name.len() > MAX_DNS_NAME_LEN {
        return Err(Error::DnsNameTooLong {
            name: name.to_owned(),
            len: name.len(),
        });
    }
    let normalised = name.to_ascii_lowercase();
    let base = match normalised.strip_prefix("*.") {
        Some(rest) => rest,
        None => normalised.as_str(),
    };
    if base.contains('*') || base.is_empty() {
        return Err(Error::MisplacedWildcard {
            name: name.to_owned(),
        });
    }
    let mut last_label = "";
    for label in base.split('.') {
        check_label(name, label)?;
        last_label = label;
    }
    // "1.2.3.4" or "example.123" would read as (part of) an IPv4 address to many parsers.
    if last_label.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(Error::NumericTopLevelLabel {
            name: name.to_owned(),
        });
    }
    Ok(normalised)
}

fn check_label(name: &str, label: &str) -> Result<()> {
    if label.is_empty() {
        return Err(Error::EmptyDnsLabel {
            name: name.to_owned(),
        });
    }
    if label.len() > MAX_DNS_LABEL_LEN {
        return Err(Error::DnsLabelTooLong {
            label: label.to_owned(),
            len: label.len(),
        });
    }
    let ldh = label
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
    if !ldh || label.starts_with('-') || label.ends_with('-') {
        return Err(Error::InvalidDnsLabel {
            label: label.to_owned(),
        });
    }
    // RFC 5891 4.2.3.1: "--" in positions 3-4 is reserved for A-labels ("xn--").
    if label.get(2..4) == Some("--") {
        let is_a_label = label.starts_with("xn--") && is_valid_a_label(label);
        if !is_a_label {
            return Err(Error::InvalidALabel {
                label: label.to_owned(),
            });
        }
    }
    Ok(())
}

/// An A-label is valid when its Punycode decodes to a U-label that is not pure ASCII and
/// that UTS #46 (non-transitional, STD3) maps back to exactly this label.
fn is_valid_a_label(label: &str) -> bool {
    let Some(encoded) = label.strip_prefix("xn--") else {
        return false;
    };
    let Some(unicode) = idna::punycode::decode_to_string(encoded) else {
        return false;
    };
    if unicode.is_ascii() {
        return false;
    }
    idna::domain_to_ascii_strict(&unicode).is_ok_and(|round_trip| round_trip == label)
}

/// Converts an internationalised domain name (U-labels) to its ASCII form (A-labels) with
/// UTS #46 processing (non-transitional, STD3 rules), then checks it with
/// [`check_dns_name`]. A leading `*.` is kept. ASCII input is only checked.
///
/// # Errors
/// [`Error::NonAsciiDnsLabel`] naming the first non-ASCII label when IDNA processing refuses
/// the name, and every error of [`check_dns_name`] for the converted name.
///
/// # Examples
///
/// ```
/// assert_eq!(autocsr_keygen::dns_name_to_ascii("Bücher.example")?, "xn--bcher-kva.example");
/// # Ok::<(), autocsr_keygen::Error>(())
/// ```
pub fn dns_name_to_ascii(name: &str) -> Result<String> {
    if name.is_ascii() {
        return check_dns_name(name);
    }
    let (wildcard, base) = match name.strip_prefix("*.") {
        Some(rest) => ("*.", rest),
        None => ("", name),
    };
    let converted = idna::domain_to_ascii_strict(base).map_err(|_| {
        let label = base
            .split('.')
            .find(|label| !label.is_ascii())
            .unwrap_or(base);
        Error::NonAsciiDnsLabel {
            label: label.to_owned(),
        }
    })?;
    check_dns_name(&format!("{wildcard}{converted}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_accepted_and_lower_cased() {
        assert_eq!(check_dns_name("Example.COM").unwrap(), "example.com");
        assert_eq!(check_dns_name("a-b.c1.example").unwrap(), "a-b.c1.example");
        assert_eq!(check_dns_name("localhost").unwrap(), "localhost");
        assert_eq!(check_dns_name("*.example.com").unwrap(), "*.example.com");
        assert_eq!(check_dns_name("1.example.com").unwrap(), "1.example.com");
    }

    #[test]
    fn a_labels_are_accepted_when_valid() {
        // "bücher.example"
        assert_eq!(
            check_dns_name("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn empty_name_is_refused() {
        assert!(matches!(check_dns_name(""), Err(Error::EmptyDnsName)));
    }

    #[test]
    fn non_ascii_label_is_named() {
        match check_dns_name("www.bücher.example") {
            Err(Error::NonAsciiDnsLabel { label }) => assert_eq!(label, "bücher"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn too_long_name_is_refused() {
        let label = "a".repeat(63);
        let name = format!("{label}.{label}.{label}.{}", "a".repeat(62)); // 254 bytes
        assert_eq!(name.len(), 254);
        assert!(matches!(
            check_dns_name(&name),
            Err(Error::DnsNameTooLong { len: 254, .. })
        ));
        let just_fits = format!("{label}.{label}.{label}.{}", "a".repeat(61));
        assert_eq!(just_fits.len(), 253);
        assert!(check_dns_name(&just_fits).is_ok());
    }

    #[test]
    fn too_long_label_is_refused() {
        let name = format!("{}.example.com", "a".repeat(64));
        assert!(matches!(
            check_dns_name(&name),
            Err(Error::DnsLabelTooLong { len: 64, .. })
        ));
        assert!(check_dns_name(&format!("{}.example.com", "a".repeat(63))).is_ok());
    }

    #[test]
    fn empty_labels_are_refused() {
        for name in ["example..com", ".example.com", "example.com.", "."] {
            assert!(
                matches!(check_dns_name(name), Err(Error::EmptyDnsLabel { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn non_ldh_labels_are_refused() {
        for (name, bad) in [
            ("exa_mple.com", "exa_mple"),
            ("-example.com", "-example"),
            ("example-.com", "example-"),
            ("ex ample.com", "ex ample"),
            ("ex@mple.com", "ex@mple"),
            ("[::1]", "[::1]"),
        ] {
            match check_dns_name(name) {
                Err(Error::InvalidDnsLabel { label }) => assert_eq!(label, bad),
                other => panic!("{name}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn bad_a_labels_are_refused() {
        for name in [
            "xn--abc.example",      // decodes to ASCII only
            "xn--a-ecp.example",    // not what UTS #46 maps back to
            "ab--cd.example",       // reserved R-LDH label that is not an A-label
            "xn--zzzzzzzz.example", // undecodable
        ] {
            assert!(
                matches!(check_dns_name(name), Err(Error::InvalidALabel { .. })),
                "{name}: {:?}",
                check_dns_name(name)
            );
        }
    }

    #[test]
    fn misplaced_wildcards_are_refused() {
        for name in [
            "*",
            "*.",
            "www.*.example.com",
            "*.*.example.com",
            "w*.example.com",
            "example.*",
        ] {
            assert!(
                matches!(
                    check_dns_name(name),
                    Err(Error::MisplacedWildcard { .. } | Error::EmptyDnsLabel { .. })
                ),
                "{name}: {:?}",
                check_dns_name(name)
            );
        }
        assert!(matches!(
            check_dns_name("w*.example.com"),
            Err(Error::MisplacedWildcard { .. })
        ));
    }

    #[test]
    fn numeric_top_label_is_refused() {
        for name in ["1.2.3.4", "example.123", "42"] {
            assert!(
                matches!(
                    check_dns_name(name),
                    Err(Error::NumericTopLevelLabel { .. })
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn idna_conversion_produces_a_labels() {
        assert_eq!(
            dns_name_to_ascii("Bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            dns_name_to_ascii("*.bücher.example").unwrap(),
            "*.xn--bcher-kva.example"
        );
        assert_eq!(dns_name_to_ascii("example.com").unwrap(), "example.com");
    }

    #[test]
    fn idna_conversion_names_the_label_it_cannot_convert() {
        // U+2488 (DIGIT ONE FULL STOP) is disallowed under STD3 rules.
        match dns_name_to_ascii("www.a\u{2488}b.example") {
            Err(Error::NonAsciiDnsLabel { label }) => assert_eq!(label, "a\u{2488}b"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
