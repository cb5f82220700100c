#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod check;
mod finding;
mod intake;
mod names;
pub mod weak;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

pub use finding::{Finding, Report, Severity, ids};
pub use intake::MAX_INPUT_LEN;
pub use weak::{DebianWeakKeys, RsaBlocklist};

/// Errors of this crate. Checks never fail: they return a [`Report`]; only building the
/// configuration (parsing a host-supplied list) can.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line of a weak-key blocklist is not 20 hexadecimal digits (1-based line number).
    #[error("weak-key blocklist line {line} is not 20 hexadecimal digits")]
    BlocklistSyntax {
        /// 1-based line number of the first bad line.
        line: usize,
    },
}

/// What was read from a CSR that could be decoded (whatever the findings say).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CheckedCsr {
    names: Vec<String>,
    dns_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    common_name: Option<String>,
    public_key: String,
    signature_algorithm: String,
    #[cfg_attr(feature = "serde", serde(serialize_with = "serialize_hex"))]
    spki_sha256: [u8; 32],
    #[cfg_attr(feature = "serde", serde(skip))]
    spki_der: Vec<u8>,
}

#[cfg(feature = "serde")]
fn serialize_hex<S: serde::Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex_lower(bytes))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl CheckedCsr {
    /// Every SAN value in request order: DNS names as written, IP addresses as text.
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The dNSName SANs, as written.
    #[must_use]
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// The iPAddress SANs.
    #[must_use]
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.ip_addresses
    }

    /// The (first) subject commonName, if any.
    #[must_use]
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// Key summary: `rsa2048`, `rsa3072`, `p256`, `p384`, `p521`, or for refused keys
    /// `ed25519`, `dsa`, `ec-<curve oid>`, `oid-<algorithm oid>`.
    #[must_use]
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// Signature algorithm, e.g. `sha256WithRSAEncryption`, `ecdsa-with-SHA384`,
    /// `RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32)`.
    #[must_use]
    pub fn signature_algorithm(&self) -> &str {
        &self.signature_algorithm
    }

    /// SHA-256 over the DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn spki_sha256(&self) -> [u8; 32] {
        self.spki_sha256
    }

    /// [`CheckedCsr::spki_sha256`] in lowercase hex.
    #[must_use]
    pub fn spki_sha256_hex(&self) -> String {
        hex_lower(&self.spki_sha256)
    }

    /// The DER SubjectPublicKeyInfo (public data).
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }
}

/// The checker's configuration. `Policy::default()` applies every rule of the crate
/// README; the only option is a host-supplied RSA blocklist (the crate ships none).
///
/// # Examples
///
/// A host with the Debian weak-key list (the `openssl-blacklist` files) adds it once:
///
/// ```
/// use std::sync::Arc;
/// use autocsr_policy::{DebianWeakKeys, Policy, ids};
///
/// let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
/// let list = std::fs::read_to_string(format!("{data}/debian-weak-keys/blacklist.RSA-2048"))?;
/// let policy = Policy::new().with_rsa_blocklist(Arc::new(DebianWeakKeys::parse(&list)?));
///
/// let weak_csr = std::fs::read(format!("{data}/csr/bad-key-debian-weak.pem"))?;
/// let report = policy.check_csr(&weak_csr);
/// assert!(!report.accepted());
/// assert!(report.has(ids::KEY_RSA_DEBIAN_WEAK));
/// // The default policy ships no list, so it cannot know this key.
/// assert!(!Policy::default().check_csr(&weak_csr).has(ids::KEY_RSA_DEBIAN_WEAK));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Policy {
    rsa_blocklist: Option<Arc<dyn RsaBlocklist>>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("rsa_blocklist", &self.rsa_blocklist)
            .finish()
    }
}

impl Policy {
    /// The default policy (same as `Policy::default()`).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a blocklist of RSA moduli (e.g. [`DebianWeakKeys`]): keys on it raise
    /// `key.rsa.debian_weak`.
    #[must_use]
    pub fn with_rsa_blocklist(mut self, blocklist: Arc<dyn RsaBlocklist>) -> Self {
        self.rsa_blocklist = Some(blocklist);
        self
    }

    pub(crate) fn rsa_blocklist(&self) -> Option<&dyn RsaBlocklist> {
        self.rsa_blocklist.as_deref()
    }

    /// Checks a customer CSR: PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`,
    /// surrounding text ignored, exactly one block) or DER. Inputs over
    /// [`MAX_INPUT_LEN`] are refused before parsing. Never panics: every problem,
    /// including undecodable input, is a finding in the report.
    #[must_use]
    pub fn check_csr(&self, input: &[u8]) -> Report {
        check::check_csr(self, input)
    }

