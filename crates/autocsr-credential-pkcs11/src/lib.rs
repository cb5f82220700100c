//! A [`KeyWrapper`] for the AutoCSR credential vault whose wrapping keys live in an HSM,
//! reached through PKCS#11 (`cryptoki`): one non-extractable AES-256 key per period of
//! record expiry times, destroyed (`C_DestroyObject`) once its period has ended. See the
//! README for the period, the mechanism and what this does and does not promise.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use autocsr_credential::zeroize::Zeroizing;
use autocsr_credential::{Error, KeyId, KeyWrapper, period_end};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::SecretString;

/// The default wrapping-key period: one day of expiry times (see the README for why).
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// The default label prefix of wrapping keys; the label is the prefix followed by the
/// period's end in milliseconds since 1970 (decimal).
pub const DEFAULT_LABEL_PREFIX: &str = "autocsr-wrap-v1:";

/// First byte of every wrapped blob: the format (AES-256-GCM, 12-byte IV, 16-byte tag).
const BLOB_VERSION: u8 = 1;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bound into every wrap as associated data, with the key id and the record's expiry.
const AAD_CONTEXT: &[u8] = b"autocsr-credential-pkcs11 wrap v1\0";
/// Longest label accepted for a wrapping key (labels stay short and printable).
const MAX_PREFIX_LEN: usize = 64;

/// Why the PKCS#11 wrapper failed. It reaches callers boxed inside
/// [`Error::KeyWrap`] (downcast to match on it). No variant holds a PIN or key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("cannot load the PKCS#11 module {path}")]
    Module {
        /// The module path.
        path: PathBuf,
        /// The library's answer.
        #[source]
        source: CkError,
    },
    /// No slot holds an initialised token with this label.
    #[error("no PKCS#11 token is labelled {label:?}")]
    TokenNotFound {
        /// The label asked for.
        label: String,
    },
    /// The token refused the PIN (`CKR_PIN_INCORRECT`, `CKR_PIN_LOCKED`, ...).
    #[error("the PKCS#11 token {label:?} refused the PIN")]
    Login {
        /// The token's label.
        label: String,
        /// The token's answer.
        #[source]
        source: CkError,
    },
    /// The PIN file or environment variable could not be read, or is empty.
    #[error("cannot read the PIN from {from}")]
    Pin {
        /// Where it was read from (a path or a variable name, never the PIN).
        from: String,
    },
    /// The wrapping key for this period no longer exists: the period ended and a purge
    /// destroyed it (or it was never created), so the record key is gone for good.
    #[error("the wrapping key for the period ending at {period_end_ms} ms is destroyed")]
    WrappingKeyDestroyed {
        /// End of the period, in milliseconds since 1970.
        period_end_ms: u64,
    },
    /// The wrapped blob is not one this crate wrote, or it was altered, moved to another
    /// key id or expiry, or wrapped under another token.
    #[error("the wrapped key is malformed or not authentic")]
    NotAuthentic,
    /// A bad setting (zero period, overflowing expiry, unusable label prefix).
    #[error("invalid PKCS#11 wrapper setting: {what}")]
    Config {
        /// Which setting.
        what: &'static str,
    },
    /// Any other failure of the module or token (after one retry on a fresh session).
    #[error("PKCS#11 call failed")]
    Token(#[source] CkError),
}

impl From<Pkcs11Error> for Error {
    fn from(e: Pkcs11Error) -> Self {
        Self::KeyWrap(Box::new(e))
    }
}

/// The user PIN of the token, read from a file or an environment variable (never from a
/// command-line flag, which other users can read in the process list). `Debug` prints
/// no PIN; nothing in this crate logs it.
#[derive(Clone)]
pub struct Pin(SecretString);

