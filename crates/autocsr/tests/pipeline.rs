//! The composed pipeline: a real order end to end, and a failure injected at every step
//! leaves the vault empty and returns no archive.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code, including helpers outside #[test]: a failed expectation is the failure"
)]

use std::time::Duration;

use autocsr::archive::{ArchiveFormat, Entry, Limits};
use autocsr::credential::{self, UnlockCode, Vault};
use autocsr::defaults::{ArchiveSealer, LocalKeygen};
use autocsr::keygen::KeyAlgorithm;
use autocsr::policy::{Policy, Severity};
use autocsr::secrecy::{ExposeSecret as _, SecretString};
use autocsr::steps::{
    CodeStore, CsrSpec, KeyAndCsr, KeyMaker, NameFinding, NamePolicy, Sealer, StepError,
};
use autocsr::{AutoCsr, CSR_ENTRY, Error, KEY_ENTRY, OrderRequest, README_ENTRY};

/// Which step misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    PolicyRefuses,
    KeygenFails,
    SealFails,
    /// The sealer returns an archive with one byte flipped; the real verify must catch it.
    SealCorrupts,
    /// The sealer seals under a different code; the real verify must catch it.
    SealWrongCode,
    /// The sealer leaves out an entry; the real verify must catch it.
    SealDropsEntry,
    VerifyFails,
    StoreFails,
}

struct Steps {
    fault: Fault,
}

impl NamePolicy for Steps {
    fn check_names(&self, names: &[&str], common_name: Option<&str>) -> Vec<NameFinding> {
        let mut findings = NamePolicy::check_names(&Policy::default(), names, common_name);
        if self.fault == Fault::PolicyRefuses {
            findings.push(NameFinding::new(
                "test.injected",
                Severity::Error,
                "injected refusal",
            ));
        }
        findings
    }
}

impl KeyMaker for Steps {
    fn make_key_and_csr(&self, spec: &CsrSpec<'_>) -> Result<KeyAndCsr, StepError> {
        if self.fault == Fault::KeygenFails {
            return Err("injected keygen failure".into());
        }
        LocalKeygen::default().make_key_and_csr(spec)
    }
}

impl Sealer for Steps {
    fn seal(
        &self,
        format: ArchiveFormat,
        entries: &[Entry],
        code: &SecretString,
    ) -> Result<Vec<u8>, StepError> {
        let sealer = ArchiveSealer::default();
        match self.fault {
            Fault::SealFails => Err("injected seal failure".into()),
            Fault::SealCorrupts => {
                let mut sealed = sealer.seal(format, entries, code)?;
                let middle = sealed.len() / 2;
                sealed[middle] ^= 0x01;
                Ok(sealed)
            }
            Fault::SealWrongCode => {
                let other = UnlockCode::generate()?.reveal();
                sealer.seal(format, entries, &other)
            }
            Fault::SealDropsEntry => sealer.seal(format, &entries[..entries.len() - 1], code),
            _ => sealer.seal(format, entries, code),
        }
    }

    fn verify(
        &self,
        sealed: &[u8],
        code: &SecretString,
        expected: &[Entry],
    ) -> Result<(), StepError> {
        if self.fault == Fault::VerifyFails {
            return Err("injected verify failure".into());
        }
        ArchiveSealer::default().verify(sealed, code, expected)
    }
}

/// The real vault, unless the store step is told to fail.
struct Store {
    vault: Vault,
    fail: bool,
}

impl CodeStore for Store {
    fn store_code(
        &self,
        order_id: &str,
        code: &UnlockCode,
        window: Duration,
    ) -> Result<std::time::SystemTime, StepError> {
        if self.fail {
            return Err("injected store failure".into());
        }
        self.vault.store_code(order_id, code, window)
    }
}

type TestPipeline = AutoCsr<Steps, Steps, Steps, Store>;

