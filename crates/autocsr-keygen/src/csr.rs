//! CSR requests and the signed CSR.

use std::collections::HashSet;
use std::net::IpAddr;
use std::str::FromStr;

use der::asn1::{BitString, Ia5String, PrintableStringRef, Utf8StringRef};
use der::pem::LineEnding;
use der::{Any, Decode, Document, Encode};
use signature::{Keypair, Signer, Verifier};
use spki::{
    AlgorithmIdentifierOwned, DecodePublicKey, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    ObjectIdentifier, SignatureBitStringEncoding,
};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::Builder;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::request::{CertReq, RequestBuilder};

use crate::algorithm::{
    ID_EC_PUBLIC_KEY, KeyAlgorithm, RSA_ENCRYPTION, SECP256R1, SECP384R1, SignatureAlgorithm,
};
use crate::error::{Error, Result};
use crate::names::check_dns_name;
use crate::signer::CsrSigner;

/// The most subjectAltNames (DNS names plus IP addresses) one CSR may carry.
pub const MAX_SUBJECT_ALT_NAMES: usize = 100;

/// The longest commonName, in characters: `ub-common-name` (RFC 5280 Appendix A). A valid
/// DNS name can be up to 253 characters, so a longer name goes only into the
/// subjectAltNames, with no commonName (which BR 7.1.2.7.2 and 7.1.2.7.4 make optional).
pub const MAX_COMMON_NAME_LEN: usize = 64;
/// The longest organizationName, in characters (`ub-organization-name`).
const MAX_ORGANIZATION_LEN: usize = 64;
/// The longest localityName and stateOrProvinceName, in characters (`ub-locality-name`,
/// `ub-state-name`).
const MAX_LOCALITY_LEN: usize = 128;

const COUNTRY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const STATE_OR_PROVINCE_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.8");
const LOCALITY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.7");
const ORGANIZATION_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// What a CSR should say: the subject and the subjectAltNames.
///
/// Build it with the chained setters; nothing is checked until [`CsrRequest::validate`] or
/// [`CsrRequest::sign`], which refuse (each with its own [`Error`] variant):
/// - no SAN at all, more than [`MAX_SUBJECT_ALT_NAMES`], a duplicate SAN;
/// - a DNS name that fails [`check_dns_name`](crate::check_dns_name);
/// - a common name that is not one of the SANs (BR 7.1.4.3);
/// - a country that is not two ASCII letters;
/// - an organization without a country, or without a locality or a state (BR 7.1.2.7.4:
///   an organization-validated subject says where the organization is);
/// - an empty attribute, one with control characters, or one over its RFC 5280 upper bound
///   (common name and organization 64 characters, locality and state 128).
///
/// There is deliberately no organizationalUnitName: BR 7.1.4.2 forbids it.
/// DNS names are normalised to lower case; the country to upper case. The country is
/// encoded as a PrintableString, every other attribute as a UTF8String (RFC 5280 4.1.2.6,
/// BR 7.1.4.1).
///
/// # Examples
///
/// ```
/// use autocsr_keygen::{CsrRequest, Error, KeyAlgorithm, PrivateKey};
///
/// let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
/// let csr = CsrRequest::new()
///     .common_name("www.example.com")
///     .dns_names(["www.example.com", "Example.COM"])
///     .sign(&key)?;
/// assert!(csr.to_pem().starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
/// // The request was validated before anything was signed:
/// let refused = CsrRequest::new().dns_name("www.example.com").organization("Example Ltd");
/// assert!(matches!(refused.sign(&key), Err(Error::IncompleteOrganizationSubject { .. })));
/// # Ok::<(), autocsr_keygen::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsrRequest {
    common_name: Option<String>,
    organization: Option<String>,
    locality: Option<String>,
    state_or_province: Option<String>,
    country: Option<String>,
    dns_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
}

impl CsrRequest {
    /// An empty request (it needs at least one SAN before it can be signed).
    pub fn new() -> CsrRequest {
        CsrRequest::default()
    }