impl Pin {
    /// Reads the PIN from `path`: the whole file, minus one trailing newline (`\n` or
    /// `\r\n`).
    ///
    /// # Errors
    /// [`Error::KeyWrap`] ([`Pkcs11Error::Pin`]) if the file cannot be read, is not UTF-8
    /// or holds an empty PIN.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let from = path.display().to_string();
        let bytes = Zeroizing::new(
            std::fs::read(path).map_err(|_| Pkcs11Error::Pin { from: from.clone() })?,
        );
        Self::from_file_contents(&bytes, &from)
    }

    /// The PIN from the bytes of a PIN file that the caller read (for a caller that checks
    /// the open file before reading it): as [`from_file`](Self::from_file) reads them.
    /// `from` names the source in the error, never the content.
    ///
    /// # Errors
    /// [`Error::KeyWrap`] ([`Pkcs11Error::Pin`]) if `contents` is not UTF-8 or holds an
    /// empty PIN.
    pub fn from_file_contents(contents: &[u8], from: &str) -> Result<Self, Error> {
        let fail = || Pkcs11Error::Pin {
            from: from.to_owned(),
        };
        let text = std::str::from_utf8(contents).map_err(|_| fail())?;
        let text = text
            .strip_suffix('\n')
            .map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
        Self::non_empty(text).ok_or_else(|| fail().into())
    }

    /// Reads the PIN from the environment variable `name`, taken exactly as set.
    ///
    /// # Errors
    /// [`Error::KeyWrap`] ([`Pkcs11Error::Pin`]) if it is unset, not UTF-8 or empty.
    pub fn from_env(name: &str) -> Result<Self, Error> {
        let fail = || Pkcs11Error::Pin {
            from: format!("the environment variable {name}"),
        };
        let value = Zeroizing::new(std::env::var(name).map_err(|_| fail())?);
        Self::non_empty(&value).ok_or_else(|| fail().into())
    }

    fn non_empty(text: &str) -> Option<Self> {
        (!text.is_empty()).then(|| Self(SecretString::from(text)))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin([REDACTED])")
    }
}

/// A loaded and initialised PKCS#11 module. Load it once per process and share it: a
/// module is initialised once per process (`C_Initialize`), and every wrapper opened from
/// it shares that state. It is never finalised (the process's exit does that).
#[derive(Clone)]
pub struct Pkcs11Module {
    ctx: Pkcs11,
}

impl fmt::Debug for Pkcs11Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pkcs11Module")
    }
}

impl Pkcs11Module {
    /// Loads the module at `path` (e.g. SoftHSM2's `libsofthsm2.so`) and initialises it
    /// with OS locking (the wrapper is used from many threads). A module that this process
    /// has already initialised is accepted.
    ///
    /// # Errors
    /// [`Error::KeyWrap`] ([`Pkcs11Error::Module`]) when the library is missing, is not a
    /// PKCS#11 module, or refuses to initialise.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let fail = |source| Pkcs11Error::Module {
            path: path.to_path_buf(),
            source,
        };
        let ctx = Pkcs11::new(path).map_err(fail)?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(fail(e).into()),
        }
        Ok(Self { ctx })
    }
}

/// Settings of a [`HsmKeyWrapper`]: [`HsmConfig::new`], then change the fields you need.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HsmConfig {
    /// The label of the token holding the wrapping keys.
    pub token_label: String,
    /// The token's user PIN.
    pub pin: Pin,
    /// Length of a wrapping-key period ([`DEFAULT_PERIOD`], one day). Every vault sharing
    /// the token must use the same period and prefix.
    pub period: Duration,
    /// Prefix of the wrapping keys' labels ([`DEFAULT_LABEL_PREFIX`]); gives each vault
    /// sharing a token its own keys. 1 to 64 printable ASCII characters, the last not a
    /// digit.
    pub label_prefix: String,
}

impl HsmConfig {
    /// Settings with the default period and label prefix.
    #[must_use]
    pub fn new(token_label: &str, pin: Pin) -> Self {
        Self {
            token_label: token_label.to_owned(),
            pin,
            period: DEFAULT_PERIOD,
            label_prefix: DEFAULT_LABEL_PREFIX.to_owned(),
        }
    }
}

