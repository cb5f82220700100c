//! Findings and the report that lists them.

use std::fmt;

/// How serious a finding is.
///
/// `Error` means "do not proceed" (the report is not accepted); `Warning` and `Notice`
/// never block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Severity {
    /// The CSR or name must not be used.
    Error,
    /// Allowed, but worth telling the customer about.
    Warning,
    /// Informational only.
    Notice,
}

impl Severity {
    /// `"error"`, `"warning"` or `"notice"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Notice => "notice",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stable finding ids. Hosts may match on these strings; they never change meaning.
pub mod ids {
    use super::Severity;

    /// Input is not a decodable PKCS#10 CSR (also present whenever nothing was decoded).
    pub const CSR_MALFORMED: &str = "csr.malformed";
    /// Input is larger than 64 KiB and was refused before parsing.
    pub const CSR_TOO_LARGE: &str = "csr.too_large";
    /// The self-signature does not verify with the CSR's own public key.
    pub const CSR_SIGNATURE_INVALID: &str = "csr.signature_invalid";
    /// The CSR is signed with SHA-1 or MD5 (or another broken digest).
    pub const CSR_SIGNATURE_ALGORITHM_WEAK: &str = "csr.signature_algorithm_weak";

    /// RSA modulus below 2048 bits (BR 6.1.5).
    pub const KEY_RSA_MODULUS_TOO_SMALL: &str = "key.rsa.modulus_too_small";
    /// RSA modulus above 16384 bits: refused before any arithmetic (resource limit).
    pub const KEY_RSA_MODULUS_TOO_LARGE: &str = "key.rsa.modulus_too_large";
    /// RSA modulus size not divisible by 8 (BR 6.1.5).
    pub const KEY_RSA_MODULUS_NOT_MULTIPLE_OF_8: &str = "key.rsa.modulus_not_multiple_of_8";
    /// RSA public exponent even, below 3, or not below the modulus (BR 6.1.6).
    pub const KEY_RSA_EXPONENT_INVALID: &str = "key.rsa.exponent_invalid";
    /// RSA public exponent odd and at least 3 but outside 2^16+1 ..= 2^256-1 (BR 6.1.6).
    pub const KEY_RSA_EXPONENT_OUT_OF_RANGE: &str = "key.rsa.exponent_out_of_range";
    /// RSA modulus has a prime factor below 752 (BR 6.1.6).
    pub const KEY_RSA_SMALL_FACTOR: &str = "key.rsa.small_factor";
    /// Fermat's method factors the modulus within 100 rounds (BR 6.1.1.3).
    pub const KEY_RSA_FERMAT_FACTORABLE: &str = "key.rsa.fermat_factorable";
    /// The modulus carries the ROCA (Infineon RSALib, CVE-2017-15361) fingerprint (BR 6.1.1.3).
    pub const KEY_RSA_ROCA: &str = "key.rsa.roca";
    /// The modulus is on the host-supplied Debian weak-key list (CVE-2008-0166, BR 6.1.1.3).
    pub const KEY_RSA_DEBIAN_WEAK: &str = "key.rsa.debian_weak";
    /// EC key on a curve other than P-256, P-384, P-521 (BR 6.1.5).
    pub const KEY_EC_CURVE_NOT_ALLOWED: &str = "key.ec.curve_not_allowed";
    /// EC public point malformed, not on the curve, or the identity (BR 6.1.6).
    pub const KEY_EC_POINT_INVALID: &str = "key.ec.point_invalid";
    /// Key algorithm other than RSA or ECDSA (Ed25519, DSA, ...) (BR 6.1.5).
    pub const KEY_ALGORITHM_NOT_ALLOWED: &str = "key.algorithm_not_allowed";

    /// No subjectAltName with a DNS name or IP address (BR 7.1.2.7.12).
    pub const NAME_SAN_MISSING: &str = "name.san_missing";
    /// A SAN of a type other than dNSName or iPAddress (BR 7.1.2.7.12).
    pub const NAME_SAN_TYPE_NOT_ALLOWED: &str = "name.san_type_not_allowed";
    /// DNS name not in preferred name syntax (LDH labels, no empty label, no trailing dot).
    pub const NAME_DNS_SYNTAX: &str = "name.dns_syntax";
    /// DNS label over 63 bytes or name over 253 bytes.
    pub const NAME_DNS_TOO_LONG: &str = "name.dns_too_long";
    /// `xn--` label that is not valid punycode or not a valid IDNA2008/UTS #46 A-label.
    pub const NAME_IDN_INVALID: &str = "name.idn_invalid";
    /// Wildcard that is not the whole leftmost label (BR 7.1.2.7.12).
    pub const NAME_WILDCARD_NOT_LEFTMOST: &str = "name.wildcard_not_leftmost";
    /// Wildcard directly over an ICANN public suffix (BR 3.2.2.6).
    pub const NAME_WILDCARD_ON_PUBLIC_SUFFIX: &str = "name.wildcard_on_public_suffix";
    /// Internal name: not under an ICANN TLD, single label, or a reverse zone (BR 7.1.2.7.12).
    pub const NAME_INTERNAL: &str = "name.internal";
    /// IP address in an IANA special-purpose (reserved) range (BR 7.1.2.7.12).
    pub const NAME_IP_RESERVED: &str = "name.ip_reserved";
    /// Subject commonName that is not one of the SAN values (BR 7.1.4.3).
    pub const NAME_CN_NOT_IN_SAN: &str = "name.cn_not_in_san";
    /// The same name appears more than once.
    pub const NAME_DUPLICATE: &str = "name.duplicate";
    /// The subject carries an organizationalUnitName (forbidden since ballot SC47v2, BR 7.1.4.2).
    pub const SUBJECT_OU_PRESENT: &str = "subject.ou_present";

