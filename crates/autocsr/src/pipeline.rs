//! `AutoCsr`: the six steps of an order, in an order that stores nothing until the
//! archive is proven (and, with [`AutoCsr::seal_with_id`] and [`AutoCsr::store`], until the
//! host has put the archive and CSR where they belong).

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use autocsr_archive::{ArchiveFormat, Entry};
use autocsr_credential::UnlockCode;
use autocsr_keygen::{KeyAlgorithm, MAX_COMMON_NAME_LEN};
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::readme::{CSR_ENTRY, KEY_ENTRY, README_ENTRY, ReadmeFacts, readme_text};
use crate::steps::{
    CodeStore, CsrSpec, KeyMaker, NameFinding, NamePolicy, SealOrVerifyError, Sealer,
};
use crate::{Error, OrderId};

/// The default reveal window: seven days.
pub const DEFAULT_REVEAL_WINDOW: Duration = autocsr_credential::DEFAULT_WINDOW;

/// The longest reveal window: one year (366 days, so "the same date next year" fits even
/// across February 29). The code exists to hand one order's archive over; a code that
/// stays revealable for longer than a certificate lives (at most 398 days under BR 6.3.2,
/// and shrinking) defeats the point of not keeping it. It is the vault's own bound
/// ([`autocsr_credential::MAX_WINDOW`]), checked here before any work is done.
pub const MAX_REVEAL_WINDOW: Duration = autocsr_credential::MAX_WINDOW;

/// The shortest reveal window: one second. Windows are whole seconds, because that is
/// what expiry times are printed in and what the sealed README states.
pub const MIN_REVEAL_WINDOW: Duration = Duration::from_secs(1);

/// What a customer ordered: names, key type, archive format and how long the unlock code
/// may be revealed.
///
/// Built with `new` and the `with_*` methods; nothing is checked until the order runs
/// (or the host calls [`check_reveal_window`] early).
///
/// ```
/// use std::time::Duration;
/// use autocsr::OrderRequest;
/// use autocsr::archive::ArchiveFormat;
/// use autocsr::keygen::KeyAlgorithm;
///
/// let request = OrderRequest::new("example.com")
///     .with_name("www.example.com")
///     .with_name("WWW.example.com") // a repeat, ignoring ASCII case: dropped
///     .with_key(KeyAlgorithm::EcdsaP256)
///     .with_format(ArchiveFormat::SevenZ)
///     .with_reveal_window(Duration::from_secs(2 * 24 * 60 * 60));
/// assert_eq!(request.names(), ["example.com", "www.example.com"]);
/// assert_eq!(request.common_name(), Some("example.com"));
///
/// // The defaults: RSA-2048, zip, seven days.
/// let defaults = OrderRequest::new("example.org");
/// assert_eq!(defaults.key(), KeyAlgorithm::Rsa2048);
/// assert_eq!(defaults.format(), ArchiveFormat::Zip);
/// assert_eq!(defaults.reveal_window(), autocsr::DEFAULT_REVEAL_WINDOW);
///
/// // A name longer than 64 characters is a subjectAltName only, with no common name.
/// let long = format!("{}.example.com", "a".repeat(60));
/// assert_eq!(OrderRequest::new(long).common_name(), None);
/// ```
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

    /// How long the unlock code may be revealed: whole seconds, from [`MIN_REVEAL_WINDOW`]
    /// to [`MAX_REVEAL_WINDOW`] (checked when the order runs).
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
        check_reveal_window(self.reveal_window)?;
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

/// Checks a reveal window against [`MIN_REVEAL_WINDOW`], [`MAX_REVEAL_WINDOW`] and whole
/// seconds: the rule [`AutoCsr::order`] applies, for front ends that check input early.
///
/// # Errors
/// [`Error::InvalidRequest`] saying which rule the window breaks.
///
/// ```
/// use std::time::Duration;
/// use autocsr::{Error, check_reveal_window};
///
/// assert!(check_reveal_window(Duration::from_secs(7 * 24 * 60 * 60)).is_ok());
/// assert!(check_reveal_window(autocsr::MAX_REVEAL_WINDOW).is_ok());
/// for refused in [
///     Duration::ZERO,
///     autocsr::MAX_REVEAL_WINDOW + Duration::from_secs(1),
///     Duration::from_millis(1500), // not whole seconds
/// ] {
///     assert!(matches!(check_reveal_window(refused), Err(Error::InvalidRequest(_))));
/// }
/// ```
pub fn check_reveal_window(window: Duration) -> Result<(), Error> {
    if window < MIN_REVEAL_WINDOW {
        return Err(Error::InvalidRequest(
            "the reveal window must be at least one second",
        ));
    }
    if window > MAX_REVEAL_WINDOW {
        return Err(Error::InvalidRequest(
            "the reveal window must be at most 366 days",
        ));
    }
    if window.subsec_nanos() != 0 {
        return Err(Error::InvalidRequest(
            "the reveal window must be a whole number of seconds",
        ));
    }
    Ok(())
}

