//! Stored records and their encryption: each record under its own AES-256-GCM key.
//!
//! Every record is sealed under a fresh random 256-bit key that lives in the
//! [`KeyStore`](crate::KeyStore) under a random [`KeyId`], never next to the ciphertext.
//! Destroying that one key (revoke, reveal after expiry, purge) shreds that one code in every
//! copy of the record store. The associated data binds the format version, the order id,
//! the creation and expiry times and the key id, so a record copied to another order, given
//! a later expiry or pointed at another key fails authentication ([`Error::Tampered`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::Aead;
use aes_gcm::aead::Payload;
use aes_gcm::{Aes256Gcm, KeyInit};
use zeroize::Zeroizing;

use crate::{Error, UnlockCode};

/// The record format version bound into every record's associated data. Version 1 (daily
/// epoch keys shared by many records) is refused: see the crate README.
pub const FORMAT_VERSION: u8 = 2;
/// Longest order id accepted.
pub const MAX_ORDER_ID_LEN: usize = 128;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// Record key length (AES-256).
pub const KEY_LEN: usize = 32;
/// Key id length: 128 random bits, so ids never collide and never say anything.
pub const KEY_ID_LEN: usize = 16;
/// The latest time the vault represents: 9999-12-31T23:59:59.999Z, in ms since 1970. Every
/// stored time is at most this, so every time the vault hands out can be formatted as an
/// RFC 3339 date; a clock beyond it is [`Error::InvalidTime`].
pub const MAX_TIME_MS: u64 = 253_402_300_799_999;
/// The longest reveal window, in ms: 366 days (see [`crate::MAX_WINDOW`]).
pub const MAX_WINDOW_MS: u64 = 366 * 86_400_000;
const AAD_LABEL: &[u8] = b"autocsr-credential record v2";

/// Checks an order id: 1 to 128 characters from `A-Z a-z 0-9 - _ . :`.
///
/// # Errors
/// [`Error::InvalidOrderId`] saying what is wrong.
pub fn validate_order_id(order_id: &str) -> Result<(), Error> {
    if order_id.is_empty() {
        return Err(Error::InvalidOrderId { reason: "empty" });
    }
    if order_id.len() > MAX_ORDER_ID_LEN {
        return Err(Error::InvalidOrderId {
            reason: "longer than 128 characters",
        });
    }
    if !order_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err(Error::InvalidOrderId {
            reason: "only A-Z, a-z, 0-9, '-', '_', '.' and ':' are allowed",
        });
    }
    Ok(())
}

/// Milliseconds since the Unix epoch, as stored.
///
/// # Errors
/// [`Error::InvalidTime`] before 1970 or after [`MAX_TIME_MS`].
pub(crate) fn to_millis(t: SystemTime) -> Result<u64, Error> {
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::InvalidTime)?;
    let ms = u64::try_from(d.as_millis()).map_err(|_| Error::InvalidTime)?;
    if ms > MAX_TIME_MS {
        return Err(Error::InvalidTime);
    }
    Ok(ms)
}

/// The inverse of [`to_millis`]; total: a value past what the platform's `SystemTime` holds
/// (only possible for a tampered record, which every read path refuses first) gives the
/// latest representable time instead of a panic.
pub(crate) fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .or_else(|| UNIX_EPOCH.checked_add(Duration::from_millis(MAX_TIME_MS)))
        .unwrap_or(UNIX_EPOCH)
}

/// Refuses a record whose times this version could never have written: a time after
/// [`MAX_TIME_MS`], an expiry not after creation, or a window longer than
/// [`MAX_WINDOW_MS`]. Every read path checks this before using a stored time, so no stored
/// value can make the vault (or a host formatting its times) fail later.
///
/// # Errors
/// [`Error::Tampered`].
pub fn check_times(record: &StoredRecord) -> Result<(), Error> {
    let plausible = record.created_at_ms <= MAX_TIME_MS
        && record.expires_at_ms <= MAX_TIME_MS
        && record.expires_at_ms > record.created_at_ms
        && record.expires_at_ms - record.created_at_ms <= MAX_WINDOW_MS;
    if plausible {
        Ok(())
    } else {
        Err(Error::Tampered)
    }
}

