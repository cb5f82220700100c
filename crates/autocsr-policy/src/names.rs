//! Name rules: DNS names and IP addresses (BR 7.1.2.7.12, 7.1.4.3, 3.2.2.6).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::finding::{Finding, ids};

/// A name to check: a DNS name (text) or an IP address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SubjectName {
    Dns(String),
    Ip(IpAddr),
}

impl SubjectName {
    /// Text as shown to people and compared with the CN (IPs in canonical text form).
    pub(crate) fn text(&self) -> String {
        match self {
            Self::Dns(name) => name.clone(),
            Self::Ip(ip) => ip.to_string(),
        }
    }
}

const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// Runs every name rule over `names` (the SAN values, in order) and the subject CNs.
pub(crate) fn check_names(names: &[SubjectName], common_names: &[String], out: &mut Vec<Finding>) {
    if names.is_empty() {
        out.push(Finding::new(
            ids::NAME_SAN_MISSING,
            "no subjectAltName with a DNS name or IP address (BR 7.1.2.7.12)",
        ));
    }
    let mut seen = HashSet::new();
    for name in names {
        match name {
            SubjectName::Dns(dns) => check_dns_name(dns, out),
            SubjectName::Ip(ip) => check_ip(*ip, out),
        }
        let key = name.text().to_ascii_lowercase();
        if !seen.insert(key.clone()) {
            out.push(
                Finding::new(
                    ids::NAME_DUPLICATE,
                    "the same name is listed more than once",
                )
                .with_value(key),
            );
        }
    }
    for cn in common_names {
        if !cn_matches_a_san(cn, names) {
            out.push(
                Finding::new(
                    ids::NAME_CN_NOT_IN_SAN,
                    "the subject commonName must be one of the subjectAltName values (BR 7.1.4.3)",
                )
                .with_value(cn.clone()),
            );
        }
    }
}

fn cn_matches_a_san(cn: &str, names: &[SubjectName]) -> bool {
    let cn_ip: Option<IpAddr> = cn.parse().ok();
    names.iter().any(|name| match (name, cn_ip) {
        (SubjectName::Ip(ip), Some(cn_ip)) => *ip == cn_ip,
        (SubjectName::Dns(dns), _) => dns.eq_ignore_ascii_case(cn),
        (SubjectName::Ip(_), None) => false,
    })
}

/// Classifies a name given as text: an IP literal is an IP, anything else a DNS name.
pub(crate) fn parse_text_name(text: &str) -> SubjectName {
    match text.parse::<IpAddr>() {
        Ok(ip) => SubjectName::Ip(ip),
        Err(_) => SubjectName::Dns(text.to_owned()),
    }
}