/// A [`KeyWrapper`] that wraps each record key with AES-256-GCM under the HSM-held,
/// non-extractable wrapping key of the record's expiry period, and destroys each period's
/// wrapping key in [`destroy_expired`](KeyWrapper::destroy_expired) once the period has
/// ended.
///
/// All calls go through one PKCS#11 session, serialised by a mutex. A session that the
/// token lost (HSM restart, `CKR_SESSION_HANDLE_INVALID`, logged out, ...) is replaced on
/// the same call: the call is retried once on a fresh, logged-in session; if that fails
/// too, the error is returned and the next call starts afresh.
pub struct HsmKeyWrapper {
    ctx: Pkcs11,
    slot: Slot,
    token_label: String,
    pin: SecretString,
    period_ms: u64,
    label_prefix: String,
    state: Mutex<State>,
}

impl fmt::Debug for HsmKeyWrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HsmKeyWrapper")
            .field("token_label", &self.token_label)
            .field("period_ms", &self.period_ms)
            .field("label_prefix", &self.label_prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    /// Wrapping-key handles by period end; only valid for the session they were found in
    /// (cleared with it).
    keys: HashMap<u64, Vec<ObjectHandle>>,
}

impl HsmKeyWrapper {
    /// Finds the token labelled `config.token_label` and logs in with the PIN, so a wrong
    /// PIN or a missing token fails here, not on the first issue.
    ///
    /// # Errors
    /// [`Error::KeyWrap`] holding [`Pkcs11Error::TokenNotFound`], [`Pkcs11Error::Login`],
    /// [`Pkcs11Error::Config`] (zero or sub-millisecond period, bad label prefix) or
    /// [`Pkcs11Error::Token`].
    pub fn open(module: &Pkcs11Module, config: HsmConfig) -> Result<Arc<Self>, Error> {
        let period_ms = u64::try_from(config.period.as_millis())
            .ok()
            .filter(|p| *p > 0)
            .ok_or(Pkcs11Error::Config { what: "period" })?;
        let prefix_ok = !config.label_prefix.is_empty()
            && config.label_prefix.len() <= MAX_PREFIX_LEN
            && config.label_prefix.bytes().all(|b| b.is_ascii_graphic())
            // The period end follows the prefix; a final digit would make labels ambiguous.
            && !config
                .label_prefix
                .ends_with(|c: char| c.is_ascii_digit());
        if !prefix_ok {
            return Err(Pkcs11Error::Config {
                what: "label prefix (1-64 printable ASCII characters, not ending in a digit)",
            }
            .into());
        }
        let ctx = module.ctx.clone();
        let slot = find_token(&ctx, &config.token_label)?;
        let wrapper = Self {
            ctx,
            slot,
            token_label: config.token_label,
            pin: config.pin.0,
            period_ms,
            label_prefix: config.label_prefix,
            state: Mutex::new(State::default()),
        };
        {
            let mut state = wrapper.lock();
            wrapper.session(&mut state)?;
        }
        Ok(Arc::new(wrapper))
    }

    /// The label of the wrapping key for the period ending at `end_ms`.
    #[must_use]
    pub fn label_for(&self, end_ms: u64) -> String {
        format!("{}{end_ms}", self.label_prefix)
    }

    /// The period length in milliseconds.
    #[must_use]
    pub const fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// Reads back, for the wrapping key of the period ending at `end_ms`, the attributes
    /// that make it unextractable: `(sensitive, extractable, always_sensitive,
    /// never_extractable, token)` of each such key. For audits and tests.
    ///
    /// # Errors
    /// [`Error::KeyWrap`] if the token fails.
    pub fn wrapping_key_attributes(&self, end_ms: u64) -> Result<Vec<[bool; 5]>, Error> {
        self.with_session(|session, state| {
            let handles = self.find_period_keys(session, state, end_ms)?;
            let wanted = [
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Token,
            ];
            let mut out = Vec::with_capacity(handles.len());
            for handle in handles {
                let mut flags = [false; 5];
                for attr in session.get_attributes(handle, &wanted)? {
                    let (slot, value) = match attr {
                        Attribute::Sensitive(v) => (0, v),
                        Attribute::Extractable(v) => (1, v),
                        Attribute::AlwaysSensitive(v) => (2, v),
                        Attribute::NeverExtractable(v) => (3, v),
                        Attribute::Token(v) => (4, v),
                        _ => continue,
                    };
                    if let Some(f) = flags.get_mut(slot) {
                        *f = value;
                    }
                }
                out.push(flags);
            }
            Ok(out)
        })
    }