/// The id under which a record's key is kept in the [`KeyStore`](crate::KeyStore). Not
/// secret (it is stored in both stores).
///
/// The vault makes it from the issue time in milliseconds (48 bits, big-endian) and 80
/// random bits, so that new keys land at the right edge of a key store's index instead of
/// on a random page of it. With 128 random bits each batch of a bulk load dirtied pages
/// all over an index that no longer fit in the cache: loading 10^6 records into SQLite
/// wrote 5,280 bytes per record and took 2.6x as long as with these ids (578 bytes per
/// record). The time is no secret: every record and every key row stores its times in
/// the clear. Stores take any 16 bytes (ids made before were fully random).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    /// A key id from its bytes (stores reading their rows).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; KEY_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// A key id from a slice (stores reading their rows).
    ///
    /// # Errors
    /// [`Error::Malformed`] unless `bytes` is exactly [`KEY_ID_LEN`] long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| Error::Malformed { what: "key id" })
    }

    /// The id's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; KEY_ID_LEN] {
        &self.0
    }

    /// A new id: `issued_ms` (its low 48 bits, big-endian; enough until the year 10889)
    /// followed by the last 10 of the `random` bytes.
    pub(crate) fn issued_at(issued_ms: u64, random: &[u8; KEY_ID_LEN]) -> Self {
        let mut bytes = *random;
        let time = issued_ms.to_be_bytes();
        for (byte, time_byte) in bytes.iter_mut().zip(time.iter().skip(2)) {
            *byte = *time_byte;
        }
        Self(bytes)
    }
}

impl core::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KeyId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// What is left of a record: the sealed code, or a secret-free tombstone.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordBody {
    /// The code, encrypted.
    Sealed {
        /// Random per-record nonce.
        nonce: [u8; NONCE_LEN],
        /// AES-256-GCM ciphertext and tag of the code's symbols.
        ciphertext: Vec<u8>,
    },
    /// The window closed and the ciphertext was destroyed at this time (ms since 1970).
    Expired {
        /// When it was destroyed.
        destroyed_at_ms: u64,
    },
    /// The credential was revoked and the ciphertext destroyed at this time.
    Revoked {
        /// When it was revoked.
        revoked_at_ms: u64,
    },
}

impl core::fmt::Debug for RecordBody {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Sealed { .. } => f.write_str("Sealed { .. }"),
            Self::Expired { destroyed_at_ms } => {
                write!(f, "Expired {{ destroyed_at_ms: {destroyed_at_ms} }}")
            }
            Self::Revoked { revoked_at_ms } => {
                write!(f, "Revoked {{ revoked_at_ms: {revoked_at_ms} }}")
            }
        }
    }
}

/// One stored credential record, as a [`RecordStore`](crate::RecordStore) keeps it.
///
/// Times are milliseconds since the Unix epoch. `key_id` names the record's own key in the
/// [`KeyStore`](crate::KeyStore); a tombstone keeps it so a repeated revoke can finish
/// destroying the key. `reveal_count` is bookkeeping and is not authenticated.
// Every store builds and persists every field: a new one must break each store's build
// rather than be dropped silently, so this stays exhaustive. The reminder lease and mark
// are kept out on purpose: adding them would break every store and change `encode`, a
// stable format, for bookkeeping that carries no secret and is not authenticated; stores
// keep them beside the record (see `RecordStore::claim_reminders`).
#[allow(clippy::exhaustive_structs)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// Format version (bound into the associated data).
    pub format: u8,
    /// The order this credential belongs to.
    pub order_id: String,
    /// When the credential was issued.
    pub created_at_ms: u64,
    /// When the window closes.
    pub expires_at_ms: u64,
    /// The id of this record's key in the key store.
    pub key_id: KeyId,
    /// Successful reveals so far.
    pub reveal_count: u64,
    /// The sealed code or a tombstone.
    pub body: RecordBody,
}

fn associated_data(
    format: u8,
    order_id: &str,
    created: u64,
    expires: u64,
    key_id: &KeyId,
) -> Result<Vec<u8>, Error> {
    let id_len = u8::try_from(order_id.len()).map_err(|_| Error::InvalidOrderId {
        reason: "longer than 128 characters",
    })?;
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 2 + order_id.len() + 16 + KEY_ID_LEN);
    aad.extend_from_slice(AAD_LABEL);
    aad.push(format);
    // The length prefix keeps the encoding unambiguous.
    aad.push(id_len);
    aad.extend_from_slice(order_id.as_bytes());
    aad.extend_from_slice(&created.to_be_bytes());
    aad.extend_from_slice(&expires.to_be_bytes());
    aad.extend_from_slice(key_id.as_bytes());
    Ok(aad)
}

