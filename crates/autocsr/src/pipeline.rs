//! `AutoCsr`: the six steps of an order, in an order that stores nothing until the
//! archive is proven.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use autocsr_archive::{ArchiveFormat, Entry};
use autocsr_credential::UnlockCode;
use autocsr_keygen::{KeyAlgorithm, MAX_COMMON_NAME_LEN};
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::readme::{CSR_ENTRY, KEY_ENTRY, README_ENTRY, ReadmeFacts, readme_text};
use crate::steps::{CodeStore, CsrSpec, KeyMaker, NameFinding, NamePolicy, Sealer};
use crate::{Error, OrderId};

/// The default reveal window: seven days.
pub const DEFAULT_REVEAL_WINDOW: Duration = autocsr_credential::DEFAULT_WINDOW;

/// What a customer ordered: names, key type, archive format and how long the unlock code
/// may be revealed.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    domain: String,
    extra_names: Vec<String>,
    key: KeyAlgorithm,
    format: ArchiveFormat,
    organization: Option<String>,
    locality: Option<String>,
    state_or_province: Option<String>,
    country: Option<String>,
    reveal_window: Duration,
}

impl OrderRequest {
    /// An order for `domain` (the first subjectAltName, and the subject common name when it
    /// fits; see [`OrderRequest::common_name`]) with the defaults: RSA-2048, zip, a seven-day
    /// reveal window.
    pub fn new(domain: impl Into<String>) -> OrderRequest {
        OrderRequest {
            domain: domain.into(),
            extra_names: Vec::new(),
            key: KeyAlgorithm::Rsa2048,
            format: ArchiveFormat::Zip,
            organization: None,
            locality: None,
            state_or_province: None,
            country: None,
            reveal_window: DEFAULT_REVEAL_WINDOW,
        }
    }

    /// Adds a subjectAltName (DNS name or IP literal). A repeat of a name already in the
    /// order is dropped.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> OrderRequest {
        self.extra_names.push(name.into());
        self
    }

    /// The key algorithm.
    #[must_use]
    pub fn with_key(mut self, key: KeyAlgorithm) -> OrderRequest {
        self.key = key;
        self
    }

    /// The archive format.
    #[must_use]
    pub fn with_format(mut self, format: ArchiveFormat) -> OrderRequest {
        self.format = format;
        self
    }

    /// The subject organizationName. An order with one needs a country and a locality or a
    /// state too (BR 7.1.2.7.4), or it is refused as [`Error::InvalidRequest`].
    #[must_use]
    pub fn with_organization(mut self, organization: impl Into<String>) -> OrderRequest {
        self.organization = Some(organization.into());
        self
    }

    /// The subject localityName (city), up to 128 characters.
    #[must_use]
    pub fn with_locality(mut self, locality: impl Into<String>) -> OrderRequest {
        self.locality = Some(locality.into());
        self
    }

    /// The subject stateOrProvinceName, up to 128 characters.
    #[must_use]
    pub fn with_state_or_province(mut self, state: impl Into<String>) -> OrderRequest {
        self.state_or_province = Some(state.into());
        self
    }

    /// The subject countryName (two letters, ISO 3166-1).
    #[must_use]
    pub fn with_country(mut self, country: impl Into<String>) -> OrderRequest {
        self.country = Some(country.into());
        self
    }

    /// How long the unlock code may be revealed (must be positive).
    #[must_use]
    pub fn with_reveal_window(mut self, window: Duration) -> OrderRequest {
        self.reveal_window = window;
        self
    }

    /// The primary name.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The subject common name the CSR will carry: the primary name, or `None` when it is
    /// longer than `ub-common-name` ([`MAX_COMMON_NAME_LEN`], 64 characters). A valid DNS
    /// name can have up to 253, and the Baseline Requirements make the common name optional
    /// (7.1.2.7.2, 7.1.2.7.4), so such a name is only a subjectAltName. Shorter names keep
    /// it, because order systems and many CAs still expect it.
    pub fn common_name(&self) -> Option<&str> {
        (self.domain.chars().count() <= MAX_COMMON_NAME_LEN).then_some(self.domain.as_str())
    }

    /// The key algorithm.
    pub fn key(&self) -> KeyAlgorithm {
        self.key
    }

    /// The archive format.
    pub fn format(&self) -> ArchiveFormat {
        self.format
    }

    /// The reveal window.
    pub fn reveal_window(&self) -> Duration {
        self.reveal_window
    }

    /// Every name in the order, primary first, exact repeats (ignoring ASCII case) dropped.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::with_capacity(1 + self.extra_names.len());
        for name in std::iter::once(&self.domain).chain(&self.extra_names) {
            if !names.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
                names.push(name);
            }
        }
        names
    }

    fn validate(&self) -> Result<(), Error> {
        if self.domain.trim().is_empty() {
            return Err(Error::InvalidRequest("the order has no domain name"));
        }
        if self.reveal_window.is_zero() {
            return Err(Error::InvalidRequest("the reveal window must be positive"));
        }
        if let Some(country) = &self.country
            && !(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(Error::InvalidRequest(
                "the country must be two upper-case letters (ISO 3166-1 alpha-2)",
            ));
        }
        if self.organization.is_some()
            && (self.country.is_none()
                || (self.locality.is_none() && self.state_or_province.is_none()))
        {
            return Err(Error::InvalidRequest(
                "an organization needs a country and a locality or a state too (BR 7.1.2.7.4)",
            ));
        }
        Ok(())
    }
}