fn pipeline(fault: Fault) -> TestPipeline {
    AutoCsr::from_parts(
        Steps { fault },
        Steps { fault },
        Steps { fault },
        Store {
            vault: Vault::in_memory(),
            fail: fault == Fault::StoreFails,
        },
    )
}

fn request(format: ArchiveFormat) -> OrderRequest {
    OrderRequest::new("example.com")
        .with_name("www.example.com")
        .with_key(KeyAlgorithm::EcdsaP256)
        .with_format(format)
}

#[test]
fn a_failure_at_any_step_stores_nothing_and_returns_no_archive() {
    let cases = [
        (Fault::PolicyRefuses, "PolicyRefused"),
        (Fault::KeygenFails, "KeyGeneration"),
        (Fault::SealFails, "Seal"),
        (Fault::SealCorrupts, "Verify"),
        (Fault::SealWrongCode, "Verify"),
        (Fault::SealDropsEntry, "Verify"),
        (Fault::VerifyFails, "Verify"),
        (Fault::StoreFails, "Store"),
    ];
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        for (fault, step) in cases {
            let pipeline = pipeline(fault);
            let order_id = format!("order-{fault:?}");
            let result = pipeline.order_with_id(&order_id, &request(format));
            let err = match result {
                Ok(order) => panic!("{fault:?} must fail, got {order:?}"),
                Err(err) => err,
            };
            let variant = match &err {
                Error::PolicyRefused { .. } => "PolicyRefused",
                Error::KeyGeneration(_) => "KeyGeneration",
                Error::Seal(_) => "Seal",
                Error::Verify(_) => "Verify",
                Error::Store(_) => "Store",
                other => panic!("{fault:?}: unexpected {other:?}"),
            };
            assert_eq!(variant, step, "{fault:?} ({format:?}): {err}");
            let vault = &pipeline.vault().vault;
            assert!(
                matches!(vault.status(&order_id), Err(credential::Error::NotFound)),
                "{fault:?}: the vault must hold nothing"
            );
            assert_eq!(vault.purge().unwrap().records_destroyed, 0);
        }
    }
}

#[test]
fn the_same_pipeline_succeeds_without_a_fault() {
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let pipeline = pipeline(Fault::None);
        let order = pipeline
            .order_with_id("order-ok", &request(format))
            .unwrap();
        let revealed = pipeline.vault().vault.reveal("order-ok").unwrap();
        assert_eq!(
            revealed.code.reveal().expose_secret(),
            order.unlock_code().reveal().expose_secret()
        );
    }
}

#[test]
fn a_taken_order_id_is_refused_and_the_first_code_survives() {
    let pipeline = autocsr::defaults::in_memory();
    let first = pipeline
        .order_with_id("order-1", &request(ArchiveFormat::Zip))
        .unwrap();
    let err = pipeline
        .order_with_id("order-1", &request(ArchiveFormat::Zip))
        .unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err:?}");
    let revealed = pipeline.vault().reveal("order-1").unwrap();
    assert_eq!(
        revealed.code.reveal().expose_secret(),
        first.unlock_code().reveal().expose_secret()
    );
}