fn cipher(key: &[u8]) -> Result<Aes256Gcm, Error> {
    Aes256Gcm::new_from_slice(key).map_err(|_| Error::Malformed {
        what: "record key length",
    })
}

/// Encrypts `code` into a new sealed record under `key` (the record's own key).
pub(crate) fn seal(
    code: &UnlockCode,
    order_id: &str,
    created_at_ms: u64,
    expires_at_ms: u64,
    key_id: KeyId,
    key: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<StoredRecord, Error> {
    validate_order_id(order_id)?;
    let symbols = code.symbols();
    let mut plaintext = Zeroizing::new(Vec::with_capacity(symbols.len() + 1));
    plaintext.push(u8::try_from(symbols.len()).map_err(|_| Error::Malformed { what: "code" })?);
    plaintext.extend_from_slice(symbols);
    let aad = associated_data(
        FORMAT_VERSION,
        order_id,
        created_at_ms,
        expires_at_ms,
        &key_id,
    )?;
    let ciphertext = cipher(key)?
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::Malformed {
            what: "record too large",
        })?;
    Ok(StoredRecord {
        format: FORMAT_VERSION,
        order_id: order_id.to_owned(),
        created_at_ms,
        expires_at_ms,
        key_id,
        reveal_count: 0,
        body: RecordBody::Sealed { nonce, ciphertext },
    })
}

/// Decrypts a sealed record with its key.
///
/// # Errors
/// [`Error::Tampered`] when authentication fails or the record is inconsistent (a format
/// version other than [`FORMAT_VERSION`], times this version never writes, bad order id);
/// [`Error::Malformed`] for a key of the wrong size; [`Error::Expired`] /
/// [`Error::Revoked`] for tombstones.
pub fn open_record(record: &StoredRecord, key: &[u8]) -> Result<UnlockCode, Error> {
    if record.format != FORMAT_VERSION {
        return Err(Error::Tampered);
    }
    check_times(record)?;
    let (nonce, ciphertext) = match &record.body {
        RecordBody::Sealed { nonce, ciphertext } => (nonce, ciphertext),
        RecordBody::Expired { .. } => {
            return Err(Error::Expired {
                expired_at: from_millis(record.expires_at_ms),
            });
        }
        RecordBody::Revoked { .. } => return Err(Error::Revoked),
    };
    if validate_order_id(&record.order_id).is_err() {
        return Err(Error::Tampered);
    }
    let aad = associated_data(
        record.format,
        &record.order_id,
        record.created_at_ms,
        record.expires_at_ms,
        &record.key_id,
    )?;
    let plaintext = Zeroizing::new(
        cipher(key)?
            .decrypt(
                &(*nonce).into(),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Tampered)?,
    );
    let (len, symbols) = plaintext.split_first().ok_or(Error::Tampered)?;
    if usize::from(*len) != symbols.len() {
        return Err(Error::Tampered);
    }
    // Authenticated but not a valid code could only come from a key holder: still refuse.
    UnlockCode::from_symbols(Zeroizing::new(symbols.to_vec())).map_err(|_| Error::Tampered)
}

const BODY_SEALED: u8 = 0;
const BODY_EXPIRED: u8 = 1;
const BODY_REVOKED: u8 = 2;