/// A finished order. The archive is proven to open with the code; the code is in the
/// vault; no copy of the private key is left anywhere in this process.
pub struct Order {
    order_id: String,
    archive: Vec<u8>,
    format: ArchiveFormat,
    key: KeyAlgorithm,
    csr_der: Vec<u8>,
    csr_pem: String,
    unlock_code: UnlockCode,
    expires_at: SystemTime,
    warnings: Vec<NameFinding>,
}

impl Order {
    /// The order id the vault knows the code by.
    pub fn order_id(&self) -> &str {
        &self.order_id
    }

    /// The encrypted archive (key, CSR, README).
    pub fn archive(&self) -> &[u8] {
        &self.archive
    }

    /// The archive's format (and so its file extension).
    pub fn format(&self) -> ArchiveFormat {
        self.format
    }

    /// The key algorithm of the sealed key.
    pub fn key(&self) -> KeyAlgorithm {
        self.key
    }

    /// The CSR, DER (public: this goes to the CA).
    pub fn csr_der(&self) -> &[u8] {
        &self.csr_der
    }

    /// The CSR, PEM.
    pub fn csr_pem(&self) -> &str {
        &self.csr_pem
    }

    /// The unlock code (its canonical text is the archive password).
    pub fn unlock_code(&self) -> &UnlockCode {
        &self.unlock_code
    }

    /// When the vault stops revealing the code.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Non-refusing policy findings (warnings, notices) about the names.
    pub fn warnings(&self) -> &[NameFinding] {
        &self.warnings
    }
}

impl std::fmt::Debug for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Order")
            .field("order_id", &self.order_id)
            .field("archive_len", &self.archive.len())
            .field("format", &self.format)
            .field("key", &self.key)
            .field("csr_der_len", &self.csr_der.len())
            .field("unlock_code", &self.unlock_code)
            .field("expires_at", &self.expires_at)
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// The composed pipeline. Each step is a trait object of the caller's choice; see
/// [`AutoCsr::from_parts`]. The crate's defaults are in [`crate::defaults`].
#[derive(Debug)]
pub struct AutoCsr<P, K, S, V> {
    policy: P,
    keygen: K,
    sealer: S,
    vault: V,
}