    /// Every id with its severity, in documentation order.
    pub const ALL: &[(&str, Severity)] = &[
        (CSR_MALFORMED, Severity::Error),
        (CSR_TOO_LARGE, Severity::Error),
        (CSR_SIGNATURE_INVALID, Severity::Error),
        (CSR_SIGNATURE_ALGORITHM_WEAK, Severity::Error),
        (KEY_RSA_MODULUS_TOO_SMALL, Severity::Error),
        (KEY_RSA_MODULUS_TOO_LARGE, Severity::Error),
        (KEY_RSA_MODULUS_NOT_MULTIPLE_OF_8, Severity::Error),
        (KEY_RSA_EXPONENT_INVALID, Severity::Error),
        (KEY_RSA_EXPONENT_OUT_OF_RANGE, Severity::Warning),
        (KEY_RSA_SMALL_FACTOR, Severity::Error),
        (KEY_RSA_FERMAT_FACTORABLE, Severity::Error),
        (KEY_RSA_ROCA, Severity::Error),
        (KEY_RSA_DEBIAN_WEAK, Severity::Error),
        (KEY_EC_CURVE_NOT_ALLOWED, Severity::Error),
        (KEY_EC_POINT_INVALID, Severity::Error),
        (KEY_ALGORITHM_NOT_ALLOWED, Severity::Error),
        (NAME_SAN_MISSING, Severity::Error),
        (NAME_SAN_TYPE_NOT_ALLOWED, Severity::Error),
        (NAME_DNS_SYNTAX, Severity::Error),
        (NAME_DNS_TOO_LONG, Severity::Error),
        (NAME_IDN_INVALID, Severity::Error),
        (NAME_WILDCARD_NOT_LEFTMOST, Severity::Error),
        (NAME_WILDCARD_ON_PUBLIC_SUFFIX, Severity::Error),
        (NAME_INTERNAL, Severity::Error),
        (NAME_IP_RESERVED, Severity::Error),
        (NAME_CN_NOT_IN_SAN, Severity::Error),
        (NAME_DUPLICATE, Severity::Warning),
        (SUBJECT_OU_PRESENT, Severity::Warning),
    ];

    /// The severity every finding with this id carries (`None` for an unknown id).
    #[must_use]
    pub fn severity_of(id: &str) -> Option<Severity> {
        ALL.iter().find(|(known, _)| *known == id).map(|(_, s)| *s)
    }
}

/// One thing the checker found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Finding {
    /// Stable id, one of [`ids`] (for example `"key.rsa.modulus_too_small"`).
    pub id: &'static str,
    /// Error, warning or notice; fixed per id.
    pub severity: Severity,
    /// Human-readable explanation (English).
    pub message: String,
    /// The offending value where one applies (a name, an address, a size).
    pub value: Option<String>,
}

impl Finding {
    pub(crate) fn new(id: &'static str, message: impl Into<String>) -> Self {
        Self {
            id,
            severity: ids::severity_of(id).unwrap_or(Severity::Error),
            message: message.into(),
            value: None,
        }
    }

    pub(crate) fn with_value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }
}

/// The outcome of a check: every finding (not only the first) and, when the input could
/// be decoded, what was read from it.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Report {
    accepted: bool,
    findings: Vec<Finding>,
    csr: Option<crate::CheckedCsr>,
}

impl Report {
    pub(crate) fn new(findings: Vec<Finding>, csr: Option<crate::CheckedCsr>) -> Self {
        let accepted = !findings.iter().any(|f| f.severity == Severity::Error);
        Self {
            accepted,
            findings,
            csr,
        }
    }

    /// True when no finding has error severity (warnings and notices do not block).
    #[must_use]
    pub fn accepted(&self) -> bool {
        self.accepted
    }

    /// Every finding, in the order the checks ran.
    #[must_use]
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// True when a finding with this id is present.
    #[must_use]
    pub fn has(&self, id: &str) -> bool {
        self.findings.iter().any(|f| f.id == id)
    }

    /// What was decoded from the CSR, present whenever the CSR could be parsed, even if
    /// findings reject it. Use [`Report::accepted_csr`] to get it only when accepted.
    #[must_use]
    pub fn csr(&self) -> Option<&crate::CheckedCsr> {
        self.csr.as_ref()
    }

    /// The decoded CSR, only when the report is accepted (no error finding).
    #[must_use]
    pub fn accepted_csr(&self) -> Option<&crate::CheckedCsr> {
        if self.accepted {
            self.csr.as_ref()
        } else {
            None
        }
    }
}