impl StoredRecord {
    /// A self-contained binary encoding (the in-memory store's snapshot format, and the
    /// input of [`decode_and_open`]). Stable for a given [`FORMAT_VERSION`] (its first
    /// byte); a store may persist it.
    ///
    /// # Errors
    /// [`Error::InvalidOrderId`] for an order id over 255 bytes and [`Error::Malformed`] for
    /// a ciphertext over 65,535 bytes: their length prefixes could not hold them, so they
    /// are refused rather than written with a wrong length.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let id_len = u8::try_from(self.order_id.len()).map_err(|_| Error::InvalidOrderId {
            reason: "longer than 128 characters",
        })?;
        let mut out = Vec::with_capacity(80 + self.order_id.len());
        out.push(self.format);
        out.push(id_len);
        out.extend_from_slice(self.order_id.as_bytes());
        out.extend_from_slice(&self.created_at_ms.to_be_bytes());
        out.extend_from_slice(&self.expires_at_ms.to_be_bytes());
        out.extend_from_slice(self.key_id.as_bytes());
        out.extend_from_slice(&self.reveal_count.to_be_bytes());
        match &self.body {
            RecordBody::Sealed { nonce, ciphertext } => {
                let len = u16::try_from(ciphertext.len()).map_err(|_| Error::Malformed {
                    what: "ciphertext longer than 65535 bytes",
                })?;
                out.push(BODY_SEALED);
                out.extend_from_slice(nonce);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(ciphertext);
            }
            RecordBody::Expired { destroyed_at_ms } => {
                out.push(BODY_EXPIRED);
                out.extend_from_slice(&destroyed_at_ms.to_be_bytes());
            }
            RecordBody::Revoked { revoked_at_ms } => {
                out.push(BODY_REVOKED);
                out.extend_from_slice(&revoked_at_ms.to_be_bytes());
            }
        }
        Ok(out)
    }

    /// Decodes [`encode`](Self::encode)'s output; refuses trailing bytes.
    ///
    /// # Errors
    /// [`Error::Malformed`] for truncated, oversized or unknown input.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader(bytes);
        let format = r.u8()?;
        let id_len = usize::from(r.u8()?);
        let order_id = core::str::from_utf8(r.take(id_len)?)
            .map_err(|_| Error::Malformed { what: "order id" })?
            .to_owned();
        let created_at_ms = r.u64()?;
        let expires_at_ms = r.u64()?;
        let key_id = KeyId::from_slice(r.take(KEY_ID_LEN)?)?;
        let reveal_count = r.u64()?;
        let body = match r.u8()? {
            BODY_SEALED => {
                let nonce: [u8; NONCE_LEN] = r
                    .take(NONCE_LEN)?
                    .try_into()
                    .map_err(|_| Error::Malformed { what: "nonce" })?;
                let len_bytes: [u8; 2] = r
                    .take(2)?
                    .try_into()
                    .map_err(|_| Error::Malformed { what: "length" })?;
                let ciphertext = r.take(usize::from(u16::from_be_bytes(len_bytes)))?.to_vec();
                RecordBody::Sealed { nonce, ciphertext }
            }
            BODY_EXPIRED => RecordBody::Expired {
                destroyed_at_ms: r.u64()?,
            },
            BODY_REVOKED => RecordBody::Revoked {
                revoked_at_ms: r.u64()?,
            },
            _ => {
                return Err(Error::Malformed {
                    what: "record body kind",
                });
            }
        };
        if !r.0.is_empty() {
            return Err(Error::Malformed {
                what: "trailing bytes",
            });
        }
        Ok(Self {
            format,
            order_id,
            created_at_ms,
            expires_at_ms,
            key_id,
            reveal_count,
            body,
        })
    }
}

/// Decodes an encoded record and opens it with `key`: the fuzzing entry point for
/// untrusted stored bytes. Never panics.
///
/// # Errors
/// As [`StoredRecord::decode`] and [`open_record`].
pub fn decode_and_open(record_bytes: &[u8], key: &[u8]) -> Result<UnlockCode, Error> {
    open_record(&StoredRecord::decode(record_bytes)?, key)
}