    /// Sets the subject commonName; it must equal one of the SANs and be at most
    /// [`MAX_COMMON_NAME_LEN`] characters long. Leave it out for a longer name.
    #[must_use]
    pub fn common_name(mut self, common_name: impl Into<String>) -> CsrRequest {
        self.common_name = Some(common_name.into());
        self
    }

    /// Sets the subject organizationName.
    #[must_use]
    pub fn organization(mut self, organization: impl Into<String>) -> CsrRequest {
        self.organization = Some(organization.into());
        self
    }

    /// Sets the subject localityName.
    #[must_use]
    pub fn locality(mut self, locality: impl Into<String>) -> CsrRequest {
        self.locality = Some(locality.into());
        self
    }

    /// Sets the subject stateOrProvinceName.
    #[must_use]
    pub fn state_or_province(mut self, state: impl Into<String>) -> CsrRequest {
        self.state_or_province = Some(state.into());
        self
    }

    /// Sets the subject countryName (two letters, ISO 3166-1 alpha-2).
    #[must_use]
    pub fn country(mut self, country: impl Into<String>) -> CsrRequest {
        self.country = Some(country.into());
        self
    }

    /// Adds a DNS subjectAltName (`example.com`, `*.example.com`, A-labels only).
    #[must_use]
    pub fn dns_name(mut self, name: impl Into<String>) -> CsrRequest {
        self.dns_names.push(name.into());
        self
    }

    /// Adds several DNS subjectAltNames.
    #[must_use]
    pub fn dns_names<I, S>(mut self, names: I) -> CsrRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dns_names.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds an IP address subjectAltName.
    #[must_use]
    pub fn ip_address(mut self, address: IpAddr) -> CsrRequest {
        self.ip_addresses.push(address);
        self
    }

    /// Adds a subjectAltName given as text: an IPv4 or IPv6 literal becomes an IP SAN,
    /// anything else a DNS SAN (checked later like [`CsrRequest::dns_name`]).
    #[must_use]
    pub fn name(self, name: &str) -> CsrRequest {
        match IpAddr::from_str(name) {
            Ok(address) => self.ip_address(address),
            Err(_) => self.dns_name(name),
        }
    }

    /// The DNS names as given (not yet normalised).
    pub fn dns_name_list(&self) -> &[String] {
        &self.dns_names
    }

    /// The IP addresses as given.
    pub fn ip_address_list(&self) -> &[IpAddr] {
        &self.ip_addresses
    }

    /// Checks everything [`CsrRequest::sign`] checks, without signing.
    ///
    /// # Errors
    /// The refusals listed on [`CsrRequest`].
    pub fn validate(&self) -> Result<()> {
        self.checked().map(|_| ())
    }

    /// Checks the request, has `signer` sign it, verifies the signature against the
    /// signer's public key and returns the CSR. The signer is not called for a request
    /// that fails any check.
    ///
    /// # Errors
    /// The refusals listed on [`CsrRequest`]; [`Error::SignerKeyMismatch`] when the signer's
    /// public key is not a supported key of its declared algorithm; [`Error::Signing`] when
    /// the signer fails; [`Error::SignatureVerification`] when its signature does not
    /// verify; [`Error::CsrEncoding`] if the CSR cannot be encoded.
    pub fn sign<S: CsrSigner + ?Sized>(&self, signer: &S) -> Result<Csr> {
        let checked = self.checked()?;
        let algorithm = signer.signature_algorithm();
        let spki_der = signer.public_key_der().map_err(Error::Signing)?;
        let verifier = CsrVerifier::new(algorithm, &spki_der)?;

        let mut builder = RequestBuilder::new(checked.subject).map_err(|_| Error::CsrEncoding)?;
        let general_names = checked
            .dns_names
            .iter()
            .map(|name| {
                Ia5String::new(name)
                    .map(GeneralName::DnsName)
                    .map_err(|_| Error::CsrEncoding)
            })
            .chain(
                checked
                    .ip_addresses
                    .iter()
                    .map(|address| Ok(GeneralName::from(*address))),
            )
            .collect::<Result<Vec<_>>>()?;
        builder
            .add_extension(&SubjectAltName(general_names))
            .map_err(|_| Error::CsrEncoding)?;

        let adapter = BuilderSigner {
            signer,
            spki: SpkiDer(spki_der),
            algorithm,
        };
        let request = builder
            .build::<_, RawSignature>(&adapter)
            .map_err(|err| match err {
                x509_cert::builder::Error::Signature(err) => Error::Signing(err),
                _ => Error::CsrEncoding,
            })?;
        verifier.verify(&request)?;
        Csr::from_request(&request)
    }

