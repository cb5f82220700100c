//! Stored records and their encryption (AES-256-GCM under an epoch key).
//!
//! The associated data binds the format version, the order id, the creation and expiry
//! times and the epoch key id, so a record copied to another order, or given a later
//! expiry, fails authentication ([`Error::Tampered`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::Aead;
use aes_gcm::aead::Payload;
use aes_gcm::{Aes256Gcm, KeyInit};
use zeroize::Zeroizing;

use crate::{Error, UnlockCode};

/// The record format version bound into every record's associated data.
pub const FORMAT_VERSION: u8 = 1;
/// Longest order id accepted.
pub const MAX_ORDER_ID_LEN: usize = 128;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// Epoch key length (AES-256).
pub const KEY_LEN: usize = 32;
const AAD_LABEL: &[u8] = b"autocsr-credential record";

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
pub(crate) fn to_millis(t: SystemTime) -> Result<u64, Error> {
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::InvalidTime)?;
    let ms = u64::try_from(d.as_millis()).map_err(|_| Error::InvalidTime)?;
    // Keep every stored time representable as an SQLite INTEGER (i64).
    if ms > 1 << 61 {
        return Err(Error::InvalidTime);
    }
    Ok(ms)
}

/// The inverse of [`to_millis`].
pub(crate) fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
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
/// Times are milliseconds since the Unix epoch. `key_epoch` names the epoch key (it is the
/// epoch's end time, which is never before `expires_at_ms`). `reveal_count` is bookkeeping
/// and is not authenticated.
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
    /// The epoch key id (the epoch's end, ms since 1970).
    pub key_epoch: u64,
    /// Successful reveals so far.
    pub reveal_count: u64,
    /// The sealed code or a tombstone.
    pub body: RecordBody,
}

fn associated_data(format: u8, order_id: &str, created: u64, expires: u64, epoch: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 2 + order_id.len() + 24);
    aad.extend_from_slice(AAD_LABEL);
    aad.push(format);
    // Order ids are at most 128 bytes; the length prefix keeps the encoding unambiguous.
    aad.push(u8::try_from(order_id.len()).unwrap_or(u8::MAX));
    aad.extend_from_slice(order_id.as_bytes());
    aad.extend_from_slice(&created.to_be_bytes());
    aad.extend_from_slice(&expires.to_be_bytes());
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad
}

fn cipher(key: &[u8]) -> Result<Aes256Gcm, Error> {
    Aes256Gcm::new_from_slice(key).map_err(|_| Error::Malformed {
        what: "epoch key length",
    })
}

/// Encrypts `code` into a new sealed record.
pub(crate) fn seal(
    code: &UnlockCode,
    order_id: &str,
    created_at_ms: u64,
    expires_at_ms: u64,
    key_epoch: u64,
    key: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<StoredRecord, Error> {
    let symbols = code.symbols();
    let mut plaintext = Zeroizing::new(Vec::with_capacity(symbols.len() + 1));
    plaintext.push(u8::try_from(symbols.len()).map_err(|_| Error::Malformed { what: "code" })?);
    plaintext.extend_from_slice(symbols);
    let aad = associated_data(
        FORMAT_VERSION,
        order_id,
        created_at_ms,
        expires_at_ms,
        key_epoch,
    );
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
        key_epoch,
        reveal_count: 0,
        body: RecordBody::Sealed { nonce, ciphertext },
    })
}

/// Decrypts a sealed record with its epoch key.
///
/// # Errors
/// [`Error::Tampered`] when authentication fails or the record is inconsistent (epoch
/// before expiry, bad order id); [`Error::Malformed`] for an unknown format version or a
/// key of the wrong size; [`Error::Expired`] / [`Error::Revoked`] for tombstones.
pub fn open_record(record: &StoredRecord, key: &[u8]) -> Result<UnlockCode, Error> {
    if record.format != FORMAT_VERSION {
        return Err(Error::Malformed {
            what: "record format version",
        });
    }
    let (nonce, ciphertext) = match &record.body {
        RecordBody::Sealed { nonce, ciphertext } => (nonce, ciphertext),
        RecordBody::Expired { .. } => {
            return Err(Error::Expired {
                expired_at: from_millis(record.expires_at_ms),
            });
        }
        RecordBody::Revoked { .. } => return Err(Error::Revoked),
    };
    if validate_order_id(&record.order_id).is_err() || record.key_epoch < record.expires_at_ms {
        return Err(Error::Tampered);
    }
    let aad = associated_data(
        record.format,
        &record.order_id,
        record.created_at_ms,
        record.expires_at_ms,
        record.key_epoch,
    );
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
    /// input of [`decode_and_open`]).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.order_id.len());
        out.push(self.format);
        out.push(u8::try_from(self.order_id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.order_id.as_bytes());
        for v in [
            self.created_at_ms,
            self.expires_at_ms,
            self.key_epoch,
            self.reveal_count,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        match &self.body {
            RecordBody::Sealed { nonce, ciphertext } => {
                out.push(BODY_SEALED);
                out.extend_from_slice(nonce);
                out.extend_from_slice(
                    &u16::try_from(ciphertext.len())
                        .unwrap_or(u16::MAX)
                        .to_be_bytes(),
                );
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
        out
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
        let key_epoch = r.u64()?;
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
            key_epoch,
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

    fn sample(key: &[u8]) -> (UnlockCode, StoredRecord) {
        let code = UnlockCode::generate().unwrap();
        let record = seal(&code, "order-1", 1_000, 5_000, 86_400_000, key, [7; 12]).unwrap();
        (code, record)
    }

    #[test]
    fn seal_open_round_trip_and_encoding() {
        let key = [9u8; 32];
        let (code, record) = sample(&key);
        assert_eq!(open_record(&record, &key).unwrap(), code);
        let bytes = record.encode();
        assert_eq!(StoredRecord::decode(&bytes).unwrap(), record);
        assert_eq!(decode_and_open(&bytes, &key).unwrap(), code);
        assert!(StoredRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(StoredRecord::decode(&longer).is_err());
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
        extended.key_epoch += 86_400_000;
        assert!(matches!(open_record(&extended, &key), Err(Error::Tampered)));
        let mut backdated = record.clone();
        backdated.created_at_ms -= 1;
        assert!(matches!(
            open_record(&backdated, &key),
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