/// The fuzzing and corpus-replay entry point: `data` is one length byte `n`, then an
/// `n`-byte key, then an encoded record (all untrusted). Never panics.
///
/// # Errors
/// [`Error::Malformed`] when `data` is shorter than its key length, then as
/// [`decode_and_open`].
#[cfg(feature = "_fuzzing")]
#[doc(hidden)]
pub fn decode_and_open_joined(data: &[u8]) -> Result<UnlockCode, Error> {
    let (&key_len, rest) = data.split_first().ok_or(Error::Malformed {
        what: "empty input",
    })?;
    if rest.len() < usize::from(key_len) {
        return Err(Error::Malformed {
            what: "truncated key",
        });
    }
    let (key, record) = rest.split_at(usize::from(key_len));
    decode_and_open(record, key)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(Error::Malformed {
                what: "truncated record",
            });
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        self.take(1)?.first().copied().ok_or(Error::Malformed {
            what: "truncated record",
        })
    }
    fn u64(&mut self) -> Result<u64, Error> {
        let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| Error::Malformed {
            what: "truncated record",
        })?;
        Ok(u64::from_be_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_ID: KeyId = KeyId::from_bytes([3; KEY_ID_LEN]);

    fn sample(key: &[u8]) -> (UnlockCode, StoredRecord) {
        let code = UnlockCode::generate().unwrap();
        let record = seal(&code, "order-1", 1_000, 5_000, KEY_ID, key, [7; 12]).unwrap();
        (code, record)
    }

    #[test]
    fn a_new_key_id_starts_with_its_issue_time_and_keeps_80_random_bits() {
        let random = [0xAB; KEY_ID_LEN];
        let id = KeyId::issued_at(0x0102_0304_0506, &random);
        assert_eq!(&id.as_bytes()[..6], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(&id.as_bytes()[6..], &[0xAB; 10]);
        // Bits above 48 are dropped, not wrapped into the random part.
        let far = KeyId::issued_at(u64::MAX, &random);
        assert_eq!(&far.as_bytes()[..6], &[0xFF; 6]);
        assert_eq!(&far.as_bytes()[6..], &[0xAB; 10]);
        // Later issue, larger id, whatever the random bits.
        assert!(
            KeyId::issued_at(1_001, &[0; KEY_ID_LEN])
                > KeyId::issued_at(1_000, &[0xFF; KEY_ID_LEN])
        );
    }

    #[test]
    fn seal_open_round_trip_and_encoding() {
        let key = [9u8; 32];
        let (code, record) = sample(&key);
        assert_eq!(open_record(&record, &key).unwrap(), code);
        let bytes = record.encode().unwrap();
        assert_eq!(bytes[0], 2, "format version first");
        assert_eq!(StoredRecord::decode(&bytes).unwrap(), record);
        assert_eq!(decode_and_open(&bytes, &key).unwrap(), code);
        assert!(StoredRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(StoredRecord::decode(&longer).is_err());
    }

    #[test]
    fn encode_refuses_what_its_length_prefixes_cannot_hold() {
        let (_, record) = sample(&[9u8; 32]);
        let mut long_id = record.clone();
        long_id.order_id = "a".repeat(256);
        assert!(matches!(
            long_id.encode(),
            Err(Error::InvalidOrderId { .. })
        ));
        // 255 bytes still fits the prefix and round-trips exactly.
        long_id.order_id = "a".repeat(255);
        let bytes = long_id.encode().unwrap();
        assert_eq!(StoredRecord::decode(&bytes).unwrap(), long_id);
        let mut long_ciphertext = record;
        long_ciphertext.body = RecordBody::Sealed {
            nonce: [0; NONCE_LEN],
            ciphertext: vec![0; 65_536],
        };
        assert!(matches!(
            long_ciphertext.encode(),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn moved_or_edited_records_are_tampered() {
        let key = [9u8; 32];
        let (_, record) = sample(&key);
        let mut moved = record.clone();
        moved.order_id = "order-2".into();
        assert!(matches!(open_record(&moved, &key), Err(Error::Tampered)));
        let mut extended = record.clone();
        extended.expires_at_ms += 86_400_000;
        assert!(matches!(open_record(&extended, &key), Err(Error::Tampered)));
        let mut backdated = record.clone();
        backdated.created_at_ms -= 1;
        assert!(matches!(
            open_record(&backdated, &key),
            Err(Error::Tampered)
        ));
        let mut other_key_id = record.clone();
        other_key_id.key_id = KeyId::from_bytes([4; KEY_ID_LEN]);
        assert!(matches!(
            open_record(&other_key_id, &key),
            Err(Error::Tampered)
        ));
        assert!(matches!(
            open_record(&record, &[8u8; 32]),
            Err(Error::Tampered)
        ));
        assert!(matches!(
            open_record(&record, &[8u8; 31]),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn impossible_times_are_tampered_and_never_panic() {
        let key = [9u8; 32];
        let (_, record) = sample(&key);
        for (created, expires) in [
            (1_000, 1_000),
            (5_000, 1_000),
            (0, MAX_WINDOW_MS + 1),
            (1_000, MAX_TIME_MS + 1),
            (1_000, 253_402_300_800_000),
            (1_000, u64::MAX),
            (u64::MAX, u64::MAX),
        ] {
            let mut r = record.clone();
            r.created_at_ms = created;
            r.expires_at_ms = expires;
            assert!(matches!(check_times(&r), Err(Error::Tampered)));
            assert!(matches!(open_record(&r, &key), Err(Error::Tampered)));
        }
        assert!(from_millis(u64::MAX) >= from_millis(MAX_TIME_MS));
    }

    #[test]
    fn order_ids_are_validated() {
        assert!(validate_order_id("ORD-2026.11:25_x").is_ok());
        assert!(matches!(
            validate_order_id(""),
            Err(Error::InvalidOrderId { .. })
        ));
        assert!(validate_order_id(&"a".repeat(128)).is_ok());
        assert!(validate_order_id(&"a".repeat(129)).is_err());
        for bad in ["a b", "a/b", "é", "a\0", "a'--"] {
            assert!(validate_order_id(bad).is_err(), "{bad}");
        }
    }
}