    fn checked(&self) -> Result<CheckedRequest> {
        let san_count = self.dns_names.len().saturating_add(self.ip_addresses.len());
        if san_count == 0 {
            return Err(Error::NoSubjectAltName);
        }
        if san_count > MAX_SUBJECT_ALT_NAMES {
            return Err(Error::LimitExceeded {
                what: "subjectAltName count",
                limit: MAX_SUBJECT_ALT_NAMES as u64,
            });
        }
        let mut seen = HashSet::new();
        let mut dns_names = Vec::with_capacity(self.dns_names.len());
        for name in &self.dns_names {
            let normalised = check_dns_name(name)?;
            if !seen.insert(normalised.clone()) {
                return Err(Error::DuplicateSubjectAltName { name: normalised });
            }
            dns_names.push(normalised);
        }
        let mut ip_addresses = Vec::with_capacity(self.ip_addresses.len());
        for address in &self.ip_addresses {
            if !seen.insert(address.to_string()) {
                return Err(Error::DuplicateSubjectAltName {
                    name: address.to_string(),
                });
            }
            ip_addresses.push(*address);
        }

        let common_name = match &self.common_name {
            None => None,
            Some(common_name) => {
                check_attribute("commonName", common_name, MAX_COMMON_NAME_LEN)?;
                let not_a_san = || Error::CommonNameNotInSubjectAltNames {
                    common_name: common_name.clone(),
                };
                let normalised = match IpAddr::from_str(common_name) {
                    Ok(address) if ip_addresses.contains(&address) => address.to_string(),
                    Ok(_) => return Err(not_a_san()),
                    Err(_) => {
                        let name = check_dns_name(common_name).map_err(|_| not_a_san())?;
                        if !dns_names.contains(&name) {
                            return Err(not_a_san());
                        }
                        name
                    }
                };
                Some(normalised)
            }
        };
        let country = match &self.country {
            None => None,
            Some(country) => {
                let is_alpha2 =
                    country.len() == 2 && country.bytes().all(|byte| byte.is_ascii_alphabetic());
                if !is_alpha2 {
                    return Err(Error::InvalidCountry {
                        value: country.clone(),
                    });
                }
                Some(country.to_ascii_uppercase())
            }
        };
        if let Some(value) = &self.state_or_province {
            check_attribute("stateOrProvinceName", value, MAX_LOCALITY_LEN)?;
        }
        if let Some(value) = &self.locality {
            check_attribute("localityName", value, MAX_LOCALITY_LEN)?;
        }
        if let Some(value) = &self.organization {
            check_attribute("organizationName", value, MAX_ORGANIZATION_LEN)?;
            if self.locality.is_none() && self.state_or_province.is_none() {
                return Err(Error::IncompleteOrganizationSubject {
                    missing: "a localityName or a stateOrProvinceName",
                });
            }
            if country.is_none() {
                return Err(Error::IncompleteOrganizationSubject {
                    missing: "a countryName",
                });
            }
        }

        // The conventional order, most general first: C, ST, L, O, CN.
        let mut rdns = RdnSequence::default();
        if let Some(country) = &country {
            let value = PrintableStringRef::new(country).map_err(|_| Error::CsrEncoding)?;
            push_rdn(&mut rdns, COUNTRY_NAME, Any::encode_from(&value))?;
        }
        for (oid, value) in [
            (STATE_OR_PROVINCE_NAME, &self.state_or_province),
            (LOCALITY_NAME, &self.locality),
            (ORGANIZATION_NAME, &self.organization),
            (COMMON_NAME, &common_name),
        ] {
            if let Some(value) = value {
                let value = Utf8StringRef::new(value).map_err(|_| Error::CsrEncoding)?;
                push_rdn(&mut rdns, oid, Any::encode_from(&value))?;
            }
        }
        // Name has no public constructor from an RdnSequence; its DER is the same.
        let subject = rdns
            .to_der()
            .and_then(|der| Name::from_der(&der))
            .map_err(|_| Error::CsrEncoding)?;
        Ok(CheckedRequest {
            subject,
            dns_names,
            ip_addresses,
        })
    }
}