#[test]
fn an_order_holds_key_csr_and_readme_that_belong_together() {
    let pipeline = autocsr::defaults::in_memory();
    for (key, format) in [
        (KeyAlgorithm::EcdsaP256, ArchiveFormat::Zip),
        (KeyAlgorithm::EcdsaP384, ArchiveFormat::SevenZ),
        (KeyAlgorithm::Rsa2048, ArchiveFormat::Zip),
    ] {
        let order = pipeline
            .order(
                &OrderRequest::new("example.com")
                    .with_name("www.example.com")
                    .with_name("example.com")
                    .with_key(key)
                    .with_format(format)
                    .with_organization("Example Ltd")
                    .with_locality("Berlin")
                    .with_country("DE"),
            )
            .unwrap();
        assert!(autocsr::OrderId::is_well_formed(order.order_id()));
        assert_eq!(order.key(), key);
        assert_eq!(order.format(), format);

        let opened = autocsr::archive::open(
            order.archive(),
            &order.unlock_code().reveal(),
            &Limits::default(),
        )
        .unwrap();
        let names: Vec<&str> = opened.entries().iter().map(Entry::name).collect();
        assert_eq!(names, [KEY_ENTRY, CSR_ENTRY, README_ENTRY]);
        let entry = |name: &str| {
            opened
                .entries()
                .iter()
                .find(|entry| entry.name() == name)
                .unwrap()
                .data()
                .to_vec()
        };
        assert_eq!(entry(CSR_ENTRY), order.csr_pem().as_bytes());
        let readme = String::from_utf8(entry(README_ENTRY)).unwrap();
        assert!(readme.contains(order.order_id()) && readme.contains("order page"));

        // The sealed key is the key of the CSR.
        let key_pem = String::from_utf8(entry(KEY_ENTRY)).unwrap();
        let private = autocsr::keygen::PrivateKey::from_pkcs8_pem(&key_pem).unwrap();
        assert_eq!(private.algorithm(), key);
        let report = Policy::default().check_csr(order.csr_der());
        assert!(report.accepted(), "{:?}", report.findings());
        let checked = report.csr().unwrap();
        assert_eq!(checked.public_key(), key.as_str());
        assert_eq!(
            checked.spki_der(),
            private.public_key_der().unwrap().as_slice()
        );

        // The vault has the code; the order reports the vault's expiry.
        let status = pipeline.vault().status(order.order_id()).unwrap();
        assert_eq!(status.expires_at, order.expires_at());
        assert_eq!(status.reveal_count, 0);
    }
}

#[test]
fn invalid_requests_are_refused_before_any_work() {
    let pipeline = pipeline(Fault::None);
    for (request, why) in [
        (OrderRequest::new(""), "domain"),
        (
            OrderRequest::new("example.com").with_reveal_window(Duration::ZERO),
            "window",
        ),
        (
            OrderRequest::new("example.com").with_country("Germany"),
            "country",
        ),
        (
            OrderRequest::new("example.com").with_country("de"),
            "country",
        ),
        (
            OrderRequest::new("example.com").with_reveal_window(Duration::from_nanos(1)),
            "window",
        ),
        (
            OrderRequest::new("example.com")
                .with_organization("Example Ltd")
                .with_country("DE"),
            "organization without a locality or a state",
        ),
        (
            OrderRequest::new("example.com")
                .with_organization("Example Ltd")
                .with_locality("Berlin"),
            "organization without a country",
        ),
    ] {
        let err = pipeline.order_with_id("order-x", &request).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{why}: {err:?}");
    }
    assert!(matches!(
        pipeline.vault().vault.status("order-x"),
        Err(credential::Error::NotFound)
    ));
}

#[test]
fn a_primary_name_too_long_for_the_common_name_is_ordered_without_one() {
    let pipeline = autocsr::defaults::in_memory();
    let label = "a".repeat(63);
    for (domain, expect_cn) in [
        (format!("{}.example.com", "a".repeat(52)), true),
        (format!("{}.example.com", "a".repeat(53)), false),
        (
            format!("{label}.{label}.{label}.{}.com", "b".repeat(57)),
            false,
        ),
    ] {
        let request = OrderRequest::new(domain.as_str())
            .with_name("www.example.com")
            .with_key(KeyAlgorithm::EcdsaP256)
            .with_organization("Example Ltd")
            .with_state_or_province("Bavaria")
            .with_country("DE");
        assert_eq!(
            request.common_name().is_some(),
            expect_cn,
            "{}",
            domain.len()
        );
        let order = pipeline
            .order(&request)
            .unwrap_or_else(|err| panic!("{} characters: {err:?}", domain.len()));
        let report = Policy::default().check_csr(order.csr_der());
        assert!(report.accepted(), "{:?}", report.findings());
        let csr = report.csr().unwrap();
        assert_eq!(csr.names(), [domain.as_str(), "www.example.com"]);
        let expected_cn = expect_cn.then_some(domain.as_str());
        assert_eq!(
            csr.common_name(),
            expected_cn,
            "{} characters",
            domain.len()
        );
    }
}