impl<P, K, S, V> AutoCsr<P, K, S, V>
where
    P: NamePolicy,
    K: KeyMaker,
    S: Sealer,
    V: CodeStore,
{
    /// A pipeline from four steps.
    pub fn from_parts(policy: P, keygen: K, sealer: S, vault: V) -> AutoCsr<P, K, S, V> {
        AutoCsr {
            policy,
            keygen,
            sealer,
            vault,
        }
    }

    /// The vault (for reveal, status, revoke and purge).
    pub fn vault(&self) -> &V {
        &self.vault
    }

    /// Runs an order under a fresh random [`OrderId`].
    ///
    /// # Errors
    /// As [`AutoCsr::order_with_id`], plus [`Error::Randomness`].
    pub fn order(&self, request: &OrderRequest) -> Result<Order, Error> {
        let order_id = OrderId::generate()?;
        self.order_with_id(order_id.as_str(), request)
    }

    /// Runs an order under the host's own order id:
    ///
    /// 1. the policy checks the names (refusal: [`Error::PolicyRefused`]);
    /// 2. the key maker makes a key and a CSR ([`Error::KeyGeneration`]);
    /// 3. a fresh unlock code ([`Error::UnlockCode`]) seals key, CSR and README
    ///    ([`Error::Seal`]);
    /// 4. the archive is opened again with the code and compared ([`Error::Verify`]);
    /// 5. the vault stores the code ([`Error::Store`]);
    /// 6. the key (PEM and every archive entry holding it) is wiped on return.
    ///
    /// Only step 5 writes anything, and it runs only once the archive is proven, so a
    /// failure at any step leaves the vault untouched and returns no archive.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] and the step errors above.
    pub fn order_with_id(&self, order_id: &str, request: &OrderRequest) -> Result<Order, Error> {
        request.validate()?;
        if order_id.is_empty() {
            return Err(Error::InvalidRequest("the order id is empty"));
        }
        let names = request.names();

        // 1. Policy.
        let findings = self.policy.check_names(&names, request.common_name());
        if findings.iter().any(NameFinding::is_error) {
            return Err(Error::PolicyRefused { findings });
        }

        // 2. Key and CSR.
        let (ip_addresses, dns_names): (Vec<&str>, Vec<&str>) = names
            .iter()
            .partition(|name| name.parse::<IpAddr>().is_ok());
        let ip_addresses: Vec<IpAddr> = ip_addresses
            .iter()
            .filter_map(|name| name.parse().ok())
            .collect();
        let dns_names: Vec<String> = dns_names.iter().map(|name| (*name).to_owned()).collect();
        let spec = CsrSpec {
            key: request.key(),
            common_name: request.common_name(),
            dns_names: &dns_names,
            ip_addresses: &ip_addresses,
            organization: request.organization.as_deref(),
            locality: request.locality.as_deref(),
            state_or_province: request.state_or_province.as_deref(),
            country: request.country.as_deref(),
        };
        let material = self
            .keygen
            .make_key_and_csr(&spec)
            .map_err(Error::KeyGeneration)?;

        // 3. Seal under a fresh code.
        let unlock_code = UnlockCode::generate().map_err(Error::UnlockCode)?;
        let password = unlock_code.reveal();
        let readme = readme_text(&ReadmeFacts {
            order_id,
            names: &names,
            key: request.key().as_str(),
            format: request.format(),
            window: request.reveal_window(),
        });
        let entries = [
            Entry::private(
                KEY_ENTRY,
                Zeroizing::new(
                    material
                        .private_key_pem()
                        .expose_secret()
                        .as_bytes()
                        .to_vec(),
                ),
            )
            .map_err(|err| Error::Seal(Box::new(err)))?,
            Entry::new(CSR_ENTRY, material.csr_pem().as_bytes().to_vec())
                .map_err(|err| Error::Seal(Box::new(err)))?,
            Entry::new(README_ENTRY, readme.into_bytes())
                .map_err(|err| Error::Seal(Box::new(err)))?,
        ];
        let archive = self
            .sealer
            .seal(request.format(), &entries, &password)
            .map_err(Error::Seal)?;

        // 4. Open again and compare byte for byte.
        self.sealer
            .verify(&archive, &password, &entries)
            .map_err(Error::Verify)?;

        // 5. Only now store the code.
        let expires_at = self
            .vault
            .store_code(order_id, &unlock_code, request.reveal_window())
            .map_err(Error::Store)?;

        // 6. Wipe the key: the PEM (`SecretString`) and the archive entries (`Zeroizing`)
        // are zeroized as they drop here; the key maker dropped its key object already.
        let csr_der = material.csr_der().to_vec();
        let csr_pem = material.csr_pem().to_owned();
        drop(entries);
        drop(material);
        drop(password);

        Ok(Order {
            order_id: order_id.to_owned(),
            archive,
            format: request.format(),
            key: request.key(),
            csr_der,
            csr_pem,
            unlock_code,
            expires_at,
            warnings: findings,
        })
    }
}
