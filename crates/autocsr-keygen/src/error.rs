//! The crate's one error type.

/// Everything this crate refuses or fails at.
///
/// Cryptographic failures stay opaque (no detail about which byte or padding was wrong);
/// input that breaks a syntax rule names the offending value, which is never secret (DNS
/// names, subject attributes, algorithm names). No variant ever carries key material or a
/// passphrase.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The random number generator failed (the OS CSPRNG or the caller's).
    #[error("the random number generator failed")]
    Rng,

    /// Key generation failed inside the cryptographic library.
    #[error("key generation failed")]
    KeyGeneration,

    /// An algorithm name is not one of `rsa2048`, `rsa3072`, `rsa4096`, `p256`, `p384`.
    #[error("unknown key algorithm {name:?} (expected rsa2048, rsa3072, rsa4096, p256 or p384)")]
    UnknownAlgorithm {
        /// The name that was given.
        name: String,
    },

    /// A private key could not be encoded (PKCS#8 DER/PEM, SPKI).
    #[error("the key could not be encoded")]
    KeyEncoding,

    /// The input is not a well-formed PKCS#8 private key (or PEM armour around one).
    #[error("the input is not a well-formed PKCS#8 private key")]
    InvalidPrivateKey,

    /// The key is well-formed but is not one this crate offers: only RSA 2048/3072/4096 with
    /// e = 65537, ECDSA P-256 and P-384 (BR 6.1.5).
    #[error("unsupported key: {reason}")]
    UnsupportedKey {
        /// What is wrong with it (algorithm, size or exponent).
        reason: &'static str,
    },

    /// An empty passphrase was given to encrypt or decrypt a key.
    #[error("the passphrase is empty")]
    EmptyPassphrase,

    /// An encrypted PKCS#8 key could not be decrypted: the passphrase is wrong or the data is
    /// corrupt (the two cannot be told apart, by design).
    #[error("the encrypted key could not be decrypted (wrong passphrase or corrupt data)")]
    Decryption,

    /// The encrypted PKCS#8 key uses a scheme this crate does not read (anything other than
    /// PBES2 with scrypt or PBKDF2-HMAC-SHA-2 and AES-CBC).
    #[error("unsupported key encryption scheme")]
    UnsupportedEncryption,

    /// The key-derivation parameters of an encrypted PKCS#8 key are invalid (RFC 7914,
    /// RFC 8018): scrypt N not a power of two of at least 2, r or p zero, zero PBKDF2
    /// iterations. Refused before any derivation is attempted.
    #[error("invalid key-derivation parameters: {reason}")]
    InvalidKeyDerivation {
        /// What is wrong with them.
        reason: &'static str,
    },

    /// An input would cost more than this crate allows (key-derivation work factors of an
    /// encrypted key, the number of SANs).
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// What was too large.
        what: &'static str,
        /// The largest accepted value.
        limit: u64,
    },

    /// The CSR request has no subjectAltName (BR 7.1.2.7.12: at least one is required).
    #[error("at least one DNS name or IP address is required")]
    NoSubjectAltName,

    /// The same name or address was given twice.
    #[error("duplicate subjectAltName {name:?}")]
    DuplicateSubjectAltName {
        /// The repeated name, in its normalised (lower-case) form.
        name: String,
    },

    /// A DNS name is empty.
    #[error("empty DNS name")]
    EmptyDnsName,

    /// A DNS name is longer than 253 bytes.
    #[error("DNS name {name:?} is {len} bytes long; at most 253 are allowed")]
    DnsNameTooLong {
        /// The name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },

    /// A DNS name has an empty label (two dots in a row, a leading dot or a trailing dot).
    #[error("DNS name {name:?} has an empty label")]
    EmptyDnsLabel {
        /// The name.
        name: String,
    },

    /// A label is longer than 63 bytes.
    #[error("DNS label {label:?} is {len} bytes long; at most 63 are allowed")]
    DnsLabelTooLong {
        /// The label.
        label: String,
        /// Its length in bytes.
        len: usize,
    },

    /// A label holds a character other than ASCII letters, digits and `-`, or starts or ends
    /// with `-` (the LDH rule of RFC 1034/5890).
    #[error("DNS label {label:?} is not a letter-digit-hyphen label")]
    InvalidDnsLabel {
        /// The label.
        label: String,
    },

    /// A label holds non-ASCII characters. Convert the name to A-labels first (for example
    /// with [`dns_name_to_ascii`](crate::dns_name_to_ascii)).
    #[error("DNS label {label:?} is not ASCII; convert it to an A-label (xn--...) first")]
    NonAsciiDnsLabel {
        /// The label as given.
        label: String,
    },

    /// A label starting with `xn--` is not a valid A-label, or a label has `--` in the third
    /// and fourth positions without being an A-label (reserved by RFC 5891).
    #[error("DNS label {label:?} is not a valid A-label")]
    InvalidALabel {
        /// The label.
        label: String,
    },

    /// A `*` appears anywhere other than as the whole leftmost label followed by a name.
    #[error("DNS name {name:?} has a misplaced wildcard (only a leading \"*.\" is allowed)")]
    MisplacedWildcard {
        /// The name.
        name: String,
    },

    /// A DNS name's last label is all digits, so it reads as an IP address; give IP
    /// addresses as IP SANs instead.
    #[error("DNS name {name:?} looks like an IP address; give it as an IP address")]
    NumericTopLevelLabel {
        /// The name.
        name: String,
    },

    /// The common name, when given, must equal one of the SANs (BR 7.1.4.3).
    #[error("common name {common_name:?} is not one of the subjectAltNames")]
    CommonNameNotInSubjectAltNames {
        /// The common name.
        common_name: String,
    },

    /// countryName must be two ASCII letters (ISO 3166-1 alpha-2), encoded as PrintableString.
    #[error("country {value:?} is not a two-letter ISO 3166-1 code")]
    InvalidCountry {
        /// The value given.
        value: String,
    },

    /// An organizationName was given without a countryName, or without a localityName or a
    /// stateOrProvinceName: BR 7.1.2.7.4 requires both in an organization-validated subject.
    #[error("an organizationName needs {missing} too (BR 7.1.2.7.4)")]
    IncompleteOrganizationSubject {
        /// What is missing.
        missing: &'static str,
    },

    /// A subject attribute is empty, too long (RFC 5280 upper bounds) or holds control
    /// characters.
    #[error("subject {attribute} is invalid: {reason}")]
    InvalidSubjectAttribute {
        /// Which attribute (`commonName`, `organizationName`, ...).
        attribute: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The signer's public key does not match its declared signature algorithm, or is not a
    /// key this crate signs with.
    #[error("the signer's public key does not match its signature algorithm: {reason}")]
    SignerKeyMismatch {
        /// What does not match.
        reason: &'static str,
    },

    /// The signer failed to produce a signature (an HSM or KMS error, for example).
    #[error("the signer failed")]
    Signing(#[source] signature::Error),

    /// The CSR the signer produced does not verify against the signer's public key: the
    /// signature is wrong, or the signer signed with another key or algorithm.
    #[error("the CSR's self-signature does not verify")]
    SignatureVerification,

    /// The CSR could not be assembled or encoded.
    #[error("the CSR could not be encoded")]
    CsrEncoding,
}

/// Shorthand for `Result<T, autocsr_keygen::Error>`.
pub type Result<T> = core::result::Result<T, Error>;