/// Checks an order id a host passes to [`AutoCsr::order_with_id`] or
/// [`AutoCsr::seal_with_id`]: 1 to 128 characters from `A-Z a-z 0-9 - _ . :` (the default
/// vault's rule; such an id is also safe in a file name and in the sealed README).
///
/// # Errors
/// [`Error::InvalidRequest`].
///
/// ```
/// use autocsr::{Error, check_order_id};
///
/// assert!(check_order_id("shop-2026.12:4711").is_ok());
/// assert!(check_order_id(&"a".repeat(128)).is_ok());
/// for refused in ["", "../etc/passwd", "two words", "caf\u{e9}", &"a".repeat(129)] {
///     assert!(matches!(check_order_id(refused), Err(Error::InvalidRequest(_))));
/// }
/// ```
pub fn check_order_id(order_id: &str) -> Result<(), Error> {
    autocsr_credential::record::validate_order_id(order_id).map_err(|_| {
        Error::InvalidRequest(
            "the order id must be 1 to 128 characters from A-Z, a-z, 0-9, '-', '_', '.' and ':'",
        )
    })
}

/// An order whose archive is sealed and proven, but whose unlock code is not stored yet
/// (see [`AutoCsr::seal_with_id`]). It does not hand out the code: that comes only with
/// the [`Order`] that [`AutoCsr::store`] returns. Dropped without storing, it leaves
/// nothing: the code is wiped, and without it nobody can open the archive.
pub struct SealedOrder {
    order_id: String,
    archive: Vec<u8>,
    format: ArchiveFormat,
    key: KeyAlgorithm,
    csr_der: Vec<u8>,
    csr_pem: String,
    unlock_code: UnlockCode,
    reveal_window: Duration,
    warnings: Vec<NameFinding>,
}

impl SealedOrder {
    /// The order id the code will be stored under.
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

    /// The CSR, DER.
    pub fn csr_der(&self) -> &[u8] {
        &self.csr_der
    }

    /// The CSR, PEM.
    pub fn csr_pem(&self) -> &str {
        &self.csr_pem
    }

    /// Non-refusing policy findings (warnings, notices) about the names.
    pub fn warnings(&self) -> &[NameFinding] {
        &self.warnings
    }
}

impl std::fmt::Debug for SealedOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedOrder")
            .field("order_id", &self.order_id)
            .field("archive_len", &self.archive.len())
            .field("format", &self.format)
            .field("key", &self.key)
            .field("csr_der_len", &self.csr_der.len())
            .field("unlock_code", &self.unlock_code)
            .field("reveal_window", &self.reveal_window)
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// A finished order. The archive is proven to open with the code; the code is in the
/// vault; every buffer this crate held the private key in was wiped. Copies that the zip
/// writer, its deflate stage and the archive readers make inside their own buffers are
/// wiped only if the binary's global allocator zeroes freed memory, as the `autocsr`
/// command's does (`autocsr-wipe-alloc`; docs/THREAT_MODEL.md says what is and is not
/// wiped, and how it is measured).
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