struct CheckedRequest {
    subject: Name,
    dns_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
}

fn check_attribute(attribute: &'static str, value: &str, max_chars: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::InvalidSubjectAttribute {
            attribute,
            reason: "empty",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidSubjectAttribute {
            attribute,
            reason: "contains control characters",
        });
    }
    if value.chars().count() > max_chars {
        return Err(Error::InvalidSubjectAttribute {
            attribute,
            reason: "longer than the RFC 5280 upper bound",
        });
    }
    Ok(())
}

fn push_rdn(rdns: &mut RdnSequence, oid: ObjectIdentifier, value: der::Result<Any>) -> Result<()> {
    let value = value.map_err(|_| Error::CsrEncoding)?;
    let rdn = RelativeDistinguishedName::try_from(vec![AttributeTypeAndValue { oid, value }])
        .map_err(|_| Error::CsrEncoding)?;
    rdns.push(rdn);
    Ok(())
}

/// A signed PKCS#10 certification request (RFC 2986), already verified against its own
/// public key. It holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csr {
    der: Vec<u8>,
    pem: String,
}

impl Csr {
    fn from_request(request: &CertReq) -> Result<Csr> {
        let der = request.to_der().map_err(|_| Error::CsrEncoding)?;
        let pem = der::pem::encode_string("CERTIFICATE REQUEST", LineEnding::LF, &der)
            .map_err(|_| Error::CsrEncoding)?;
        Ok(Csr { der, pem })
    }

    /// The DER encoding.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding (`-----BEGIN CERTIFICATE REQUEST-----`, LF line endings).
    pub fn to_pem(&self) -> String {
        self.pem.clone()
    }

    /// The DER encoding, by value.
    pub fn into_der(self) -> Vec<u8> {
        self.der
    }
}

/// The public key a signer claims, checked against its algorithm, ready to verify the CSR.
enum CsrVerifier {
    Rsa(Box<rsa::pkcs1v15::VerifyingKey<sha2::Sha256>>),
    P256(Box<p256::ecdsa::VerifyingKey>),
    P384(Box<p384::ecdsa::VerifyingKey>),
}