    /// The period ends of every wrapping key (of this prefix) on the token, sorted, with
    /// duplicates (two servers that created the same period's key at once) repeated.
    ///
    /// # Errors
    /// [`Error::KeyWrap`] if the token fails.
    pub fn wrapping_key_periods(&self) -> Result<Vec<u64>, Error> {
        self.with_session(|session, _| {
            let mut ends: Vec<u64> = self
                .all_wrapping_keys(session)?
                .into_iter()
                .map(|(end, _)| end)
                .collect();
            ends.sort_unstable();
            Ok(ends)
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves at worst a stale session, which the next
        // call replaces; the state is never half-updated in a way that matters.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live session, opening and logging in a fresh one if there is none.
    fn session<'s>(&self, state: &'s mut State) -> Result<&'s Session, Error> {
        if state.session.is_none() {
            // Closed by hand (`drop_session`), never on drop: a handle the token already
            // lost may since name another session of this process.
            let session = self
                .ctx
                .open_rw_session_no_drop(self.slot)
                .map_err(Pkcs11Error::Token)?;
            // Login state is per application and token: another session of this process
            // may already have logged in.
            match session.login(UserType::User, Some(&self.pin)) {
                Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(source) => {
                    let _ = session.close();
                    return Err(Pkcs11Error::Login {
                        label: self.token_label.clone(),
                        source,
                    }
                    .into());
                }
            }
            state.keys.clear();
            state.session = Some(session);
        }
        state
            .session
            .as_ref()
            .ok_or(Error::KeyWrap(Box::new(Pkcs11Error::Config {
                what: "session",
            })))
    }

    /// Runs `op` on the session; if the token reports a lost session (or any other token
    /// failure), drops the session and its cached handles and runs `op` once more on a
    /// fresh one. Errors that a fresh session cannot change are returned at once.
    fn with_session<T>(
        &self,
        op: impl Fn(&Session, &mut HashMap<u64, Vec<ObjectHandle>>) -> Result<T, OpError>,
    ) -> Result<T, Error> {
        let mut state = self.lock();
        let mut last = None;
        for _ in 0..2 {
            self.session(&mut state)?;
            let State { session, keys } = &mut *state;
            let Some(session) = session.as_ref() else {
                continue;
            };
            match op(session, keys) {
                Ok(v) => return Ok(v),
                Err(OpError::Final(e)) => return Err(e.into()),
                Err(OpError::Token(e)) => {
                    drop_session(&mut state, &e);
                    last = Some(e);
                }
            }
        }
        Err(Pkcs11Error::Token(last.unwrap_or(CkError::InvalidValue)).into())
    }

    /// Handles of this period's wrapping keys (cached per session); empty if none.
    fn find_period_keys(
        &self,
        session: &Session,
        cache: &mut HashMap<u64, Vec<ObjectHandle>>,
        end_ms: u64,
    ) -> Result<Vec<ObjectHandle>, OpError> {
        if let Some(found) = cache.get(&end_ms) {
            return Ok(found.clone());
        }
        let found = session.find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Label(self.label_for(end_ms).into_bytes()),
        ])?;
        if !found.is_empty() {
            cache.insert(end_ms, found.clone());
        }
        Ok(found)
    }

    /// Every wrapping key of this prefix on the token, with its period end.
    fn all_wrapping_keys(&self, session: &Session) -> Result<Vec<(u64, ObjectHandle)>, OpError> {
        let handles = session.find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
        ])?;
        let mut out = Vec::new();
        for handle in handles {
            for attr in session.get_attributes(handle, &[AttributeType::Label])? {
                if let Attribute::Label(label) = attr
                    && let Some(end) = self.parse_label(&label)
                {
                    out.push((end, handle));
                }
            }
        }
        Ok(out)
    }

    /// The period end in a label of this prefix, written canonically; `None` otherwise.
    fn parse_label(&self, label: &[u8]) -> Option<u64> {
        let digits = label.strip_prefix(self.label_prefix.as_bytes())?;
        let text = std::str::from_utf8(digits).ok()?;
        let end: u64 = text.parse().ok()?;
        (end.to_string() == text).then_some(end)
    }

    fn period_of(&self, expires_at_ms: u64) -> Result<u64, Pkcs11Error> {
        period_end(expires_at_ms, self.period_ms).ok_or(Pkcs11Error::Config {
            what: "expiry beyond the last period",
        })
    }
}