#[test]
fn refused_names_carry_every_finding() {
    let pipeline = autocsr::defaults::in_memory();
    let err = pipeline
        .order(&OrderRequest::new("localhost").with_key(KeyAlgorithm::EcdsaP256))
        .unwrap_err();
    let Error::PolicyRefused { findings } = &err else {
        panic!("{err:?}");
    };
    assert!(
        findings.iter().any(|finding| finding.id == "name.internal"),
        "{findings:?}"
    );
    assert!(err.to_string().contains("name.internal"), "{err}");
}

#[test]
fn debug_output_never_shows_the_code() {
    let pipeline = autocsr::defaults::in_memory();
    let order = pipeline
        .order(&OrderRequest::new("example.com").with_key(KeyAlgorithm::EcdsaP256))
        .unwrap();
    let code = order.unlock_code().reveal();
    let debug = format!("{order:?}");
    assert!(!debug.contains(code.expose_secret()), "{debug}");
    let compact: String = code.expose_secret().chars().filter(|c| *c != '-').collect();
    assert!(!debug.contains(&compact), "{debug}");
}

/// How often each step ran.
#[derive(Default, Debug)]
struct Calls {
    policy: std::sync::atomic::AtomicUsize,
    check_spec: std::sync::atomic::AtomicUsize,
    keygen: std::sync::atomic::AtomicUsize,
    seal: std::sync::atomic::AtomicUsize,
    verify: std::sync::atomic::AtomicUsize,
    store: std::sync::atomic::AtomicUsize,
}

impl Calls {
    fn bump(counter: &std::sync::atomic::AtomicUsize) {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn get(counter: &std::sync::atomic::AtomicUsize) -> usize {
        counter.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Calls of every step, in pipeline order.
    fn all(&self) -> [usize; 6] {
        [
            Calls::get(&self.policy),
            Calls::get(&self.check_spec),
            Calls::get(&self.keygen),
            Calls::get(&self.seal),
            Calls::get(&self.verify),
            Calls::get(&self.store),
        ]
    }
}

/// The real steps, counted.
struct Counting {
    calls: std::sync::Arc<Calls>,
    vault: Vault,
}

impl NamePolicy for Counting {
    fn check_names(&self, names: &[&str], common_name: Option<&str>) -> Vec<NameFinding> {
        Calls::bump(&self.calls.policy);
        NamePolicy::check_names(&Policy::default(), names, common_name)
    }
}

impl KeyMaker for Counting {
    fn check_spec(&self, spec: &CsrSpec<'_>) -> Result<(), StepError> {
        Calls::bump(&self.calls.check_spec);
        LocalKeygen::default().check_spec(spec)
    }

    fn make_key_and_csr(&self, spec: &CsrSpec<'_>) -> Result<KeyAndCsr, StepError> {
        Calls::bump(&self.calls.keygen);
        LocalKeygen::default().make_key_and_csr(spec)
    }
}

impl Sealer for Counting {
    fn seal(
        &self,
        format: ArchiveFormat,
        entries: &[Entry],
        code: &SecretString,
    ) -> Result<Vec<u8>, StepError> {
        Calls::bump(&self.calls.seal);
        ArchiveSealer::default().seal(format, entries, code)
    }

    fn verify(
        &self,
        sealed: &[u8],
        code: &SecretString,
        expected: &[Entry],
    ) -> Result<(), StepError> {
        Calls::bump(&self.calls.verify);
        ArchiveSealer::default().verify(sealed, code, expected)
    }
}

impl CodeStore for Counting {
    fn store_code(
        &self,
        order_id: &str,
        code: &UnlockCode,
        window: Duration,
    ) -> Result<std::time::SystemTime, StepError> {
        Calls::bump(&self.calls.store);
        self.vault.store_code(order_id, code, window)
    }
}

type CountingPipeline = AutoCsr<Counting, Counting, Counting, Counting>;

fn counting() -> (CountingPipeline, std::sync::Arc<Calls>) {
    let calls = std::sync::Arc::new(Calls::default());
    let step = || Counting {
        calls: std::sync::Arc::clone(&calls),
        vault: Vault::in_memory(),
    };
    (
        AutoCsr::from_parts(step(), step(), step(), step()),
        std::sync::Arc::clone(&calls),
    )
}

/// A host-supplied order id the vault would refuse is refused before any step runs: it
/// used to reach the store step after keygen, seal and verify, and the sealed README.
#[test]
fn a_malformed_order_id_is_refused_before_any_step() {
    let (pipeline, calls) = counting();
    let too_long = "a".repeat(129);
    for order_id in [
        "",
        "order 1",
        "../etc/passwd",
        "ord_\u{1b}[31m",
        "ord\n1",
        "ördér",
        too_long.as_str(),
    ] {
        let err = pipeline
            .order_with_id(order_id, &request(ArchiveFormat::Zip))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidRequest(reason) if reason.contains("order id")),
            "{order_id:?}: {err:?}"
        );
        let sealed = pipeline.seal_with_id(order_id, &request(ArchiveFormat::Zip));
        assert!(
            matches!(sealed, Err(Error::InvalidRequest(_))),
            "{order_id:?}"
        );
    }
    assert_eq!(calls.all(), [0; 6], "no step may run for a malformed id");
    // The same pipeline runs every step once for a good id.
    pipeline
        .order_with_id("order-1.a:b_C", &request(ArchiveFormat::Zip))
        .unwrap();
    assert_eq!(calls.all(), [1; 6]);
}