    /// Checks a bare SubjectPublicKeyInfo (DER or PEM `PUBLIC KEY`) against the key rules
    /// only (size, exponent, weak keys, curve, algorithm).
    #[must_use]
    pub fn check_public_key(&self, input: &[u8]) -> Report {
        check::check_public_key(self, input)
    }

    /// Checks the names of an order that has no CSR yet. Each entry is a DNS name or an
    /// IP literal (`192.0.2.1`, `2001:db8::1`); `common_name`, if given, must be one of
    /// them. The report carries no [`CheckedCsr`].
    #[must_use]
    pub fn check_names(&self, names: &[&str], common_name: Option<&str>) -> Report {
        let parsed: Vec<names::SubjectName> = names
            .iter()
            .map(|name| names::parse_text_name(name))
            .collect();
        let common_names: Vec<String> = common_name.map(str::to_owned).into_iter().collect();
        let mut findings = Vec::new();
        names::check_names(&parsed, &common_names, &mut findings);
        Report::new(findings, None)
    }
}

/// [`Policy::check_csr`] with the default policy.
///
/// # Examples
///
/// ```
/// use autocsr_policy::{Severity, check_csr, ids};
///
/// let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/csr");
/// let report = check_csr(&std::fs::read(format!("{data}/good-ecdsa-p256-sha256.pem"))?);
/// assert!(report.accepted());
/// let csr = report.accepted_csr().ok_or("accepted, so decoded")?;
/// assert_eq!(csr.names(), ["ec256.example.com"]);
/// assert_eq!(csr.public_key(), "p256");
/// assert_eq!(csr.signature_algorithm(), "ecdsa-with-SHA256");
///
/// // Every problem is a finding with a stable id; garbage is one too, never a panic.
/// let report = check_csr(&std::fs::read(format!("{data}/bad-key-rsa-1024.pem"))?);
/// assert!(!report.accepted());
/// assert!(report.has(ids::KEY_RSA_MODULUS_TOO_SMALL));
/// let report = check_csr(b"not a CSR");
/// assert_eq!(report.findings()[0].id, ids::CSR_MALFORMED);
/// assert_eq!(report.findings()[0].severity, Severity::Error);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn check_csr(input: &[u8]) -> Report {
    Policy::default().check_csr(input)
}

/// [`Policy::check_names`] with the default policy.
///
/// # Examples
///
/// ```
/// use autocsr_policy::{check_names, ids};
///
/// let report = check_names(&["example.com", "*.example.com"], Some("example.com"));
/// assert!(report.accepted());
/// assert!(report.csr().is_none());
///
/// // A documentation address, a wildcard on a public suffix, an internal name:
/// for (name, id) in [
///     ("192.0.2.1", ids::NAME_IP_RESERVED),
///     ("*.co.uk", ids::NAME_WILDCARD_ON_PUBLIC_SUFFIX),
///     ("server.local", ids::NAME_INTERNAL),
/// ] {
///     let report = check_names(&[name], None);
///     assert!(!report.accepted(), "{name}");
///     assert!(report.has(id), "{name}: {:?}", report.findings());
/// }
/// ```
#[must_use]
pub fn check_names(names: &[&str], common_name: Option<&str>) -> Report {
    Policy::default().check_names(names, common_name)
}

/// One entry point that sends untrusted bytes through every parser and rule of the
/// crate; the `csr_check` fuzz target and the corpus replay test both call it. Only with
/// the `_fuzzing` feature: not part of the API.
#[cfg(feature = "_fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use std::sync::Arc;

    use crate::{DebianWeakKeys, Policy, Report};

    /// Runs `input` through CSR intake and every rule (with an RSA blocklist installed,
    /// so that path runs too), through the SPKI key checker, and, when it is UTF-8,
    /// through the name rules as a comma-separated name list whose first entry is also
    /// the common name. Returns the three reports.
    #[must_use]
    pub fn check_everything(input: &[u8]) -> [Report; 3] {
        let policy = Policy::default().with_rsa_blocklist(Arc::new(DebianWeakKeys::new()));
        let names = match std::str::from_utf8(input) {
            Ok(text) => {
                let names: Vec<&str> = text.split(',').collect();
                policy.check_names(&names, names.first().copied())
            }
            Err(_) => Report::default(),
        };
        [
            policy.check_csr(input),
            policy.check_public_key(input),
            names,
        ]
    }
}