/// Forgets the session and its cached handles after `cause`; closes it unless the token
/// already lost it (closing a lost handle could close a newer session that reuses it).
fn drop_session(state: &mut State, cause: &CkError) {
    state.keys.clear();
    let Some(session) = state.session.take() else {
        return;
    };
    let lost = matches!(
        cause,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::CryptokiNotInitialized
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent,
            _
        )
    );
    if !lost {
        let _ = session.close();
    }
}

impl Drop for HsmKeyWrapper {
    fn drop(&mut self) {
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(session) = state.session.take() {
            let _ = session.close();
        }
    }
}

/// An operation's failure: `Token` may be a lost session (retry on a fresh one), `Final`
/// is the answer.
enum OpError {
    Token(CkError),
    Final(Pkcs11Error),
}

impl From<CkError> for OpError {
    fn from(e: CkError) -> Self {
        Self::Token(e)
    }
}

fn find_token(ctx: &Pkcs11, label: &str) -> Result<Slot, Error> {
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(Pkcs11Error::Token)?;
    for slot in slots {
        let info = ctx.get_token_info(slot).map_err(Pkcs11Error::Token)?;
        if info.label() == label {
            return Ok(slot);
        }
    }
    Err(Pkcs11Error::TokenNotFound {
        label: label.to_owned(),
    }
    .into())
}

fn aad(id: &KeyId, expires_at_ms: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_CONTEXT.len() + 16 + 8);
    aad.extend_from_slice(AAD_CONTEXT);
    aad.extend_from_slice(id.as_bytes());
    aad.extend_from_slice(&expires_at_ms.to_be_bytes());
    aad
}

