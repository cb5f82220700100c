//! Property tests: valid DNS names are accepted; each rule-breaking mutation is caught by
//! the right id; no input makes the CSR checker panic.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

use std::path::Path;

use autocsr_policy::{check_csr, check_names, ids};
use proptest::prelude::*;

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]",
        "[a-z0-9][a-z0-9-]{0,20}[a-z0-9]",
        "[a-z0-9][a-z0-9-]{40,61}[a-z0-9]",
    ]
    // "--" in positions 3-4 makes a reserved LDH label (RFC 5890), valid only as xn--.
    .prop_filter("not a reserved LDH label", |label| {
        label.get(2..4) != Some("--")
    })
}

fn suffix() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "com", "org", "net", "de", "co.uk", "io", "dev", "com.au", "xn--p1ai",
    ])
}

/// Valid public DNS names: 1-3 LDH labels under an ICANN suffix, at most 253 bytes.
fn valid_name() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..4), suffix())
        .prop_map(|(labels, suffix)| format!("{}.{suffix}", labels.join(".")))
        .prop_filter("at most 253 bytes", |name| name.len() <= 253)
        // "xn--" is an IDN prefix; a random label starting with it is not a valid A-label.
        .prop_filter("no accidental A-label", |name| {
            !name
                .split('.')
                .any(|l| l.starts_with("xn--") && l != "xn--p1ai")
        })
}

proptest! {
    #[test]
    fn valid_names_are_accepted(name in valid_name(), wildcard in any::<bool>()) {
        let name = if wildcard { format!("*.{name}") } else { name };
        prop_assume!(name.len() <= 253);
        let report = check_names(&[&name], Some(&name));
        prop_assert!(report.accepted(), "{name}: {:?}", report.findings());
        prop_assert!(report.findings().is_empty(), "{name}: {:?}", report.findings());
    }

    #[test]
    fn forbidden_character_is_dns_syntax(name in valid_name(), bad in prop::sample::select(vec!['_', '!', ' ', '/', 'é', '@']), at in any::<prop::sample::Index>()) {
        let first = name.split('.').next().unwrap();
        let position = at.index(first.len() + 1);
        let mut mutated = name.clone();
        mutated.insert(position, bad);
        let report = check_names(&[&mutated], None);
        prop_assert!(report.has(ids::NAME_DNS_SYNTAX), "{mutated}: {:?}", report.findings());
    }

    #[test]
    fn empty_label_or_trailing_dot_is_dns_syntax(name in valid_name(), trailing in any::<bool>()) {
        let mutated = if trailing { format!("{name}.") } else { format!("a..{name}") };
        prop_assert!(check_names(&[&mutated], None).has(ids::NAME_DNS_SYNTAX));
    }

    #[test]
    fn hyphen_at_label_edge_is_dns_syntax(name in valid_name(), leading in any::<bool>()) {
        let mutated = if leading { format!("-{name}") } else { format!("a-.{name}") };
        prop_assert!(check_names(&[&mutated], None).has(ids::NAME_DNS_SYNTAX));
    }

    #[test]
    fn long_label_is_dns_too_long(name in valid_name(), extra in 64usize..80) {
        let mutated = format!("{}.{name}", "a".repeat(extra));
        prop_assert!(check_names(&[&mutated], None).has(ids::NAME_DNS_TOO_LONG));
    }

    #[test]
    fn inner_wildcard_is_not_leftmost(name in valid_name(), partial in any::<bool>()) {
        let mutated = if partial { format!("f*o.{name}") } else { format!("www.*.{name}") };
        prop_assert!(check_names(&[&mutated], None).has(ids::NAME_WILDCARD_NOT_LEFTMOST));
    }

    #[test]
    fn non_icann_tld_is_internal(labels in prop::collection::vec(label(), 1..3), tld in prop::sample::select(vec!["local", "internal", "corp", "home", "lan", "localdomain", "test", "invalid"])) {
        let mutated = format!("{}.{tld}", labels.join("."));
        prop_assert!(check_names(&[&mutated], None).has(ids::NAME_INTERNAL));
    }

    #[test]
    fn private_ipv4_is_reserved(b in any::<u8>(), c in any::<u8>(), d in any::<u8>()) {
        let ip = format!("10.{b}.{c}.{d}");
        prop_assert!(check_names(&[&ip], None).has(ids::NAME_IP_RESERVED));
    }

    #[test]
    fn duplicate_in_any_case_is_a_warning(name in valid_name()) {
        let upper = name.to_ascii_uppercase();
        let report = check_names(&[&name, &upper], None);
        prop_assert!(report.has(ids::NAME_DUPLICATE));
        prop_assert!(report.accepted());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let report = check_csr(&bytes);
        prop_assert!(!report.accepted() || report.csr().is_some());
    }

    #[test]
    fn bit_flips_in_a_good_csr_never_panic_and_never_pass_silently(index in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut der = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/extra/good-rsa-2048-sha256.der")).unwrap();
        let at = index.index(der.len());
        der[at] ^= 1 << bit;
        let report = check_csr(&der);
        // A flipped bit either breaks the encoding or the signature, or (in a few
        // DER-irrelevant spots, like a tag class bit the parser ignores) is caught anyway.
        if report.accepted() {
            let original = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/extra/good-rsa-2048-sha256.der")).unwrap();
            prop_assert!(false, "flip at byte {at} bit {bit} accepted (len {} vs {})", der.len(), original.len());
        }
    }
}