#[test]
fn reveal_windows_outside_one_second_to_366_days_are_refused_before_any_step() {
    let (pipeline, calls) = counting();
    let day = Duration::from_secs(86_400);
    for window in [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_millis(999),
        Duration::from_millis(1_500),
        autocsr::MAX_REVEAL_WINDOW + Duration::from_secs(1),
        day * 367,
        // `--reveal-window 7974y`: used to panic after the order was stored.
        Duration::from_secs(7974 * 31_557_600),
        Duration::MAX,
    ] {
        let err = pipeline
            .order_with_id(
                "order-w",
                &request(ArchiveFormat::Zip).with_reveal_window(window),
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidRequest(reason) if reason.contains("reveal window")),
            "{window:?}: {err:?}"
        );
        assert!(autocsr::check_reveal_window(window).is_err(), "{window:?}");
    }
    assert_eq!(calls.all(), [0; 6]);
    assert_eq!(autocsr::MAX_REVEAL_WINDOW, day * 366);
    for window in [autocsr::MIN_REVEAL_WINDOW, autocsr::MAX_REVEAL_WINDOW] {
        autocsr::check_reveal_window(window).unwrap();
    }
    let order = pipeline
        .order_with_id(
            "order-max",
            &request(ArchiveFormat::Zip).with_reveal_window(autocsr::MAX_REVEAL_WINDOW),
        )
        .unwrap();
    let left = order
        .expires_at()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(left > day * 365 && left <= day * 366, "{left:?}");
}