impl CsrVerifier {
    fn new(algorithm: SignatureAlgorithm, spki_der: &[u8]) -> Result<CsrVerifier> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|_| {
            Error::SignerKeyMismatch {
                reason: "the public key is not a DER SubjectPublicKeyInfo",
            }
        })?;
        let key_oid = spki.algorithm.oid;
        let curve = spki.algorithm.parameters_oid().ok();
        match algorithm {
            SignatureAlgorithm::RsaPkcs1v15Sha256 => {
                if key_oid != RSA_ENCRYPTION {
                    return Err(Error::SignerKeyMismatch {
                        reason: "RSA signature algorithm but not an RSA key",
                    });
                }
                let key = rsa::PublicKey::from_public_key_der(spki_der).map_err(|_| {
                    Error::SignerKeyMismatch {
                        reason: "malformed RSA public key",
                    }
                })?;
                use rsa::traits::PublicKeyParts;
                if KeyAlgorithm::from_rsa_bits(key.n().bit_width()).is_none() {
                    return Err(Error::SignerKeyMismatch {
                        reason: "RSA modulus is not 2048, 3072 or 4096 bits",
                    });
                }
                Ok(CsrVerifier::Rsa(Box::new(
                    rsa::pkcs1v15::VerifyingKey::new(key),
                )))
            }
            SignatureAlgorithm::EcdsaP256Sha256 => {
                if key_oid != ID_EC_PUBLIC_KEY || curve != Some(SECP256R1) {
                    return Err(Error::SignerKeyMismatch {
                        reason: "ECDSA P-256 signature algorithm but not a P-256 key",
                    });
                }
                let key =
                    p256::ecdsa::VerifyingKey::from_public_key_der(spki_der).map_err(|_| {
                        Error::SignerKeyMismatch {
                            reason: "malformed P-256 public key",
                        }
                    })?;
                Ok(CsrVerifier::P256(Box::new(key)))
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                if key_oid != ID_EC_PUBLIC_KEY || curve != Some(SECP384R1) {
                    return Err(Error::SignerKeyMismatch {
                        reason: "ECDSA P-384 signature algorithm but not a P-384 key",
                    });
                }
                let key =
                    p384::ecdsa::VerifyingKey::from_public_key_der(spki_der).map_err(|_| {
                        Error::SignerKeyMismatch {
                            reason: "malformed P-384 public key",
                        }
                    })?;
                Ok(CsrVerifier::P384(Box::new(key)))
            }
        }
    }

    fn verify(&self, request: &CertReq) -> Result<()> {
        let message = request.info.to_der().map_err(|_| Error::CsrEncoding)?;
        let signature = request
            .signature
            .as_bytes()
            .ok_or(Error::SignatureVerification)?;
        let verified = match self {
            CsrVerifier::Rsa(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|signature| key.verify(&message, &signature).is_ok()),
            CsrVerifier::P256(key) => p256::ecdsa::DerSignature::try_from(signature)
                .is_ok_and(|signature| key.verify(&message, &signature).is_ok()),
            CsrVerifier::P384(key) => p384::ecdsa::DerSignature::try_from(signature)
                .is_ok_and(|signature| key.verify(&message, &signature).is_ok()),
        };
        if verified {
            Ok(())
        } else {
            Err(Error::SignatureVerification)
        }
    }
}

/// The public key as x509-cert's builder wants it (`Keypair::VerifyingKey: EncodePublicKey`).
#[derive(Clone)]
struct SpkiDer(Vec<u8>);

impl EncodePublicKey for SpkiDer {
    fn to_public_key_der(&self) -> spki::Result<Document> {
        Ok(Document::try_from(self.0.as_slice())?)
    }
}

/// A signature in its final CSR form (see [`CsrSigner::try_sign`]).
struct RawSignature(Vec<u8>);

impl SignatureBitStringEncoding for RawSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

/// Bridges our narrow trait to the `Signer + Keypair + DynSignatureAlgorithmIdentifier`
/// bundle x509-cert's `RequestBuilder` takes.
struct BuilderSigner<'a, S: ?Sized> {
    signer: &'a S,
    spki: SpkiDer,
    algorithm: SignatureAlgorithm,
}

impl<S: CsrSigner + ?Sized> Keypair for BuilderSigner<'_, S> {
    type VerifyingKey = SpkiDer;

    fn verifying_key(&self) -> SpkiDer {
        self.spki.clone()
    }
}

impl<S: CsrSigner + ?Sized> DynSignatureAlgorithmIdentifier for BuilderSigner<'_, S> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.algorithm.algorithm_identifier())
    }
}

impl<S: CsrSigner + ?Sized> Signer<RawSignature> for BuilderSigner<'_, S> {
    fn try_sign(&self, message: &[u8]) -> core::result::Result<RawSignature, signature::Error> {
        self.signer.try_sign(message).map(RawSignature)
    }
}