/// The composed pipeline. Each step is a type parameter: any implementation of its trait
/// in [`crate::steps`], chosen by the caller (see [`AutoCsr::from_parts`]) and resolved at
/// compile time. The crate's defaults are in [`crate::defaults`].
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
    ///
    /// # Examples
    ///
    /// A host that sells certificates only under its customers' own zones keeps the
    /// default policy and adds its rule on top:
    ///
    /// ```
    /// use autocsr::credential::Vault;
    /// use autocsr::defaults::{ArchiveSealer, LocalKeygen};
    /// use autocsr::keygen::KeyAlgorithm;
    /// use autocsr::policy::{Policy, Severity};
    /// use autocsr::steps::{NameFinding, NamePolicy};
    /// use autocsr::{AutoCsr, Error, OrderRequest};
    ///
    /// struct OnlyExampleCom(Policy);
    ///
    /// impl NamePolicy for OnlyExampleCom {
    ///     fn check_names(&self, names: &[&str], common_name: Option<&str>) -> Vec<NameFinding> {
    ///         let mut findings = NamePolicy::check_names(&self.0, names, common_name);
    ///         for name in names.iter().filter(|name| !name.ends_with(".example.com")) {
    ///             let message = format!("{name} is not under example.com");
    ///             findings.push(NameFinding::new("host.foreign_zone", Severity::Error, message));
    ///         }
    ///         findings
    ///     }
    /// }
    ///
    /// let pipeline = AutoCsr::from_parts(
    ///     OnlyExampleCom(Policy::default()),
    ///     LocalKeygen::default(),
    ///     ArchiveSealer::default(),
    ///     Vault::in_memory(),
    /// );
    /// let request = OrderRequest::new("shop.example.com").with_key(KeyAlgorithm::EcdsaP256);
    /// assert!(pipeline.order(&request).is_ok());
    /// let Err(Error::PolicyRefused { findings }) = pipeline.order(&OrderRequest::new("example.org"))
    /// else {
    ///     panic!("a foreign zone must be refused");
    /// };
    /// assert_eq!(findings[0].id, "host.foreign_zone");
    /// ```
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
    ///
    /// ```
    /// use autocsr::archive::{ArchiveFormat, Limits};
    /// use autocsr::keygen::KeyAlgorithm;
    /// use autocsr::{Error, KEY_ENTRY, OrderRequest};
    ///
    /// let pipeline = autocsr::defaults::in_memory();
    /// let request = OrderRequest::new("example.com")
    ///     .with_key(KeyAlgorithm::EcdsaP256)
    ///     .with_format(ArchiveFormat::Zip);
    /// let order = pipeline.order(&request)?;
    ///
    /// // The code opens the archive, and the archive holds the key for the CSR.
    /// let password = order.unlock_code().reveal();
    /// let opened = autocsr::archive::open(order.archive(), &password, &Limits::default())?;
    /// let key = opened.entries().iter().find(|entry| entry.name() == KEY_ENTRY);
    /// assert!(key.is_some_and(|key| key.data().starts_with(b"-----BEGIN PRIVATE KEY-----")));
    /// assert!(order.csr_pem().starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    ///
    /// // A name the policy refuses costs no key, and nothing is stored.
    /// let refused = pipeline.order(&OrderRequest::new("*.com"));
    /// assert!(matches!(refused, Err(Error::PolicyRefused { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn order(&self, request: &OrderRequest) -> Result<Order, Error> {
        let order_id = OrderId::generate()?;
        self.order_with_id(order_id.as_str(), request)
    }

    /// Runs an order under the host's own order id:
    ///
    /// 0. the request and the order id are checked ([`Error::InvalidRequest`]);
    /// 1. the policy checks the names (refusal: [`Error::PolicyRefused`]), and the key
    ///    maker checks it can build the CSR ([`Error::InvalidCsrRequest`]);
    /// 2. the key maker makes a key and a CSR ([`Error::KeyGeneration`]);
    /// 3. a fresh unlock code ([`Error::UnlockCode`]) seals key, CSR and README
    ///    ([`Error::Seal`]);
    /// 4. the archive is opened again and compared ([`Error::Verify`]): with the code, or
    ///    by the default sealer for 7z with the key derived from the code for sealing
    ///    (the derivation is not paid twice; the header's declared derivation parameters
    ///    must be the key's, see `autocsr_archive::SealedArchive::verify`);
    /// 5. the vault stores the code ([`Error::Store`]);
    /// 6. the key (PEM and every archive entry holding it) is wiped before step 5; copies
    ///    inside the archive libraries' own buffers are wiped when freed only under a
    ///    zeroizing global allocator (see [`Order`]).
    ///
    /// Only step 5 writes anything, and it runs only once the archive is proven, so a
    /// failure at any step leaves the vault untouched and returns no archive. This is
    /// [`AutoCsr::seal_with_id`] followed by [`AutoCsr::store`]; a host that writes the
    /// archive somewhere should call those two itself, with its write in between, so that
    /// no code is ever stored for an archive that was not written.
    ///
    /// # Errors
    /// The errors listed in the steps above.
    pub fn order_with_id(&self, order_id: &str, request: &OrderRequest) -> Result<Order, Error> {
        let sealed = self.seal_with_id(order_id, request)?;
        self.store(sealed)
    }

    /// Steps 0 to 4 and 6 of [`AutoCsr::order_with_id`]: checks, policy, key, seal and
    /// verify, and wipes the key. Stores nothing: the result is a proven archive and its
    /// CSR, ready to be written by the host, and a code that [`AutoCsr::store`] stores
    /// and hands out. Nothing about `order_id` or `request` reaches a step before both
    /// are checked.
    ///
    /// # Errors
    /// As [`AutoCsr::order_with_id`], except [`Error::Store`].
    pub fn seal_with_id(
        &self,
        order_id: &str,
        request: &OrderRequest,
    ) -> Result<SealedOrder, Error> {
        check_order_id(order_id)?;
        request.validate()?;
        let names = request.names();

        // 1. Policy, then whether the key maker can build this CSR at all: both before
        // any key is made.
        let findings = self.policy.check_names(&names, request.common_name());
        if findings.iter().any(NameFinding::is_error) {
            return Err(Error::PolicyRefused { findings });
        }
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
        self.keygen
            .check_spec(&spec)
            .map_err(Error::InvalidCsrRequest)?;

        // 2. Key and CSR.
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
        // 4. Open again and compare byte for byte. The default sealer opens a 7z archive
        // with the key it derived for sealing, not the code: one 2^19-round derivation per
        // order instead of two (about a quarter of an RSA-2048 7z order). What that proves
        // and what it leaves to the tests is on `autocsr_archive::SealedArchive::verify`.
        let archive = self
            .sealer
            .seal_and_verify(request.format(), &entries, &password)
            .map_err(|error| match error {
                SealOrVerifyError::Seal(error) => Error::Seal(error),
                SealOrVerifyError::Verify(error) => Error::Verify(error),
            })?;

        // 6. Wipe the key: the PEM (`SecretString`) and the archive entries (`Zeroizing`)
        // are zeroized as they drop here; the key maker dropped its key object already.
        // The sealer's and verifier's libraries freed their copies already; only a
        // zeroizing global allocator (the `autocsr` binary's) wiped those.
        let csr_der = material.csr_der().to_vec();
        let csr_pem = material.csr_pem().to_owned();
        drop(entries);
        drop(material);
        drop(password);

        Ok(SealedOrder {
            order_id: order_id.to_owned(),
            archive,
            format: request.format(),
            key: request.key(),
            csr_der,
            csr_pem,
            unlock_code,
            reveal_window: request.reveal_window(),
            warnings: findings,
        })
    }

    /// Step 5 of [`AutoCsr::order_with_id`]: stores the sealed order's code in the vault
    /// for its reveal window, and returns the finished [`Order`] (which carries the code).
    ///
    /// # Errors
    /// [`Error::Store`] (for instance the order id already has a code); the code is then
    /// wiped with the sealed order.
    ///
    /// ```
    /// use autocsr::OrderRequest;
    /// use autocsr::keygen::KeyAlgorithm;
    ///
    /// let pipeline = autocsr::defaults::in_memory();
    /// let request = OrderRequest::new("example.com").with_key(KeyAlgorithm::EcdsaP256);
    /// let sealed = pipeline.seal_with_id("shop-4711", &request)?;
    ///
    /// // The host writes the archive and the CSR where the customer will find them ...
    /// let mut written = Vec::new();
    /// written.extend_from_slice(sealed.archive());
    ///
    /// // ... and only then stores the code, which it shows once on the order page.
    /// let order = pipeline.store(sealed)?;
    /// assert_eq!(order.archive(), written);
    /// assert!(pipeline.vault().reveal("shop-4711").is_ok());
    ///
    /// // The vault holds one code per order id.
    /// let again = pipeline.seal_with_id("shop-4711", &request)?;
    /// assert!(matches!(pipeline.store(again), Err(autocsr::Error::Store(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store(&self, sealed: SealedOrder) -> Result<Order, Error> {
        let expires_at = self
            .vault
            .store_code(&sealed.order_id, &sealed.unlock_code, sealed.reveal_window)
            .map_err(Error::Store)?;
        Ok(Order {
            order_id: sealed.order_id,
            archive: sealed.archive,
            format: sealed.format,
            key: sealed.key,
            csr_der: sealed.csr_der,
            csr_pem: sealed.csr_pem,
            unlock_code: sealed.unlock_code,
            expires_at,
            warnings: sealed.warnings,
        })
    }
}