/// Requests the key maker cannot build (101 names, an organization over 64 characters)
/// are invalid input, found before any key is made, not a key generation failure.
#[test]
fn requests_the_csr_cannot_hold_are_invalid_before_any_key_is_made() {
    let (pipeline, calls) = counting();
    let mut many = OrderRequest::new("example.com").with_key(KeyAlgorithm::EcdsaP256);
    for index in 1..=100 {
        many = many.with_name(format!("host{index}.example.com"));
    }
    let long_org = OrderRequest::new("example.com")
        .with_key(KeyAlgorithm::EcdsaP256)
        .with_organization("O".repeat(65))
        .with_locality("Berlin")
        .with_country("DE");
    for (request, why) in [(many, "101 names"), (long_org, "organization")] {
        let err = pipeline.order_with_id("order-s", &request).unwrap_err();
        assert!(matches!(err, Error::InvalidCsrRequest(_)), "{why}: {err:?}");
        assert!(
            std::error::Error::source(&err).is_some(),
            "{why}: the key maker's reason is kept"
        );
    }
    let [policy, check_spec, keygen, seal, verify, store] = calls.all();
    assert_eq!((policy, check_spec), (2, 2));
    assert_eq!([keygen, seal, verify, store], [0; 4], "no key was made");
    // 100 names and a 64-character organization are fine.
    let mut hundred = OrderRequest::new("example.com").with_key(KeyAlgorithm::EcdsaP256);
    for index in 1..100 {
        hundred = hundred.with_name(format!("host{index}.example.com"));
    }
    pipeline.order_with_id("order-100", &hundred).unwrap();
    pipeline
        .order_with_id(
            "order-o64",
            &OrderRequest::new("example.com")
                .with_key(KeyAlgorithm::EcdsaP256)
                .with_organization("O".repeat(64))
                .with_locality("Berlin")
                .with_country("DE"),
        )
        .unwrap();
}

/// `seal_with_id` hands out a proven archive without the code and stores nothing; only
/// `store` stores, and only it hands out the code.
#[test]
fn sealing_stores_nothing_until_store_is_called() {
    let pipeline = autocsr::defaults::in_memory();
    let sealed = pipeline
        .seal_with_id("order-split", &request(ArchiveFormat::SevenZ))
        .unwrap();
    assert!(matches!(
        pipeline.vault().status("order-split"),
        Err(credential::Error::NotFound)
    ));
    assert!(
        sealed
            .csr_pem()
            .starts_with("-----BEGIN CERTIFICATE REQUEST-----")
    );
    let archive = sealed.archive().to_vec();
    let order = pipeline.store(sealed).unwrap();
    assert_eq!(order.archive(), archive);
    let revealed = pipeline.vault().reveal("order-split").unwrap();
    assert_eq!(
        revealed.code.reveal().expose_secret(),
        order.unlock_code().reveal().expose_secret()
    );
    autocsr::archive::open(
        order.archive(),
        &order.unlock_code().reveal(),
        &Limits::default(),
    )
    .unwrap();

    // Dropped without storing: the vault never hears of it.
    drop(
        pipeline
            .seal_with_id("order-dropped", &request(ArchiveFormat::Zip))
            .unwrap(),
    );
    assert!(matches!(
        pipeline.vault().status("order-dropped"),
        Err(credential::Error::NotFound)
    ));
}

/// The README sealed in real archives, read back out of them: one consistent code
/// recommendation (the prompt or stdin) and only programs that open the format.
#[test]
fn the_sealed_readme_recommends_the_prompt_and_working_programs() {
    let pipeline = autocsr::defaults::in_memory();
    for format in [ArchiveFormat::Zip, ArchiveFormat::SevenZ] {
        let order = pipeline.order(&request(format)).unwrap();
        let opened = autocsr::archive::open(
            order.archive(),
            &order.unlock_code().reveal(),
            &Limits::default(),
        )
        .unwrap();
        let readme = opened
            .entries()
            .iter()
            .find(|entry| entry.name() == README_ENTRY)
            .unwrap();
        let text = std::str::from_utf8(readme.data()).unwrap();
        assert!(!text.contains("--code"), "{text}");
        assert!(text.contains("autocsr open ARCHIVE "), "{text}");
        assert!(
            text.contains("do not put the code in the command"),
            "{text}"
        );
        let mac = text
            .lines()
            .find(|line| line.trim_start().starts_with("macOS:"))
            .unwrap();
        assert!(
            mac.contains("The Unarchiver")
                && mac.contains("Keka")
                && !mac.contains("Archive Utility"),
            "{format:?}: {mac}"
        );
    }
}
