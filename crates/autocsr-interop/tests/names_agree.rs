//! The two name checks agree: autocsr-policy judges the names of an order before anything
//! is generated, autocsr-keygen checks them again before it signs. A name the policy
//! accepts must never make keygen fail (the order would die after the policy said yes),
//! and so every name keygen refuses must carry an error finding from the policy.
//!
//! The names are checked as the pipeline passes them: the name as a SAN, and as the
//! common name when it fits in 64 characters (`OrderRequest::common_name`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "property test helpers: a failed expectation is the point"
)]

use autocsr_keygen::{CsrRequest, MAX_COMMON_NAME_LEN};
use autocsr_policy::{Policy, Severity};
use proptest::prelude::*;

/// keygen's verdict on one order name, as `LocalKeygen` builds the request.
fn keygen_verdict(name: &str) -> Result<(), autocsr_keygen::Error> {
    let mut request = CsrRequest::new().name(name);
    if name.chars().count() <= MAX_COMMON_NAME_LEN {
        request = request.common_name(name);
    }
    request.validate()
}

fn check_agreement(name: &str) -> Result<(), TestCaseError> {
    let common_name = (name.chars().count() <= MAX_COMMON_NAME_LEN).then_some(name);
    let report = Policy::default().check_names(&[name], common_name);
    let policy_refuses = report
        .findings()
        .iter()
        .any(|finding| finding.severity == Severity::Error);
    if let Err(err) = keygen_verdict(name) {
        prop_assert!(
            policy_refuses,
            "keygen refuses {name:?} ({err}) but the policy accepts it: {:?}",
            report.findings()
        );
    }
    Ok(())
}

/// Labels that probe each rule of either checker.
fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9]{1,10}",
        2 => "[a-zA-Z0-9-]{1,12}",
        1 => "[a-z0-9]{60,66}",
        1 => "xn--[a-z0-9-]{1,12}",
        1 => "[a-z0-9]{2}--[a-z0-9-]{0,6}",
        1 => prop::sample::select(vec![
            "xn--bcher-kva", "xn--mnchen-3ya", "xn--p1ai", "XN--BCHER-KVA", "xn--", "xn--a",
            "xn--ls8h", "xn--zca", "xn--nxasmq6b", "xn--bcher-kva-", "-a", "a-", "a_b", "*",
            "ü", "bücher", "", " ", "a b", "0", "123",
        ])
        .prop_map(str::to_owned),
    ]
}

fn suffix() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "com",
        "org",
        "de",
        "co.uk",
        "xn--p1ai",
        "app",
        "blogspot.com",
        "example",
        "local",
        "internal",
        "123",
        "com.",
        "in-addr.arpa",
        "ck",
        "kawasaki.jp",
        "COM",
        "xn--zz",
    ])
    .prop_map(str::to_owned)
}

fn dns_name() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        proptest::collection::vec(label(), 0..5),
        suffix(),
        any::<bool>(),
    )
        .prop_map(|(wildcard, labels, suffix, upper)| {
            let mut parts = labels;
            parts.push(suffix);
            let mut name = parts.join(".");
            if wildcard {
                name.insert_str(0, "*.");
            }
            if upper {
                name = name.to_ascii_uppercase();
            }
            name
        })
}

fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => dns_name(),
        1 => any::<std::net::Ipv4Addr>().prop_map(|ip| ip.to_string()),
        1 => any::<std::net::Ipv6Addr>().prop_map(|ip| ip.to_string()),
        1 => "[ -~]{0,24}",
        1 => "\\PC{0,12}",
        // Around the length limits: 63-byte labels up to about 256 bytes.
        1 => (1usize..5, 55usize..64).prop_map(|(count, len)| {
            let mut labels = vec!["a".repeat(len); count];
            labels.push("com".to_owned());
            labels.join(".")
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn every_name_keygen_refuses_is_refused_by_the_policy(name in any_name()) {
        check_agreement(&name)?;
    }
}

/// The names that once disagreed, and the edges of each rule, as fixed cases.
#[test]
fn known_edges_agree() {
    let label = "a".repeat(63);
    for name in [
        "ab--cd.example.com",
        "xn--bcher-kva.example.com",
        "XN--BCHER-KVA.example.com",
        "xn--bcher-kvb.example.com",
        "*.example.com",
        "*.com",
        "example.123",
        "1.2.3.4",
        "01.2.3.4",
        "2001:db8::1",
        "8.8.8.8",
        "fe80::1%eth0",
        &format!("{label}.{label}.{label}.{}", "a".repeat(57)),
        &format!("{label}.{label}.{label}.{}.com", "a".repeat(57)),
        &format!("{}.example.com", "a".repeat(53)),
    ] {
        check_agreement(name).unwrap();
    }
}