impl KeyWrapper for HsmKeyWrapper {
    /// Wraps under the wrapping key of the period that ends at the first multiple of the
    /// period at or after `expires_at_ms`, creating that key in the token (AES-256,
    /// generated inside, sensitive, non-extractable, usable only to encrypt and decrypt)
    /// if it does not exist yet. The blob is `1 || IV (12) || AES-GCM(key) || tag (16)`,
    /// with the key id and expiry as associated data, the IV fresh from the OS CSPRNG.
    fn wrap(&self, id: &KeyId, expires_at_ms: u64, key: &[u8]) -> Result<Vec<u8>, Error> {
        let end = self.period_of(expires_at_ms)?;
        let aad = aad(id, expires_at_ms);
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv).map_err(|_| Error::Randomness)?;
        self.with_session(|session, cache| {
            let handle = match self.find_period_keys(session, cache, end)?.first() {
                Some(h) => *h,
                None => {
                    let h = session.generate_key(
                        &Mechanism::AesKeyGen,
                        &[
                            Attribute::Class(ObjectClass::SECRET_KEY),
                            Attribute::KeyType(KeyType::AES),
                            Attribute::ValueLen(32.into()),
                            Attribute::Token(true),
                            Attribute::Private(true),
                            Attribute::Sensitive(true),
                            Attribute::Extractable(false),
                            Attribute::Encrypt(true),
                            Attribute::Decrypt(true),
                            Attribute::Wrap(false),
                            Attribute::Unwrap(false),
                            Attribute::Sign(false),
                            Attribute::Derive(false),
                            Attribute::Modifiable(false),
                            Attribute::Label(self.label_for(end).into_bytes()),
                        ],
                    )?;
                    cache.insert(end, vec![h]);
                    h
                }
            };
            let mut iv_param = iv;
            let params = GcmParams::new(&mut iv_param, &aad, 128.into())?;
            let sealed = session.encrypt(&Mechanism::AesGcm(params), handle, key)?;
            let mut blob = Vec::with_capacity(1 + IV_LEN + sealed.len());
            blob.push(BLOB_VERSION);
            blob.extend_from_slice(&iv);
            blob.extend_from_slice(&sealed);
            Ok(blob)
        })
    }

    /// Unwraps with the wrapping key of the record's period. Never creates a key: once
    /// the period's key is destroyed this is [`Pkcs11Error::WrappingKeyDestroyed`]. A blob
    /// altered, or moved to another id or expiry, is [`Pkcs11Error::NotAuthentic`].
    fn unwrap(
        &self,
        id: &KeyId,
        expires_at_ms: u64,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let end = self.period_of(expires_at_ms)?;
        let (Some((&BLOB_VERSION, rest)), true) =
            (wrapped.split_first(), wrapped.len() > 1 + IV_LEN + TAG_LEN)
        else {
            return Err(Pkcs11Error::NotAuthentic.into());
        };
        let (iv, sealed) = rest.split_at(IV_LEN);
        let aad = aad(id, expires_at_ms);
        self.with_session(|session, cache| {
            // The cached handles first; if none of them opens the blob, the token is
            // searched again: another server may have created a second key for this
            // period after this wrapper cached its own.
            for searched_again in [false, true] {
                if searched_again {
                    cache.remove(&end);
                }
                let handles = self.find_period_keys(session, cache, end)?;
                if handles.is_empty() {
                    return Err(OpError::Final(Pkcs11Error::WrappingKeyDestroyed {
                        period_end_ms: end,
                    }));
                }
                // Two servers that created this period's key at once left two keys; the
                // tag tells which one wrapped this blob.
                for handle in handles {
                    let mut iv_param = [0u8; IV_LEN];
                    iv_param.copy_from_slice(iv);
                    let params = GcmParams::new(&mut iv_param, &aad, 128.into())?;
                    match session.decrypt(&Mechanism::AesGcm(params), handle, sealed) {
                        Ok(key) => return Ok(Zeroizing::new(key)),
                        // A failed tag check: CKR_ENCRYPTED_DATA_INVALID in the standard;
                        // SoftHSM2 answers CKR_GENERAL_ERROR.
                        Err(CkError::Pkcs11(
                            RvError::EncryptedDataInvalid
                            | RvError::GeneralError
                            | RvError::EncryptedDataLenRange
                            | RvError::FunctionFailed,
                            _,
                        )) => {}
                        Err(e) => return Err(OpError::Token(e)),
                    }
                }
            }
            Err(OpError::Final(Pkcs11Error::NotAuthentic))
        })
    }

    /// Destroys (`C_DestroyObject`) every wrapping key of this prefix whose period ended
    /// at or before `now_ms` (so every record under it has expired: a record expiring
    /// exactly at the end is expired from that instant on), returning how many.
    /// Repeating it after a failure finishes the job; a key another server destroyed
    /// first is skipped.
    fn destroy_expired(&self, now_ms: u64) -> Result<u64, Error> {
        self.with_session(|session, cache| {
            let mut destroyed = 0u64;
            for (end, handle) in self.all_wrapping_keys(session)? {
                if end > now_ms {
                    continue;
                }
                cache.remove(&end);
                match session.destroy_object(handle) {
                    Ok(()) => destroyed = destroyed.saturating_add(1),
                    // Destroyed by a concurrent purge between our search and now.
                    Err(CkError::Pkcs11(RvError::ObjectHandleInvalid, _)) => {}
                    Err(e) => return Err(OpError::Token(e)),
                }
            }
            Ok(destroyed)
        })
    }
}