/// DNS name rules. Reports each problem once per name; later rules that need a
/// syntactically valid name are skipped when the syntax is already wrong.
pub(crate) fn check_dns_name(name: &str, out: &mut Vec<Finding>) {
    let finding = |id: &'static str, message: &str| Finding::new(id, message).with_value(name);

    let mut syntax_ok = true;
    if name.len() > MAX_NAME_LEN {
        out.push(finding(
            ids::NAME_DNS_TOO_LONG,
            "DNS name longer than 253 bytes",
        ));
        syntax_ok = false;
    }
    if name.is_empty() || name.ends_with('.') || name.split('.').any(str::is_empty) {
        out.push(finding(
            ids::NAME_DNS_SYNTAX,
            "DNS name has an empty label or a trailing dot",
        ));
        return;
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.iter().any(|label| label.len() > MAX_LABEL_LEN) {
        out.push(finding(
            ids::NAME_DNS_TOO_LONG,
            "DNS label longer than 63 bytes",
        ));
        syntax_ok = false;
    }

    // Wildcards: only `*` as the whole leftmost label.
    let mut wildcard = false;
    for (index, label) in labels.iter().enumerate() {
        if label.contains('*') {
            if index == 0 && *label == "*" {
                wildcard = true;
            } else {
                out.push(finding(
                    ids::NAME_WILDCARD_NOT_LEFTMOST,
                    "a wildcard must be the whole leftmost label (BR 7.1.2.7.12)",
                ));
                syntax_ok = false;
                break;
            }
        }
    }

    // Letters, digits, hyphen (LDH); no leading or trailing hyphen.
    let ldh_ok = labels.iter().enumerate().all(|(index, label)| {
        (index == 0 && wildcard)
            || label.contains('*')
            || (label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-'))
    });
    if !ldh_ok {
        out.push(finding(
            ids::NAME_DNS_SYNTAX,
            "DNS labels may hold only letters, digits and inner hyphens (no '_', no U-labels)",
        ));
        syntax_ok = false;
    } else if labels.iter().any(|label| is_reserved_ldh_label(label)) {
        out.push(finding(
            ids::NAME_DNS_SYNTAX,
            "a label with '--' in the third and fourth positions is reserved unless it is an xn-- A-label (RFC 5890; BR 7.1.2.7.12)",
        ));
        syntax_ok = false;
    }
    if !syntax_ok {
        return;
    }

    let lower = name.to_ascii_lowercase();
    for label in lower.split('.') {
        if let Some(encoded) = label.strip_prefix("xn--")
            && !is_valid_a_label(label, encoded)
        {
            out.push(finding(
                ids::NAME_IDN_INVALID,
                "xn-- label is not valid punycode or not a valid IDNA A-label",
            ));
            break;
        }
    }

    let base = if wildcard {
        lower.get(2..).unwrap_or_default()
    } else {
        lower.as_str()
    };
    if is_internal(&lower) {
        out.push(finding(
            ids::NAME_INTERNAL,
            "internal name: not under an ICANN top-level domain, a single label, or a reverse zone (BR 7.1.2.7.12)",
        ));
        return;
    }
    // `*.X` is refused when X is a public suffix, or when X's children are (a PSL
    // wildcard rule such as `*.kawasaki.jp`): either way the `*` would cover suffixes.
    if wildcard && (is_icann_public_suffix(base) || is_icann_public_suffix(&format!("a.{base}"))) {
        out.push(finding(
            ids::NAME_WILDCARD_ON_PUBLIC_SUFFIX,
            "wildcard directly over a public suffix (BR 3.2.2.6)",
        ));
    }
}

/// RFC 5890 2.3.1: "--" in the third and fourth positions makes a Reserved LDH Label;
/// the only ones a name may hold are XN-Labels (`xn--`, checked as A-labels separately).
fn is_reserved_ldh_label(label: &str) -> bool {
    label.get(2..4) == Some("--")
        && !label
            .get(..4)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("xn--"))
}

fn is_valid_a_label(label: &str, encoded: &str) -> bool {
    let Some(decoded) = idna::punycode::decode_to_string(encoded) else {
        return false;
    };
    // An A-label is valid when UTS #46 (non-transitional, STD3 rules, hyphen checks)
    // maps its U-label back to exactly the same A-label.
    if decoded.is_empty() || decoded.is_ascii() {
        return false;
    }
    match idna::domain_to_ascii_strict(&decoded) {
        Ok(round_trip) => round_trip == label,
        Err(_) => false,
    }
}

fn is_internal(name: &str) -> bool {
    let Some((_, tld)) = name.rsplit_once('.') else {
        // A single label is never a public name.
        return true;
    };
    if name.ends_with(".in-addr.arpa") || name.ends_with(".ip6.arpa") {
        return true;
    }
    match psl::suffix(tld.as_bytes()) {
        Some(suffix) => !(suffix.is_known() && suffix.typ() == Some(psl::Type::Icann)),
        None => true,
    }
}

/// True when `name` itself is a public suffix in the ICANN section of the PSL.
fn is_icann_public_suffix(name: &str) -> bool {
    match psl::suffix(name.as_bytes()) {
        Some(suffix) => {
            suffix.is_known()
                && suffix.typ() == Some(psl::Type::Icann)
                && suffix.as_bytes() == name.as_bytes()
        }
        None => false,
    }
}

/// An IANA special-purpose or otherwise non-public range.
struct Reserved<A> {
    network: A,
    prefix_len: u32,
    what: &'static str,
    source: &'static str,
}

/// IANA IPv4 Special-Purpose Address Registry (RFC 6890), plus multicast and the
/// former class E space. None of these can be validated for a public certificate.
const RESERVED_V4: &[Reserved<u32>] = &[
    v4([0, 0, 0, 0], 8, "\"this network\"", "RFC 791 §3.2"),
    v4([10, 0, 0, 0], 8, "private use", "RFC 1918"),
    v4(
        [100, 64, 0, 0],
        10,
        "shared address space (CGN)",
        "RFC 6598",
    ),
    v4([127, 0, 0, 0], 8, "loopback", "RFC 1122 §3.2.1.3"),
    v4([169, 254, 0, 0], 16, "link-local", "RFC 3927"),
    v4([172, 16, 0, 0], 12, "private use", "RFC 1918"),
    v4(
        [192, 0, 0, 0],
        24,
        "IETF protocol assignments",
        "RFC 6890 §2.1",
    ),
    v4([192, 0, 2, 0], 24, "documentation (TEST-NET-1)", "RFC 5737"),
    v4([192, 31, 196, 0], 24, "AS112-v4", "RFC 7535"),
    v4([192, 52, 193, 0], 24, "AMT", "RFC 7450"),
    v4(
        [192, 88, 99, 0],
        24,
        "deprecated 6to4 relay anycast",
        "RFC 7526",
    ),
    v4([192, 168, 0, 0], 16, "private use", "RFC 1918"),
    v4(
        [192, 175, 48, 0],
        24,
        "direct delegation AS112 service",
        "RFC 7534",
    ),
    v4([198, 18, 0, 0], 15, "benchmarking", "RFC 2544"),
    v4(
        [198, 51, 100, 0],
        24,
        "documentation (TEST-NET-2)",
        "RFC 5737",
    ),
    v4(
        [203, 0, 113, 0],
        24,
        "documentation (TEST-NET-3)",
        "RFC 5737",
    ),
    v4([224, 0, 0, 0], 4, "multicast", "RFC 5771"),
    v4(
        [240, 0, 0, 0],
        4,
        "reserved (former class E)",
        "RFC 1112 §4",
    ),
    v4(
        [255, 255, 255, 255],
        32,
        "limited broadcast",
        "RFC 919 §7, RFC 8190",
    ),
];

const fn v4(
    octets: [u8; 4],
    prefix_len: u32,
    what: &'static str,
    source: &'static str,
) -> Reserved<u32> {
    Reserved {
        network: u32::from_be_bytes(octets),
        prefix_len,
        what,
        source,
    }
}

/// IANA IPv6 Special-Purpose Address Registry (RFC 6890), plus link-local, multicast
/// and everything outside 2000::/3 (the only block IANA allocates for global unicast,
/// RFC 4291 §2.4 and the IANA IPv6 Address Space registry).
const RESERVED_V6: &[Reserved<u128>] = &[
    v6(
        0x0000_0000_0000_0000_0000_0000_0000_0000,
        128,
        "unspecified",
        "RFC 4291 §2.5.2",
    ),
    v6(
        0x0000_0000_0000_0000_0000_0000_0000_0001,
        128,
        "loopback",
        "RFC 4291 §2.5.3",
    ),
    v6(
        0x0000_0000_0000_0000_0000_ffff_0000_0000,
        96,
        "IPv4-mapped",
        "RFC 4291 §2.5.5.2",
    ),
    v6(
        0x0064_ff9b_0000_0000_0000_0000_0000_0000,
        96,
        "IPv4/IPv6 translation",
        "RFC 6052",
    ),
    v6(
        0x0064_ff9b_0001_0000_0000_0000_0000_0000,
        48,
        "local-use IPv4/IPv6 translation",
        "RFC 8215",
    ),
    v6(
        0x0100_0000_0000_0000_0000_0000_0000_0000,
        64,
        "discard-only",
        "RFC 6666",
    ),
    v6(
        0x2001_0000_0000_0000_0000_0000_0000_0000,
        23,
        "IETF protocol assignments (incl. Teredo, benchmarking, ORCHIDv2)",
        "RFC 2928",
    ),
    v6(
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        "documentation",
        "RFC 3849",
    ),
    v6(
        0x2002_0000_0000_0000_0000_0000_0000_0000,
        16,
        "6to4",
        "RFC 3056",
    ),
    v6(
        0x2620_004f_8000_0000_0000_0000_0000_0000,
        48,
        "direct delegation AS112 service",
        "RFC 7534",
    ),
    v6(
        0x3fff_0000_0000_0000_0000_0000_0000_0000,
        20,
        "documentation",
        "RFC 9637",
    ),
    v6(
        0x5f00_0000_0000_0000_0000_0000_0000_0000,
        16,
        "segment routing (SRv6) SIDs",
        "RFC 9602",
    ),
    v6(
        0xfc00_0000_0000_0000_0000_0000_0000_0000,
        7,
        "unique local",
        "RFC 4193",
    ),
    v6(
        0xfe80_0000_0000_0000_0000_0000_0000_0000,
        10,
        "link-local",
        "RFC 4291 §2.5.6",
    ),
    v6(
        0xff00_0000_0000_0000_0000_0000_0000_0000,
        8,
        "multicast",
        "RFC 4291 §2.7",
    ),
];

const fn v6(
    network: u128,
    prefix_len: u32,
    what: &'static str,
    source: &'static str,
) -> Reserved<u128> {
    Reserved {
        network,
        prefix_len,
        what,
        source,
    }
}

fn in_prefix_v4(address: u32, range: &Reserved<u32>) -> bool {
    let mask = u32::MAX.checked_shl(32 - range.prefix_len).unwrap_or(0);
    address & mask == range.network & mask
}

fn in_prefix_v6(address: u128, range: &Reserved<u128>) -> bool {
    let mask = u128::MAX.checked_shl(128 - range.prefix_len).unwrap_or(0);
    address & mask == range.network & mask
}

/// The reserved range an address falls in: `(what, source)`, or `None` when public.
pub(crate) fn reserved_range(ip: IpAddr) -> Option<(&'static str, &'static str)> {
    match ip {
        IpAddr::V4(v4) => reserved_v4(v4),
        IpAddr::V6(v6) => reserved_v6(v6),
    }
}

fn reserved_v4(ip: Ipv4Addr) -> Option<(&'static str, &'static str)> {
    let address = u32::from(ip);
    RESERVED_V4
        .iter()
        .find(|range| in_prefix_v4(address, range))
        .map(|range| (range.what, range.source))
}

fn reserved_v6(ip: Ipv6Addr) -> Option<(&'static str, &'static str)> {
    let address = u128::from(ip);
    if let Some(range) = RESERVED_V6
        .iter()
        .find(|range| in_prefix_v6(address, range))
    {
        return Some((range.what, range.source));
    }
    if address >> 125 != 0b001 {
        return Some(("outside 2000::/3 global unicast", "RFC 4291 §2.4"));
    }
    None
}

fn check_ip(ip: IpAddr, out: &mut Vec<Finding>) {
    if let Some((what, source)) = reserved_range(ip) {
        out.push(
            Finding::new(
                ids::NAME_IP_RESERVED,
                format!("reserved IP address: {what} ({source}); BR 7.1.2.7.12"),
            )
            .with_value(ip.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_prefixes_have_no_host_bits() {
        for range in RESERVED_V4 {
            assert!(in_prefix_v4(range.network, range), "{}", range.what);
            let mask = u32::MAX.checked_shl(32 - range.prefix_len).unwrap_or(0);
            assert_eq!(range.network & !mask, 0, "{}", range.what);
        }
        for range in RESERVED_V6 {
            let mask = u128::MAX.checked_shl(128 - range.prefix_len).unwrap_or(0);
            assert_eq!(range.network & !mask, 0, "{}", range.what);
        }
    }

    #[test]
    fn reserved_edges() {
        let reserved = |s: &str| reserved_range(s.parse().unwrap()).is_some();
        assert!(reserved("10.255.255.255"));
        assert!(!reserved("11.0.0.0"));
        assert!(reserved("172.31.255.255"));
        assert!(!reserved("172.32.0.0"));
        assert!(reserved("100.127.255.255"));
        assert!(!reserved("100.128.0.0"));
        assert!(reserved("255.255.255.255"));
        assert!(!reserved("8.8.8.8"));
        assert!(!reserved("1.1.1.1"));
        assert!(reserved("::1"));
        assert!(reserved("fe80::1"));
        assert!(reserved("fd00::1"));
        assert!(reserved("2001:db8::1"));
        assert!(reserved("::ffff:8.8.8.8"));
        assert!(!reserved("2606:4700:4700::1111"));
        assert!(!reserved("2001:4860:4860::8888"));
    }
}
